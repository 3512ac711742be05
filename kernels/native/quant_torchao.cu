// torchao's FP8 blockwise quantizers for MoE training (docs/layouts-and-stages.md §8), bit for bit with
// kernels/recipes/torchao-fp8-training/quantize.ts, and the row gather that pads token groups / unpads outputs:
//   amax = max |x| over the group, clamped below by fl32(1e−12); quant = fl32(448 / amax) (IEEE division);
//   q = fp8(clamp(fl32(x · quant), −448, 448)); scale = fl32(1 / quant).
// _rn intrinsics keep the compiler from fusing what the reference rounds separately.
#include "common.cuh"
#include "torchao.h"

namespace moe {
namespace {

constexpr float kEps = 1e-12f;  // fl32(1e−12), what torchao's clamp compares against

__device__ inline float loadF(const void* x, bool bf16, size_t i) {
  return bf16 ? bf16BitsToFloat(static_cast<const uint16_t*>(x)[i]) : static_cast<const float*>(x)[i];
}
__device__ inline float quantOf(float amax) { return __fdiv_rn(kFp8Max, amax > kEps ? amax : kEps); }
__device__ inline uint8_t codeOf(float x, float quant) { return toE4M3(fminf(fmaxf(__fmul_rn(x, quant), -kFp8Max), kFp8Max)); }

__global__ void gatherRowsKernel(const uint16_t* __restrict__ x, int halfsPerRow, int rows, const int* __restrict__ rowSource, uint16_t* __restrict__ out) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<long long>(rows) * halfsPerRow) return;
  const int r = static_cast<int>(i / halfsPerRow), c = static_cast<int>(i % halfsPerRow);
  const int src = __ldg(rowSource + r);
  out[i] = src < 0 ? 0 : x[static_cast<size_t>(src) * halfsPerRow + c];
}

// one warp per (row, 128-group): four elements per lane
__global__ void rows1x128Kernel(const void* __restrict__ x, bool bf16, int R, int C, uint8_t* __restrict__ q, float* __restrict__ scale) {
  const long long w = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31, G = C / 128;
  if (w >= static_cast<long long>(R) * G) return;
  const int r = static_cast<int>(w / G), j = static_cast<int>(w % G);
  const size_t base = static_cast<size_t>(r) * C + j * 128 + lane * 4;
  float v[4], amax = 0.f;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    v[i] = loadF(x, bf16, base + i);
    amax = fmaxf(amax, fabsf(v[i]));
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  const float quant = quantOf(amax);
#pragma unroll
  for (int i = 0; i < 4; i++) q[base + i] = codeOf(v[i], quant);
  if (lane == 0) scale[static_cast<size_t>(j) * R + r] = __fdiv_rn(1.0f, quant);
}

// one block of 128 threads per 128×128 weight block; thread t owns column t of the block
__global__ void weight128Kernel(const void* __restrict__ w, bool bf16, int N, int K, bool transposed, uint8_t* __restrict__ q, float* __restrict__ scale) {
  __shared__ float red[128];
  const int e = blockIdx.z, bn = blockIdx.y, bk = blockIdx.x, t = threadIdx.x;
  const int Nb = N / 128, Kb = K / 128;
  const size_t rowBase = (static_cast<size_t>(e) * N + bn * 128) * K + bk * 128 + t;
  float amax = 0.f;
  for (int i = 0; i < 128; i++) amax = fmaxf(amax, fabsf(loadF(w, bf16, rowBase + static_cast<size_t>(i) * K)));
  red[t] = amax;
  __syncthreads();
  for (int s = 64; s > 0; s >>= 1) {
    if (t < s) red[t] = fmaxf(red[t], red[t + s]);
    __syncthreads();
  }
  const float quant = quantOf(red[0]);
  for (int i = 0; i < 128; i++) {
    const uint8_t c = codeOf(loadF(w, bf16, rowBase + static_cast<size_t>(i) * K), quant);
    const int n = bn * 128 + i, k = bk * 128 + t;
    if (transposed) q[(static_cast<size_t>(e) * K + k) * N + n] = c;
    else q[(static_cast<size_t>(e) * N + n) * K + k] = c;
  }
  if (t == 0) {
    const float s = __fdiv_rn(1.0f, quant);
    if (transposed) scale[(static_cast<size_t>(e) * Kb + bk) * Nb + bn] = s;
    else scale[(static_cast<size_t>(e) * Nb + bn) * Kb + bk] = s;
  }
}

