// FP8 quantization: per-token groups of 128 (activations) and 128×128 blocks (weights), with both scale
// conventions of spec §2 (vllm: s = max(amax,1e-10)/448, q = fp8(clamp(x/s)); deepgemm: s = max(amax,1e-4)/448,
// q = fp8(x·(1/s))) and the optional exact UE8M0 round-up. Every arithmetic step uses the _rn intrinsics so the
// compiler cannot contract it into an FMA: the results must match the CPU reference bit for bit.
#include "common.cuh"
#include "ops.h"

namespace moe {
namespace {

__device__ inline float groupScale(float amax, Convention conv, bool ue8m0) {
  const float floor = conv == Convention::Vllm ? 1e-10f : 1e-4f;
  float s = __fdiv_rn(fmaxf(amax, floor), kFp8Max);
  if (ue8m0) s = ue8m0ToFloat(ue8m0ExponentCeil(s));
  return s;
}

__device__ inline uint8_t quantizeValue(float v, float s, float inv, Convention conv) {
  if (conv == Convention::Vllm) return toE4M3(fminf(fmaxf(__fdiv_rn(v, s), -kFp8Max), kFp8Max));
  return toE4M3(__fmul_rn(v, inv));
}

// A half-warp (16 lanes × 8 values) owns one group of 128, so loads are 16 bytes per lane and the amax reduction
// needs only four shuffles. (Measured: handing each half-warp four groups with all loads first was slower on the
// H100 — 0.51 ms instead of 0.30–0.37 ms at 32768 × 7168 — so one group each it is.)
template <bool kBf16>
__global__ void quantizeActivationsKernel(const void* __restrict__ x, int M, int K, Convention conv, bool ue8m0,
                                          const float* __restrict__ rowWeight, uint8_t* __restrict__ q,
                                          float* __restrict__ scales, ScaleOut layout, int mnStride) {
  const int G = K / 128;
  const long long group = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) >> 4;
  if (group >= static_cast<long long>(M) * G) return;  // whole half-warps leave together
  const unsigned mask = 0xffffu << (threadIdx.x & 16);
  const int lane = threadIdx.x & 15;
  const int row = static_cast<int>(group / G);
  const int j = static_cast<int>(group % G);
  const size_t base = static_cast<size_t>(row) * K + static_cast<size_t>(j) * 128 + lane * 8;

  float v[8];
  if constexpr (kBf16) {
    const uint4 raw = *reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(x) + base);
    const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
      v[2 * i] = __uint_as_float(w[i] << 16);
      v[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
  } else {
    const float4 a = *reinterpret_cast<const float4*>(static_cast<const float*>(x) + base);
    const float4 b = *reinterpret_cast<const float4*>(static_cast<const float*>(x) + base + 4);
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
  }
  if (rowWeight) {
    const float w = rowWeight[row];
#pragma unroll
    for (int i = 0; i < 8; i++) v[i] = __fmul_rn(v[i], w);
  }
  float amax = 0.f;
#pragma unroll
  for (int i = 0; i < 8; i++) amax = fmaxf(amax, fabsf(v[i]));
#pragma unroll
  for (int off = 8; off > 0; off >>= 1) amax = fmaxf(amax, __shfl_xor_sync(mask, amax, off));

