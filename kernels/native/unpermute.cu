// Unpermute and weighted reduce (docs/layouts-and-stages.md §5): y[t] = Σ over local slots of w[t, slot] · d2[inv_perm[t·k + slot]],
// accumulated in float32 in slot order and stored BF16 once. Each thread owns 8 consecutive columns (16-byte
// loads); _rn intrinsics keep the multiply and the add separately rounded, as the CPU reference does.
#include "common.cuh"
#include "ops.h"

namespace moe {
namespace {

// Token and column from a FastDiv of the flat index (a 64-bit division here cost ~70 instructions per thread).
__global__ void unpermuteKernel(const uint16_t* __restrict__ d2, int K, FastDiv byVecs, const int* __restrict__ invPerm,
                                const float* __restrict__ topkWeights, int total, int k, uint16_t* __restrict__ y) {
  const int vecsPerRow = K / 8;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const int t = byVecs.div(i);
  const int c = (i - t * vecsPerRow) * 8;
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int s = 0; s < k; s++) {
    const int row = invPerm[t * k + s];
    if (row < 0) continue;
    const float w = topkWeights ? topkWeights[t * k + s] : 1.0f;
    const uint4 v = *reinterpret_cast<const uint4*>(d2 + static_cast<size_t>(row) * K + c);
    const uint32_t vw[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int h = 0; h < 4; h++) {
      acc[2 * h] = __fadd_rn(acc[2 * h], __fmul_rn(w, __uint_as_float(vw[h] << 16)));
      acc[2 * h + 1] = __fadd_rn(acc[2 * h + 1], __fmul_rn(w, __uint_as_float(vw[h] & 0xffff0000u)));
    }
  }
  uint32_t ow[4];
#pragma unroll
  for (int h = 0; h < 4; h++)
    ow[h] = static_cast<uint32_t>(floatToBf16Bits(acc[2 * h])) | (static_cast<uint32_t>(floatToBf16Bits(acc[2 * h + 1])) << 16);
  *reinterpret_cast<uint4*>(y + static_cast<size_t>(t) * K + c) = make_uint4(ow[0], ow[1], ow[2], ow[3]);
}

}  // namespace

void launchUnpermute(const uint16_t* d2, int K, const int* invPerm, const float* topkWeights, int M, int k, uint16_t* y,
                     cudaStream_t stream) {
  require(K > 0 && K % 8 == 0, "E_SHAPE", "unpermute: hidden size K must be a positive multiple of 8, got " + std::to_string(K));
  require(k > 0, "E_SHAPE", "unpermute: top-k must be positive");
  const long long total = static_cast<long long>(M) * (K / 8);
  if (total == 0) return;
  require(total < (1ll << 31) - 256, "E_SHAPE", "unpermute: " + std::to_string(M) + " tokens × " + std::to_string(K) + " are too many for one launch");
  unpermuteKernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(d2, K, FastDiv(K / 8), invPerm, topkWeights,
                                                                                   static_cast<int>(total), k, y);
  MOE_LAUNCH_CHECK("unpermuteKernel");
}

}  // namespace moe
