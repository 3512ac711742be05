// Host-side launchers of the stage kernels (one .cu per family). Plain C++ types only, so the bindings
// (binding/*.cc) compile with the host compiler. Pointers are device pointers; every launcher validates its sizes before launching and
// checks the launch (MOE_LAUNCH_CHECK).
#pragma once
#include <cuda_runtime.h>
#include <cstdint>

namespace moe {

enum class Convention : int { Vllm = 0, DeepGemm = 1 };
enum class ScaleOut : int { RowMajor = 0, MnMajor = 1 };
enum class Activation : int { Silu = 0, SwiGlu = 1 };
// Which grouped-GEMM kernel runs: Auto = wgmma on an sm_90 device (unless MOE_GEMM=mma), mma.sync elsewhere.
// Sm90Tma: the TMA + warp-specialised kernel of gemm_sm90_tma.cu (float32 scales; contiguous and masked layouts —
// after a masked launch, rows past masked_m are zeroed, as the one-warpgroup kernels leave them)
enum class GemmKernel : int { Auto = 0, Wgmma = 1, MmaSync = 2, Sm90Tma = 3 };

// quantize.cu — per-token-group (1×128) activation quantization. x is (M, K) bf16 (raw bits) or f32.
// Scales go row-major (M, K/128) or MN-major with column stride `mnStride` (≥ M; align(M, 4) for TMA).
// rowWeight (nullable, (M,)) multiplies x before quantization (router weight applied on the input).
void launchQuantizeActivations(const void* x, bool xIsBf16, int M, int K, Convention conv, bool ue8m0,
                               const float* rowWeight, uint8_t* q, float* scales, ScaleOut layout, int mnStride,
                               cudaStream_t stream);

// quantize.cu — the same per-token-group quantization over DeepEP's masked buffers: x (E, maxM, K), only the first
// maskedM[e] rows of expert e (device array) are read and written; q (E·maxM, K), scales row-major (E·maxM, K/128).
// The other rows are left as they are: the caller zeroes q and scales once.
void launchQuantizeMaskedRows(const void* x, bool xIsBf16, int E, int maxM, int K, const int* maskedM, Convention conv,
                              bool ue8m0, uint8_t* q, float* scalesRowMajor, cudaStream_t stream);

// quantize.cu — 128×128 block quantization of weights (E, R, C) → q (E, R, C), scales (E, ⌈R/128⌉, ⌈C/128⌉).
void launchQuantizeWeightBlocks(const void* w, bool isBf16, int E, int R, int C, Convention conv, bool ue8m0,
                                uint8_t* q, float* scales, cudaStream_t stream);

// layout.cu — (B, M, G) row-major f32 → MN-major TMA-aligned f32, strides (Ma·G, 1, Ma), Ma = align(M, 4);
// only the strided extent is written (pads between columns untouched, like DeepGEMM).
void launchScalesToMnMajor(const float* in, int B, int M, int G, float* out, cudaStream_t stream);
// layout.cu — (B, M, G) f32 powers of two (row-major, or MN-major when inMnStride > 0) → packed UE8M0 int32
// (B, Ma, ⌈G/4⌉) MN-major, full buffer, pads zero.
void launchPackUe8m0(const float* in, int B, int M, int G, int inMnStride, int32_t* out, cudaStream_t stream);

// permute.cu — routing → expert-major rows with 128-aligned segments (docs/layouts-and-stages.md §5).
struct PermuteScratch {
  int* localExpert;  // (M·k)
  int* chunkHist;    // (chunks·E)
  int* counts;       // (E)
  int* segOffset;    // (E + 1); segOffset[E] = M_sum
};
int permuteChunks(int pairs);
// Counts per local expert and aligned offsets; topk ids may be int32 or int64. expertMap nullable.
void launchPermuteIndices(const void* topkIds, bool ids64, int M, int k, const int* expertMap, int eGlobal,
                          int eLocal, int blockM, const PermuteScratch& s, cudaStream_t stream);
// m_indices (M_sum), inv_perm (M·k, −1 when not local), rowPair (M_sum, −1 on padding).
void launchPermuteRows(int M, int k, int eLocal, int mSum, const PermuteScratch& s, int* mIndices, int* invPerm,
                       int* rowPair, cudaStream_t stream);
// Gathers FP8 rows and their row-major scales into the permuted A (zero rows, scale 1 on padding) with
// MN-major scales (column stride mSum), and the per-row router weight (1 on padding). Token-major: each of the M
// tokens is read once and written to its rows invPerm[t·topk + slot] (topk ≤ 32).
void launchPermuteGather(const uint8_t* q, const float* scalesRowMajor, const float* topkWeights, int K, int G,
                         int topk, int M, const int* invPerm, int mSum, const int* rowPair, uint8_t* aPerm, float* sfaMn,
                         float* rowWeight, cudaStream_t stream);

// Masked layout (DeepEP low-latency): after launchPermuteIndices/Rows with blockM = 1 (rows = M_sum = routed pairs),
// scatters each row to (e, i) of aMasked (E, maxM, K) and its scales to sMasked (E, maxM, G) MN-major per expert
// (strides (maxM·G, 1, maxM)); invMasked[pair] = e·maxM + i. Outputs must be zeroed first (and inv set to −1).
void launchMaskedGather(const uint8_t* q, const float* scales, int K, int G, int topk, int rows, int maxM, const int* mIndices,
                        const int* segOffset, const int* rowPair, uint8_t* aMasked, float* sMasked, int* invMasked,
                        cudaStream_t stream);

// gemm.cu — M-grouped contiguous FP8 GEMM (NT): D (mSum, N) bf16 = A (mSum, K) · B[e] (N, K)ᵀ with 1×128 A
// scales (MN-major f32 with column stride mSum, or packed UE8M0 int32) and 128×128 B scales (E, N/128, K/128).
// Tiles whose first row has m_indices −1 are skipped. mSum, N, K multiples of 128.
void launchGroupedGemm(const uint8_t* A, const float* sfaMn, const int32_t* sfaPacked, const uint8_t* B,
                       const float* sfb, const int* mIndices, uint16_t* D, int mSum, int N, int K, int E,
                       cudaStream_t stream, GemmKernel kernel = GemmKernel::Auto);
// gemm.cu — the masked variant (DeepGEMM m_grouped_fp8_gemm_nt_masked): A (E, maxM, K), D (E, maxM, N); expert e's
// A scales are its own MN-major block: f32 (E, maxM, K/128) strides (Ma·G, 1, Ma) or packed UE8M0 int32
// (E, Ma, ⌈G/4⌉), Ma = align(maxM, 4). Only row tiles starting below maskedM[e] (device array) run; rows of those
// tiles past maskedM[e] are computed from whatever A holds there (zero after launchQuantizeMaskedRows); D's other
// rows are not written. maxM must be a multiple of the kernel's row tile (gemmRowTile).
void launchGroupedGemmMasked(const uint8_t* A, const float* sfaMn, const int32_t* sfaPacked, const uint8_t* B,
                             const float* sfb, const int* maskedM, uint16_t* D, int E, int maxM, int N, int K,
                             GemmKernel kernel, cudaStream_t stream);
// The kernel that runs for a spec of this architecture (compute capability × 10) on this device: wgmma only for an
// SM90 spec on an sm_90 device (and not MOE_GEMM=mma); otherwise mma.sync (the addon has no tcgen05 kernel).
GemmKernel gemmKernelFor(int specArch);
// Rows per tile of a kernel (wgmma 64, mma.sync 128).
int gemmRowTile(GemmKernel kernel);

// activation.cu — d1 (rows, 2N) bf16 → (rows, N) bf16: silu(gate)·up (optionally clamped SwiGLU and a per-row
// weight), f32 math, one BF16 rounding.
void launchActivation(const uint16_t* d1, int rows, int N, Activation kind, float clampLimit, const float* rowWeight,
                      uint16_t* out, cudaStream_t stream);
// activation.cu — over masked buffers d1 (E, maxM, 2N) → out (E, maxM, N): rows past maskedM[e] are not written.
void launchActivationMasked(const uint16_t* d1, int E, int maxM, int N, const int* maskedM, Activation kind,
                            float clampLimit, uint16_t* out, cudaStream_t stream);

// unpermute.cu — y[t] = Σ_slot w · d2[inv_perm[t,slot]] (f32 in slot order, BF16 out); weights nullable (= 1).
void launchUnpermute(const uint16_t* d2, int K, const int* invPerm, const float* topkWeights, int M, int k,
                     uint16_t* y, cudaStream_t stream);

}  // namespace moe
