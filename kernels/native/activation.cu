// SiLU-and-mul and clamped SwiGLU between the GEMMs (docs/layouts-and-stages.md §5): gate = first N columns, up = last N, float32 math,
// one BF16 rounding at the end (as the golden files; vLLM's CUDA silu_and_mul rounds twice). The clamp of
// DeepSeek-V4 / MegaMoE comes before SiLU. The optional per-row weight is MegaMoE's router weight at the
// activation. _rn intrinsics keep the compiler from fusing steps the CPU reference rounds separately.
#include "common.cuh"
#include "ops.h"

namespace moe {
namespace {

__global__ void activationKernel(const uint16_t* __restrict__ d1, int rows, int N, Activation kind, float clampLimit,
                                 const float* __restrict__ rowWeight, uint16_t* __restrict__ out, MaskedRows valid) {
  const int vecsPerRow = N / 8;
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<long long>(rows) * vecsPerRow) return;
  const int r = static_cast<int>(i / vecsPerRow);
  if (!valid.valid(r)) return;
  const int c = static_cast<int>(i % vecsPerRow) * 8;
  const uint16_t* rowIn = d1 + static_cast<size_t>(r) * 2 * N;
  const uint4 g4 = *reinterpret_cast<const uint4*>(rowIn + c);
  const uint4 u4 = *reinterpret_cast<const uint4*>(rowIn + N + c);
  const uint32_t gw[4] = {g4.x, g4.y, g4.z, g4.w};
  const uint32_t uw[4] = {u4.x, u4.y, u4.z, u4.w};
  const float w = rowWeight ? rowWeight[r] : 1.0f;
  uint32_t ow[4];
#pragma unroll
  for (int h = 0; h < 4; h++) {
    uint32_t packed = 0;
#pragma unroll
    for (int half = 0; half < 2; half++) {
      float g = __uint_as_float(half ? (gw[h] & 0xffff0000u) : (gw[h] << 16));
      float u = __uint_as_float(half ? (uw[h] & 0xffff0000u) : (uw[h] << 16));
      if (kind == Activation::SwiGlu) {
        g = fminf(g, clampLimit);
        u = fminf(fmaxf(u, -clampLimit), clampLimit);
      }
      const float silu = __fdiv_rn(g, __fadd_rn(1.0f, expf(-g)));
      float y = __fmul_rn(silu, u);
      if (rowWeight) y = __fmul_rn(y, w);
      packed |= static_cast<uint32_t>(floatToBf16Bits(y)) << (16 * half);
    }
    ow[h] = packed;
  }
  *reinterpret_cast<uint4*>(out + static_cast<size_t>(r) * N + c) = make_uint4(ow[0], ow[1], ow[2], ow[3]);
}

void launchActivationRows(const uint16_t* d1, int rows, int N, Activation kind, float clampLimit, const float* rowWeight,
                          uint16_t* out, MaskedRows valid, cudaStream_t stream) {
  require(N > 0 && N % 8 == 0, "E_SHAPE", "activation: intermediate size N must be a positive multiple of 8, got " + std::to_string(N));
  require(kind == Activation::Silu || clampLimit > 0.f, "E_VALUE", "activation: SwiGLU clamp limit must be positive");
  const long long total = static_cast<long long>(rows) * (N / 8);
  if (total == 0) return;
  activationKernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(d1, rows, N, kind, clampLimit, rowWeight, out, valid);
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