  const float s = groupScale(amax, conv, ue8m0);
  const float inv = __fdiv_rn(1.0f, s);
  uint32_t lo = 0, hi = 0;
#pragma unroll
  for (int i = 0; i < 4; i++) lo |= static_cast<uint32_t>(quantizeValue(v[i], s, inv, conv)) << (8 * i);
#pragma unroll
  for (int i = 0; i < 4; i++) hi |= static_cast<uint32_t>(quantizeValue(v[4 + i], s, inv, conv)) << (8 * i);
  *reinterpret_cast<uint2*>(q + base) = make_uint2(lo, hi);
  if (lane == 0) {
    if (layout == ScaleOut::RowMajor) scales[static_cast<size_t>(row) * G + j] = s;
    else scales[static_cast<size_t>(j) * mnStride + row] = s;
  }
}

template <bool kBf16>
__device__ inline float loadAny(const void* p, size_t i) {
  if constexpr (kBf16) return bf16BitsToFloat(static_cast<const uint16_t*>(p)[i]);
  else return static_cast<const float*>(p)[i];
}

// One block per 128×128 weight block: amax over the block, then the same formulas as the activations.
template <bool kBf16>
__global__ void quantizeWeightBlocksKernel(const void* __restrict__ w, int R, int C, Convention conv, bool ue8m0,
                                           uint8_t* __restrict__ q, float* __restrict__ scales) {
  const int RB = ceilDiv(R, 128), CB = ceilDiv(C, 128);
  const int cb = blockIdx.x, rb = blockIdx.y, e = blockIdx.z;
  const size_t matBase = static_cast<size_t>(e) * R * C;
  const int r0 = rb * 128, c0 = cb * 128;
  const int rows = min(128, R - r0), cols = min(128, C - c0);
  __shared__ float warpMax[32];
  float amax = 0.f;
  for (int i = threadIdx.x; i < 128 * 128; i += blockDim.x) {
    const int r = i / 128, c = i % 128;
    if (r < rows && c < cols) amax = fmaxf(amax, fabsf(loadAny<kBf16>(w, matBase + static_cast<size_t>(r0 + r) * C + c0 + c)));
  }
  for (int off = 16; off > 0; off >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
  if ((threadIdx.x & 31) == 0) warpMax[threadIdx.x >> 5] = amax;
  __syncthreads();
  if (threadIdx.x < 32) {
    amax = threadIdx.x < (blockDim.x >> 5) ? warpMax[threadIdx.x] : 0.f;
    for (int off = 16; off > 0; off >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
    if (threadIdx.x == 0) warpMax[0] = amax;
  }
  __syncthreads();
  const float s = groupScale(warpMax[0], conv, ue8m0);
  const float inv = __fdiv_rn(1.0f, s);
  for (int i = threadIdx.x; i < 128 * 128; i += blockDim.x) {
    const int r = i / 128, c = i % 128;
    if (r < rows && c < cols) {
      const size_t idx = matBase + static_cast<size_t>(r0 + r) * C + c0 + c;
      q[idx] = quantizeValue(loadAny<kBf16>(w, idx), s, inv, conv);
    }
  }
  if (threadIdx.x == 0) scales[(static_cast<size_t>(e) * RB + rb) * CB + cb] = s;
}

}  // namespace

void launchQuantizeActivations(const void* x, bool xIsBf16, int M, int K, Convention conv, bool ue8m0,
                               const float* rowWeight, uint8_t* q, float* scales, ScaleOut layout, int mnStride,
                               cudaStream_t stream) {
  require(M >= 0 && K > 0 && K % 128 == 0, "E_SHAPE",
          "quantize: hidden size K must be a positive multiple of 128, got " + std::to_string(K));
  require(layout == ScaleOut::RowMajor || mnStride >= M, "E_LAYOUT",
          "quantize: MN-major scale stride " + std::to_string(mnStride) + " is smaller than M = " + std::to_string(M));
  if (M == 0) return;
  const long long threads = static_cast<long long>(M) * (K / 128) * 16;
  const int block = 256;
  const long long grid = (threads + block - 1) / block;
  require(grid < (1ll << 31), "E_SHAPE", "quantize: tensor too large for one launch");
  if (xIsBf16)
    quantizeActivationsKernel<true><<<static_cast<unsigned>(grid), block, 0, stream>>>(x, M, K, conv, ue8m0, rowWeight, q, scales, layout, mnStride);
  else
    quantizeActivationsKernel<false><<<static_cast<unsigned>(grid), block, 0, stream>>>(x, M, K, conv, ue8m0, rowWeight, q, scales, layout, mnStride);
  MOE_LAUNCH_CHECK("quantizeActivationsKernel");
}

void launchQuantizeWeightBlocks(const void* w, bool isBf16, int E, int R, int C, Convention conv, bool ue8m0,
                                uint8_t* q, float* scales, cudaStream_t stream) {
  require(E > 0 && R > 0 && C > 0, "E_SHAPE",
          "quantize weights: expected a non-empty (E, R, C) tensor, got (" + std::to_string(E) + ", " +
              std::to_string(R) + ", " + std::to_string(C) + ")");
  require(E <= 65535 && ceilDiv(R, 128) <= 65535, "E_SHAPE", "quantize weights: too many experts or row blocks");
  const dim3 grid(ceilDiv(C, 128), ceilDiv(R, 128), E);
  if (isBf16) quantizeWeightBlocksKernel<true><<<grid, 256, 0, stream>>>(w, R, C, conv, ue8m0, q, scales);
  else quantizeWeightBlocksKernel<false><<<grid, 256, 0, stream>>>(w, R, C, conv, ue8m0, q, scales);
  MOE_LAUNCH_CHECK("quantizeWeightBlocksKernel");
}

}  // namespace moe
