// torchao's FP8 blockwise MoE training op with the DeepGEMM backend on the device (docs/layouts-and-stages.md §8;
// the numerics of kernels/recipes/torchao-fp8-training/quantize.ts and kGroupedGemm.ts): the launchers of
// quant_torchao.cu and gemm_kgrouped.cu and the recipe run of layer_torchao.cu. Plain C++ types only.
#pragma once
#include <cuda_runtime.h>
#include <cstdint>
#include <vector>
#include "layer.h"

namespace moe {

// out (rows, C) = rowSource[r] ≥ 0 ? x[rowSource[r]] : 0, elements of `elemBytes` (2: BF16, 4: float32) bytes
void launchGatherRows(const void* x, int elemBytes, int rows, int C, const int* rowSource, void* out, cudaStream_t stream);

// torchao's quantizer (amax clamped below by fl32(1e−12); quant = fl32(448 / amax); q = fp8(clamp(fl32(x·quant)));
// scale = fl32(1 / quant)) over 1×128 groups along C: q (R, C), scales (R, C/128) column-major (strides (1, R)).
void launchTorchaoRows1x128(const void* x, bool bf16, int R, int C, uint8_t* q, float* scale, cudaStream_t stream);
// ... over 128×128 blocks of w (E, N, K): forward q (E, N, K) + scales (E, N/128, K/128); transposed (dgrad)
// q (E, K, N) + scales (E, K/128, N/128)
void launchTorchaoWeight128(const void* w, bool bf16, int E, int N, int K, bool transposed, uint8_t* q, float* scale, cudaStream_t stream);
// ... over (128 tokens × 1 feature) of the first S rows of x (rows, D), groups of padded sizes `padded` starting at
// `starts` (device, E each): the flat K-grouped buffer (expert e's block the row-major (D, P_e) transpose at
// starts[e]·D) and scales (D, S/128) row-major
void launchTorchaoKGrouped(const void* x, bool bf16, int D, int S, int E, const int* padded, const int* starts, uint8_t* q,
                           float* scale, cudaStream_t stream);

// DeepGEMM's k_grouped_fp8_gemm_nt_contiguous as torchao calls it for wgrad (recipe (1, 1, 128), C = zeros), cast
// to BF16: out[e][n, k] = bf16(Σ_J fl(fl(fl(sa[n, J]·sb[k, J]) · Σ_{m ∈ J} a[n, m]·b[k, m]) + acc)), token blocks J of
// expert e in order. a, b the flat K-grouped buffers; sa (N, S/128), sb (K, S/128). wgmma (sm_90a) only.
void launchKGroupedGemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const int* padded,
                        const int* starts, int E, int N, int K, int S, uint16_t* out, cudaStream_t stream);
bool kGroupedGemmAvailable();

struct TorchaoHostInputs {
  const void* input = nullptr;       // (M, K)
  const void* gradOutput = nullptr;  // (M, N)
  const void* weight = nullptr;      // (E, N, K)
  bool inputBf16 = true, gradBf16 = true, weightBf16 = true;  // BF16 bits, else float32
  // index maps from group_sizes (kernels/recipes/torchao-fp8-training/groups.ts), computed on the host
  std::vector<int32_t> groupedLayout;  // (M_buf)
  std::vector<int32_t> rowSource;      // (M_buf): token of a padded row, −1 on padding
  std::vector<int32_t> tokenRow;       // (M): padded row of a token
  std::vector<int32_t> padded, starts; // (E)
};

// LayerConfig fields used: recipe, stages, M, K, N, E, maxM = M_buf (padded buffer rows), topk = S (rows of the
// groups), repeats.
void runTorchaoFromHost(const LayerConfig& c, const TorchaoHostInputs& in, LayerOutputs& out);

}  // namespace moe
