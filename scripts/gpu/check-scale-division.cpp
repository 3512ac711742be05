// Exhaustive CPU check behind the quantizer's division-free group scale (kernels/native/quantize.cu, groupScale):
// for every float a from 1e-10 (the smaller of the two conventions' floors) up to FLT_MAX, q = RN(a·RN(1/448))
// corrected by one remainder step, q + RN(a − 448·q)·RN(1/448) with FMAs, equals the IEEE quotient RN(a / 448).
// (Below the floor the quotient is subnormal and the step is not exact; the kernel never gets there.)
//   g++ -O2 -mfma -ffp-contract=off -o /tmp/check-scale-division scripts/gpu/check-scale-division.cpp && /tmp/check-scale-division
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

static float fromBits(uint32_t b) {
  float x;
  std::memcpy(&x, &b, 4);
  return x;
}
static uint32_t bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}

int main() {
  const float s = 448.0f;
  volatile float one = 1.0f;
  const float y = one / s;  // RN(1/448), as the kernel's constant
  long long bad = 0;
  for (uint64_t b = bits(1e-10f); b < 0x7f800000ull; b++) {
    const float a = fromBits(static_cast<uint32_t>(b));
    const float q = a * y;
    const float step = std::fmaf(std::fmaf(-s, q, a), y, q);
    if (bits(step) != bits(a / s) && bad++ < 5) std::printf("differs at %a: %a against %a\n", a, step, a / s);
  }
  std::printf("%lld of the floats in [1e-10, FLT_MAX] differ\n", bad);
  return bad ? 1 : 0;
}
