// SiLU-and-mul and clamped SwiGLU between the GEMMs (docs/layouts-and-stages.md §5): gate = first N columns, up = last N, float32 math,
// one BF16 rounding at the end (as the golden files; vLLM's CUDA silu_and_mul rounds twice). The clamp of
// DeepSeek-V4 / MegaMoE comes before SiLU. The optional per-row weight is MegaMoE's router weight at the
// activation. _rn intrinsics keep the compiler from fusing steps the CPU reference rounds separately.
#include "common.cuh"
#include "ops.h"

namespace moe {
namespace {

#ifndef MOE_ACT_VECS_PER_THREAD
#define MOE_ACT_VECS_PER_THREAD 2
#endif
constexpr int kActVecs = MOE_ACT_VECS_PER_THREAD;  // 8-column vectors per thread, all loaded before the math
constexpr int kActBlock = 256;

// One BF16 pair of gate and up → the activation of both, as one 32-bit word (low half first).
__device__ inline uint32_t activatePair(uint32_t gw, uint32_t uw, Activation kind, float clampLimit, bool weighted, float w) {
  uint32_t packed = 0;
#pragma unroll
  for (int half = 0; half < 2; half++) {
    float g = __uint_as_float(half ? (gw & 0xffff0000u) : (gw << 16));
    float u = __uint_as_float(half ? (uw & 0xffff0000u) : (uw << 16));
    if (kind == Activation::SwiGlu) {
      g = fminf(g, clampLimit);
      u = fminf(fmaxf(u, -clampLimit), clampLimit);
    }
    const float silu = __fdiv_rn(g, __fadd_rn(1.0f, expf(-g)));
    float y = __fmul_rn(silu, u);
    if (weighted) y = __fmul_rn(y, w);
    packed |= static_cast<uint32_t>(floatToBf16Bits(y)) << (16 * half);
  }
  return packed;
}

// A block owns kActVecs·256 consecutive 8-column vectors of the (rows, N) output; thread t takes vectors
// t, t + 256, … of them (each step coalesced), loads the gate and up halves of all of them (16 bytes each), then
// computes and stores. Row and column come from a FastDiv of the flat index: the 64-bit division it replaces cost
// more instructions per element than the activation itself.
template <bool kMasked>
__global__ void __launch_bounds__(kActBlock) activationKernel(const uint16_t* __restrict__ d1, int total, int vecsPerRow,
                                                               FastDiv byVecs, int N, Activation kind, float clampLimit,
                                                               const float* __restrict__ rowWeight, uint16_t* __restrict__ out,
                                                               MaskedRows valid) {
  const int base = blockIdx.x * (kActBlock * kActVecs) + threadIdx.x;
  uint4 g4[kActVecs], u4[kActVecs];
  int rowOf[kActVecs], colOf[kActVecs];
  bool live[kActVecs];
#pragma unroll
  for (int v = 0; v < kActVecs; v++) {
    const int i = base + v * kActBlock;
    live[v] = i < total;
    const int r = byVecs.div(i);
    rowOf[v] = r;
    colOf[v] = (i - r * vecsPerRow) * 8;
    if constexpr (kMasked) live[v] = live[v] && valid.valid(r);
    if (live[v]) {
      const uint16_t* rowIn = d1 + static_cast<size_t>(r) * 2 * N;
      g4[v] = __ldcs(reinterpret_cast<const uint4*>(rowIn + colOf[v]));
      u4[v] = __ldcs(reinterpret_cast<const uint4*>(rowIn + N + colOf[v]));
    }
  }
#pragma unroll
  for (int v = 0; v < kActVecs; v++) {
    if (!live[v]) continue;
    const int r = rowOf[v];
    const float w = rowWeight ? rowWeight[r] : 1.0f;
    const bool weighted = rowWeight != nullptr;
    const uint4 o = make_uint4(activatePair(g4[v].x, u4[v].x, kind, clampLimit, weighted, w),
                               activatePair(g4[v].y, u4[v].y, kind, clampLimit, weighted, w),
                               activatePair(g4[v].z, u4[v].z, kind, clampLimit, weighted, w),
                               activatePair(g4[v].w, u4[v].w, kind, clampLimit, weighted, w));
    *reinterpret_cast<uint4*>(out + static_cast<size_t>(r) * N + colOf[v]) = o;
  }
}

void launchActivationRows(const uint16_t* d1, int rows, int N, Activation kind, float clampLimit, const float* rowWeight,
                          uint16_t* out, MaskedRows valid, cudaStream_t stream) {
  require(N > 0 && N % 8 == 0, "E_SHAPE", "activation: intermediate size N must be a positive multiple of 8, got " + std::to_string(N));
  require(kind == Activation::Silu || clampLimit > 0.f, "E_VALUE", "activation: SwiGLU clamp limit must be positive");
  const long long total = static_cast<long long>(rows) * (N / 8);
  if (total == 0) return;
  require(total < (1ll << 31) - kActBlock * kActVecs, "E_SHAPE",
          "activation: " + std::to_string(rows) + " rows × " + std::to_string(N) + " columns are too many for one launch");
  const unsigned grid = static_cast<unsigned>((total + kActBlock * kActVecs - 1) / (kActBlock * kActVecs));
  const FastDiv byVecs(N / 8);
  if (valid.maskedM)
    activationKernel<true><<<grid, kActBlock, 0, stream>>>(d1, static_cast<int>(total), N / 8, byVecs, N, kind, clampLimit, rowWeight, out, valid);
  else
    activationKernel<false><<<grid, kActBlock, 0, stream>>>(d1, static_cast<int>(total), N / 8, byVecs, N, kind, clampLimit, rowWeight, out, valid);
  MOE_LAUNCH_CHECK("activationKernel");
}

}  // namespace

void launchActivation(const uint16_t* d1, int rows, int N, Activation kind, float clampLimit, const float* rowWeight,
                      uint16_t* out, cudaStream_t stream) {
  launchActivationRows(d1, rows, N, kind, clampLimit, rowWeight, out, MaskedRows{}, stream);
}

void launchActivationMasked(const uint16_t* d1, int E, int maxM, int N, const int* maskedM, Activation kind,
                            float clampLimit, uint16_t* out, cudaStream_t stream) {
  require(E > 0 && maxM > 0 && maskedM != nullptr, "E_SHAPE", "masked activation: expected E, max_m > 0 and masked_m");
  launchActivationRows(d1, E * maxM, N, kind, clampLimit, nullptr, out, MaskedRows{maskedM, maxM}, stream);
}

}  // namespace moe
