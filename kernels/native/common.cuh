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

// Masked rows (DeepEP low-latency buffers): a tensor is (E, maxM, ·) and only the first maskedM[e] rows of expert e
// carry data; kernels neither read nor write the others (the caller zeroes the outputs once). maskedM null: all rows.
struct MaskedRows {
  const int* maskedM = nullptr;
  int maxM = 0;
  __device__ bool valid(int row) const {
    if (!maskedM) return true;
    const int e = row / maxM;
    return row - e * maxM < __ldg(maskedM + e);
  }
};

}  // namespace moe
