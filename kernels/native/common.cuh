// Device helpers shared by the stage kernels (number formats of docs/layouts-and-stages.md §1).
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cstdint>
#include "errors.h"

namespace moe {

constexpr float kFp8Max = 448.0f;

__host__ __device__ inline int ceilDiv(int a, int b) { return (a + b - 1) / b; }
__host__ __device__ inline int alignUp(int a, int b) { return ceilDiv(a, b) * b; }

// Exact DeepGEMM ceil_to_ue8m0 on a positive float: exponent + 1 when any mantissa bit is set, clamped to 1…254.
__device__ inline uint32_t ue8m0ExponentCeil(float s) {
  const uint32_t bits = __float_as_uint(s);
  uint32_t e = (bits >> 23) & 0xffu;
  if (bits & 0x7fffffu) e += 1;
  e = e < 1u ? 1u : (e > 254u ? 254u : e);
  return e;
}
__device__ inline float ue8m0ToFloat(uint32_t e) { return __uint_as_float(e << 23); }

// Round-to-nearest-even FP8 cast that saturates (CUDA __NV_SATFINITE). Quantizers clamp to ±448 first, so on
// every value they produce it equals PyTorch's cast (docs/layouts-and-stages.md §1).
__device__ inline uint8_t toE4M3(float x) {
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3));
}

__device__ inline float bf16BitsToFloat(uint16_t h) { return __uint_as_float(static_cast<uint32_t>(h) << 16); }
__device__ inline uint16_t floatToBf16Bits(float x) {
  __nv_bfloat16 b = __float2bfloat16_rn(x);
  return *reinterpret_cast<uint16_t*>(&b);
}

// Division by a divisor fixed for a launch, as a multiply-high and a shift (CUTLASS FastDivmod; Granlund &
// Montgomery): stage kernels map a flat thread index to (row, column), and a 64-bit `/` there costs a call of
// ~70 instructions per thread, enough to make a bandwidth-bound kernel issue-bound. Valid for 0 ≤ n < 2^31.
struct FastDiv {
  int d = 1;
  uint32_t mul = 0, shr = 0;
  FastDiv() = default;
  __host__ explicit FastDiv(int divisor) : d(divisor) {
    if (d == 1) return;
    uint32_t l = 0;
    while ((1u << l) < static_cast<uint32_t>(d)) l++;  // ceil(log2 d)
    const uint32_t p = 31 + l;
    mul = static_cast<uint32_t>(((1ull << p) + static_cast<uint32_t>(d) - 1) / static_cast<uint32_t>(d));
    shr = p - 32;
  }
  __device__ __forceinline__ int div(int n) const {
    return d == 1 ? n : static_cast<int>(__umulhi(static_cast<uint32_t>(n), mul) >> shr);
  }
};

// Masked rows (DeepEP low-latency buffers): a tensor is (E, maxM, ·) and only the first maskedM[e] rows of expert e
// carry data; kernels neither read nor write the others (the caller zeroes the outputs once). maskedM null: all rows.
struct MaskedRows {
  const int* maskedM = nullptr;
  int maxM = 0;
  FastDiv byMaxM;
  MaskedRows() = default;
  __host__ MaskedRows(const int* m, int rows) : maskedM(m), maxM(rows), byMaxM(rows) {}
  __device__ bool valid(int row) const {
    if (!maskedM) return true;
    const int e = byMaxM.div(row);
    return row - e * maxM < __ldg(maskedM + e);
  }
};

}  // namespace moe