// one thread per feature d of one 128-token block J (grid (⌈D/128⌉, S/128))
__global__ void kGroupedKernel(const void* __restrict__ x, bool bf16, int D, int S, int E, const int* __restrict__ padded,
                               const int* __restrict__ starts, uint8_t* __restrict__ q, float* __restrict__ scale) {
  const int d = blockIdx.x * blockDim.x + threadIdx.x, J = blockIdx.y;
  if (d >= D) return;
  const int r0 = J * 128;
  int e = 0;
  while (e < E && !(r0 >= __ldg(starts + e) && r0 < __ldg(starts + e) + __ldg(padded + e))) e++;
  if (e == E) return;  // never: S = Σ P_e
  const int start = __ldg(starts + e), P = __ldg(padded + e), jj = (r0 - start) / 128;
  float amax = 0.f;
  for (int m = 0; m < 128; m++) amax = fmaxf(amax, fabsf(loadF(x, bf16, static_cast<size_t>(r0 + m) * D + d)));
  const float quant = quantOf(amax);
  scale[static_cast<size_t>(d) * (S / 128) + J] = __fdiv_rn(1.0f, quant);
  uint8_t* dst = q + static_cast<size_t>(start) * D + static_cast<size_t>(d) * P + jj * 128;
  for (int m = 0; m < 128; m++) dst[m] = codeOf(loadF(x, bf16, static_cast<size_t>(r0 + m) * D + d), quant);
}

unsigned blocksFor(long long n, int t) { return static_cast<unsigned>((n + t - 1) / t); }

}  // namespace

void launchGatherRows(const void* x, int elemBytes, int rows, int C, const int* rowSource, void* out, cudaStream_t stream) {
  require((elemBytes == 2 || elemBytes == 4) && C > 0 && rows >= 0, "E_SHAPE", "gather rows: bad sizes");
  const int halfs = C * elemBytes / 2;
  const long long n = static_cast<long long>(rows) * halfs;
  if (n == 0) return;
  gatherRowsKernel<<<blocksFor(n, 256), 256, 0, stream>>>(static_cast<const uint16_t*>(x), halfs, rows, rowSource, static_cast<uint16_t*>(out));
  MOE_LAUNCH_CHECK("gatherRowsKernel");
}

void launchTorchaoRows1x128(const void* x, bool bf16, int R, int C, uint8_t* q, float* scale, cudaStream_t stream) {
  require(R >= 0 && C > 0 && C % 128 == 0, "E_SHAPE", "torchao 1×128 quantization: C must be a positive multiple of 128, got " + std::to_string(C));
  const long long threads = static_cast<long long>(R) * (C / 128) * 32;
  if (threads == 0) return;
  rows1x128Kernel<<<blocksFor(threads, 256), 256, 0, stream>>>(x, bf16, R, C, q, scale);
  MOE_LAUNCH_CHECK("rows1x128Kernel");
}

void launchTorchaoWeight128(const void* w, bool bf16, int E, int N, int K, bool transposed, uint8_t* q, float* scale, cudaStream_t stream) {
  require(E > 0 && N > 0 && K > 0 && N % 128 == 0 && K % 128 == 0, "E_SHAPE", "torchao 128×128 weight quantization: N and K must be positive multiples of 128");
  weight128Kernel<<<dim3(K / 128, N / 128, E), 128, 0, stream>>>(w, bf16, N, K, transposed, q, scale);
  MOE_LAUNCH_CHECK("weight128Kernel");
}

void launchTorchaoKGrouped(const void* x, bool bf16, int D, int S, int E, const int* padded, const int* starts, uint8_t* q,
                           float* scale, cudaStream_t stream) {
  require(D > 0 && D % 128 == 0 && S >= 0 && S % 128 == 0 && E > 0, "E_SHAPE", "torchao K-grouped quantization: D and S must be multiples of 128");
  if (S == 0) return;
  kGroupedKernel<<<dim3(D / 128, S / 128), 128, 0, stream>>>(x, bf16, D, S, E, padded, starts, q, scale);
  MOE_LAUNCH_CHECK("kGroupedKernel");
}

}  // namespace moe
