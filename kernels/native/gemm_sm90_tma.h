// Hopper (sm_90a) grouped FP8 GEMM in the class of DeepGEMM's sm90_fp8_gemm_1d2d kernel: TMA loads from a producer
// warp through an mbarrier pipeline, two consumer warpgroups doing wgmma m64nBNk32 on 128×BN tiles, the 1D2D
// promotion of each K-block's partial sums with the A-row and B-block scales, a persistent grid, and a TMA-store
// BF16 epilogue. Optional TMA multicast of B across a cluster of two CTAs that work on the same expert.
// Plain C++ types only (binding.cc and the benchmarks include this with the host compiler).
#pragma once
#include <cuda_runtime.h>
#include <cstdint>

namespace moe {

/** A tile configuration; `bn` 0 / `multicast` 0 mean "pick by the shape" (see pickSm90TmaConfig). */
struct Sm90TmaConfig {
  int bn = 0;         // tile width: 128 or 192 (tiles are 128 rows × bn columns)
  int multicast = 0;  // 1: every CTA loads its own B tile; 2: a cluster of two shares B over TMA multicast
};

/** The configuration the dispatcher would use for this shape on this device (after MOE_GEMM_BN / MOE_GEMM_MC). */
Sm90TmaConfig pickSm90TmaConfig(int rowsPerExpertHint, int mBlocks, int N, int K);

/** Whether this process's device can run the kernel (compute capability 9.x: H100, H200). */
bool sm90TmaAvailable();
/** Whether launchGroupedGemm should use it: sm90TmaAvailable() and MOE_GEMM unset or "tma" (MOE_GEMM=wgmma
 *  selects the previous one-warpgroup wgmma kernel, MOE_GEMM=mma the mma.sync fallback). */
bool sm90TmaEnabled();

// Contiguous layout: A (mSum, K) FP8 rows grouped by expert in 128-aligned segments, m_indices (mSum) the expert of
// each row (−1 on padding rows), A scales MN-major float32 with column stride mSum, B (E, N, K) FP8, B scales
// (E, N/128, K/128) float32, D (mSum, N) BF16. Rows of a tile whose first row is padding (or an expert ≥ E) are not
// computed; D rows of a 64-row half that is all padding come out as zeros. Returns false (and launches nothing) when
// the kernel does not cover the shape or the device is not sm_90; throws MoeNativeError on CUDA errors.
bool launchGroupedGemmSm90Tma(const uint8_t* A, const float* sfaMn, const uint8_t* B, const float* sfb, const int* mIndices,
                              uint16_t* D, int mSum, int N, int K, int E, cudaStream_t stream, Sm90TmaConfig cfg = {});

// Masked layout (DeepEP low latency): A (E, maxM, K), A scales (E, K/128, maxM) float32 (MN-major per expert,
// strides (maxM·K/128, 1, maxM) in (e, row, k-block) order), masked_m (E) valid rows per expert on the device,
// D (E, maxM, N). Rows ≥ masked_m[e] of D are either untouched or written with values of no meaning; writes never
// cross into the next expert (TMA clips at maxM). maxM must be a multiple of 4 (16-byte TMA strides).
bool launchMaskedGroupedGemmSm90Tma(const uint8_t* A, const float* sfa, const uint8_t* B, const float* sfb, const int* maskedM,
                                    uint16_t* D, int E, int maxM, int N, int K, cudaStream_t stream, Sm90TmaConfig cfg = {});

}  // namespace moe
