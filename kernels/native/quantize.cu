// FP8 quantization: per-token groups of 128 (activations) and 128×128 blocks (weights), with both scale
// conventions of docs/layouts-and-stages.md §2 (vllm: s = max(amax,1e-10)/448, q = fp8(clamp(x/s)); deepgemm: s = max(amax,1e-4)/448,
// q = fp8(x·(1/s))) and the optional exact UE8M0 round-up. Every arithmetic step uses the _rn intrinsics so the
// compiler cannot contract it into an FMA: the results must match the CPU reference bit for bit.
#include "common.cuh"
#include "ops.h"

namespace moe {
namespace {

// s = RN(max(amax, floor) / 448) without an IEEE division (a call of ~10 instructions with a slow path, once per
// group and lane): q = RN(a·RN(1/448)) and one remainder step r = a − 448·q (exact with an FMA), q + r·RN(1/448).
// Checked exhaustively on the CPU (scripts/gpu/check-scale-division.cpp): equal to RN(a / 448) for every float a
// from 1e-10 (the smaller floor) to FLT_MAX; an infinite amax keeps the division's inf.
__device__ inline float groupScale(float amax, Convention conv, bool ue8m0) {
  const float floor = conv == Convention::Vllm ? 1e-10f : 1e-4f;
  const float a = fmaxf(amax, floor);
  constexpr float kInvFp8Max = 1.0f / kFp8Max;  // RN(1/448), folded by the compiler
  float s = a;                                   // inf / 448 = inf
  if (a <= 3.402823466e38f) {
    const float q = __fmul_rn(a, kInvFp8Max);
    s = __fmaf_rn(__fmaf_rn(-kFp8Max, q, a), kInvFp8Max, q);
  }
  if (ue8m0) s = ue8m0ToFloat(ue8m0ExponentCeil(s));
  return s;
}

__device__ inline uint8_t quantizeValue(float v, float s, float inv, Convention conv) {
  if (conv == Convention::Vllm) return toE4M3(fminf(fmaxf(__fdiv_rn(v, s), -kFp8Max), kFp8Max));
  return toE4M3(__fmul_rn(v, inv));
}

// RN(x / s) without an IEEE division per element (the division made the vllm quantizer compute-bound on the H100:
// 29 µs against 24 µs with a plain multiply at 8192 × 2048). y = RN(1/s) is computed once per group; q = RN(x·y)
// is within 1.5 ulp, one remainder step (r = x − s·q is exact with an FMA) makes it faithful and a second returns
// RN(x / s) (Markstein's theorem: y correctly rounded, q faithful, no underflow). The quantizer's s is normal
// (≥ 1e-10/448) and y too whenever s is finite; the caller keeps __fdiv_rn for an infinite s. Only for |x| < 2^-100
// can the remainder underflow, and those quotients (< 2^-58) are the same FP8 zero either way; copysignf keeps
// the sign that the division gives to zero (−0 / s = −0 → FP8 0x80).
// Checked on the H100 against __fdiv_rn on every pair of bf16 x and bf16 amax with |x| ≤ amax (1.07e9 pairs) and
// on 4·2^30 random float pairs: identical FP8 bytes on all of them. (The float quotients differ on ~0.1% of the
// pairs: by the argument above, the ones with |x| < 2^-100.)
__device__ inline float divideByScale(float x, float s, float y) {
  float q = __fmul_rn(x, y);
  float r = __fmaf_rn(-s, q, x);
  q = __fmaf_rn(r, y, q);
  r = __fmaf_rn(-s, q, x);
  q = __fmaf_rn(r, y, q);
  return copysignf(q, x);
}

// Two floats → two E4M3 bytes with one cvt (x in the low byte); the same saturating RN cast as toE4M3.
__device__ inline uint32_t packFp8x4(float a, float b, float c, float d) {
  const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
  const uint32_t hi = __nv_cvt_float2_to_fp8x2(make_float2(c, d), __NV_SATFINITE, __NV_E4M3);
  return lo | (hi << 16);
}

// One half-warp lane's share of a group: 8 values, 16 bytes of bf16 or 32 of f32.
template <bool kBf16>
struct GroupSlice {
  uint4 a, b;
};

template <bool kBf16>
__device__ inline GroupSlice<kBf16> loadSlice(const void* x, size_t base) {
  GroupSlice<kBf16> r;
  if constexpr (kBf16) {
    r.a = __ldg(reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(x) + base));
  } else {
    r.a = __ldg(reinterpret_cast<const uint4*>(static_cast<const float*>(x) + base));
    r.b = __ldg(reinterpret_cast<const uint4*>(static_cast<const float*>(x) + base + 4));
  }
  return r;
}

template <bool kBf16>
__device__ inline void unpackSlice(const GroupSlice<kBf16>& r, float v[8]) {
  if constexpr (kBf16) {
    const uint32_t w[4] = {r.a.x, r.a.y, r.a.z, r.a.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
      v[2 * i] = __uint_as_float(w[i] << 16);
      v[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
  } else {
    const uint32_t w[8] = {r.a.x, r.a.y, r.a.z, r.a.w, r.b.x, r.b.y, r.b.z, r.b.w};
#pragma unroll
    for (int i = 0; i < 8; i++) v[i] = __uint_as_float(w[i]);
  }
}

// One group of 128 values, held as a half-warp lane's 8 (16 lanes): amax over the half-warp (four shuffles), the
// scale, the FP8 bytes and the scale's store. Uniform per half-warp.
template <bool kBf16>
__device__ __forceinline__ void quantizeGroup(const GroupSlice<kBf16>& raw, int g, int row, int j, int lane, unsigned mask,
                                              Convention conv, bool ue8m0, const float* __restrict__ rowWeight,
                                              uint8_t* __restrict__ q, float* __restrict__ scales, ScaleOut layout, int mnStride) {
  float v[8];
  unpackSlice<kBf16>(raw, v);
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
  const float inv = __frcp_rn(s);  // correctly rounded like __fdiv_rn(1, s), without the division's slow-path check
  // The vllm clamp to ±448 keeps only its lower side: the FP8 cast saturates finite values and ±inf to ±448 by
  // itself, and fmaxf(NaN, −448) = −448 is what fminf(fmaxf(NaN, −448), 448) gave (same bytes, one instruction less).
  float y[8];
  if (conv == Convention::DeepGemm) {
#pragma unroll
    for (int i = 0; i < 8; i++) y[i] = __fmul_rn(v[i], inv);
  } else if (ue8m0) {
    // s is a power of two, so 1/s is exact and x·(1/s) is the same single rounding as x/s
#pragma unroll
    for (int i = 0; i < 8; i++) y[i] = fmaxf(__fmul_rn(v[i], inv), -kFp8Max);
  } else if (isfinite(s)) {
#pragma unroll
    for (int i = 0; i < 8; i++) y[i] = fmaxf(divideByScale(v[i], s, inv), -kFp8Max);
  } else {  // amax is inf (or s overflowed): keep the IEEE division and its inf/NaN rules
#pragma unroll
    for (int i = 0; i < 8; i++) y[i] = fmaxf(__fdiv_rn(v[i], s), -kFp8Max);
  }
  *reinterpret_cast<uint2*>(q + static_cast<size_t>(g) * 128 + lane * 8) =
      make_uint2(packFp8x4(y[0], y[1], y[2], y[3]), packFp8x4(y[4], y[5], y[6], y[7]));
  if (lane == 0) {
    if (layout == ScaleOut::RowMajor) scales[g] = s;
    else scales[static_cast<size_t>(j) * mnStride + row] = s;
  }
}

// Groups per half-warp in one pass (H100, vllm recipe: 4 beat 1 and 2 by 3–10% at every bench size).
#ifndef MOE_QUANT_GROUPS_PER_HALF
#define MOE_QUANT_GROUPS_PER_HALF 4
#endif
constexpr int kQuantGroupsPerHalf = MOE_QUANT_GROUPS_PER_HALF;

// A half-warp (16 lanes × 8 values) owns one group of 128, so loads are 16 bytes per lane and the amax reduction
// needs only four shuffles. The groups form one flat stream (group g is elements [128g, 128g + 128) of x), and a
// warp takes kGroupsPerHalf consecutive pairs of groups, issuing all its loads before the math so several
// 16-byte loads per lane are in flight, and the math of its groups interleaves (their shuffles and divisions are
// independent). (A grid-strided mapping was slower: 0.51 ms instead of 0.30–0.37 ms at 32768 × 7168 on the H100;
// so was, on the H200, a persistent grid whose half-warps kept 2–8 groups' loads in flight and quantized one group
// at a time: 2–10% slower on every bench shape, the lone group's chain of shuffles and divisions left exposed.)
// Index math is 32-bit: one FastDiv for the half-warp's first group, then (row, j) steps by two groups. The 64-bit
// `g / G` it replaces cost a ~70-instruction call per group and lane, and the masked variant's per-group row check
// (evaluated before the loads) put more of it between them: 296 → 361 µs at 32768 × 7168 on the H200. The masked
// check is a template parameter, so the contiguous kernel carries none of it.
template <bool kBf16, bool kMasked, int kGroupsPerHalf>
__global__ void __launch_bounds__(256) quantizeActivationsKernel(const void* __restrict__ x, int groups, int G, FastDiv byG,
                                                                 Convention conv, bool ue8m0, const float* __restrict__ rowWeight,
                                                                 uint8_t* __restrict__ q, float* __restrict__ scales,
                                                                 ScaleOut layout, int mnStride, MaskedRows rows) {
  const int lane = threadIdx.x & 15;
  const int warp = static_cast<int>(blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5));
  const int first = warp * 2 * kGroupsPerHalf + ((threadIdx.x >> 4) & 1);
  if (first >= groups) return;  // whole half-warps leave together
  const unsigned mask = 0xffffu << (threadIdx.x & 16);
  int rowOf[kGroupsPerHalf], jOf[kGroupsPerHalf];
  {
    int row = byG.div(first), j = first - row * G;
#pragma unroll
    for (int u = 0; u < kGroupsPerHalf; u++) {
      rowOf[u] = row;
      jOf[u] = j;
      j += 2;
      while (j >= G) {  // at most twice (G = 1)
        j -= G;
        row++;
      }
    }
  }
  GroupSlice<kBf16> raw[kGroupsPerHalf];
  bool live[kGroupsPerHalf];
#pragma unroll
  for (int u = 0; u < kGroupsPerHalf; u++) {
    const int g = first + 2 * u;
    live[u] = g < groups;
    if constexpr (kMasked) live[u] = live[u] && rows.valid(rowOf[u]);
    if (live[u]) raw[u] = loadSlice<kBf16>(x, static_cast<size_t>(g) * 128 + lane * 8);
  }
#pragma unroll
  for (int u = 0; u < kGroupsPerHalf; u++)  // past the end or a masked row: uniform per half-warp (one group, one row)
    if (live[u])
      quantizeGroup<kBf16>(raw[u], first + 2 * u, rowOf[u], jOf[u], lane, mask, conv, ue8m0, rowWeight, q, scales, layout, mnStride);
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

void launchQuantize(const void* x, bool xIsBf16, int M, int K, Convention conv, bool ue8m0, const float* rowWeight,
                    uint8_t* q, float* scales, ScaleOut layout, int mnStride, MaskedRows rows, cudaStream_t stream) {
  require(M >= 0 && K > 0 && K % 128 == 0, "E_SHAPE",
          "quantize: hidden size K must be a positive multiple of 128, got " + std::to_string(K));
  require(layout == ScaleOut::RowMajor || mnStride >= M, "E_LAYOUT",
          "quantize: MN-major scale stride " + std::to_string(mnStride) + " is smaller than M = " + std::to_string(M));
  if (M == 0) return;
  const long long groups = static_cast<long long>(M) * (K / 128);
  require(groups < (1ll << 31) - 2 * kQuantGroupsPerHalf, "E_SHAPE",
          "quantize: " + std::to_string(M) + " × " + std::to_string(K) + " has too many groups of 128 for one launch");
  constexpr int kBlock = 256;
  constexpr long long kGroupsPerBlock = kBlock / 16 * kQuantGroupsPerHalf;
  const unsigned grid = static_cast<unsigned>((groups + kGroupsPerBlock - 1) / kGroupsPerBlock);
  const int n = static_cast<int>(groups), G = K / 128;
  const FastDiv byG(G);
  auto launch = [&](auto kernel) {
    kernel<<<grid, kBlock, 0, stream>>>(x, n, G, byG, conv, ue8m0, rowWeight, q, scales, layout, mnStride, rows);
  };
  const bool masked = rows.maskedM != nullptr;
  if (xIsBf16) {
    if (masked) launch(quantizeActivationsKernel<true, true, kQuantGroupsPerHalf>);
    else launch(quantizeActivationsKernel<true, false, kQuantGroupsPerHalf>);
  } else {
    if (masked) launch(quantizeActivationsKernel<false, true, kQuantGroupsPerHalf>);
    else launch(quantizeActivationsKernel<false, false, kQuantGroupsPerHalf>);
  }
  MOE_LAUNCH_CHECK("quantizeActivationsKernel");
}

}  // namespace

void launchQuantizeActivations(const void* x, bool xIsBf16, int M, int K, Convention conv, bool ue8m0,
                               const float* rowWeight, uint8_t* q, float* scales, ScaleOut layout, int mnStride,
                               cudaStream_t stream) {
  launchQuantize(x, xIsBf16, M, K, conv, ue8m0, rowWeight, q, scales, layout, mnStride, MaskedRows{}, stream);
}

void launchQuantizeMaskedRows(const void* x, bool xIsBf16, int E, int maxM, int K, const int* maskedM, Convention conv,
                              bool ue8m0, uint8_t* q, float* scalesRowMajor, cudaStream_t stream) {
  require(E > 0 && maxM > 0 && maskedM != nullptr, "E_SHAPE", "masked quantize: expected E, max_m > 0 and masked_m");
  require(static_cast<long long>(E) * maxM < (1ll << 31), "E_SHAPE", "masked quantize: E·max_m too large");
  launchQuantize(x, xIsBf16, E * maxM, K, conv, ue8m0, nullptr, q, scalesRowMajor, ScaleOut::RowMajor, 0,
                 MaskedRows{maskedM, maxM}, stream);
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
