// W4AFP8 kernels (docs/layouts-and-stages.md §9; the numerics of kernels/recipes/w4afp8/gemm.ts and quantize.ts):
// the int4 × FP8 grouped GEMM, the static per-tensor FP8 quantizer, and the load-time scale interleave.
//
// The GEMM: one warpgroup per 64 activation rows × 128 weight rows, K in 128-wide groups (one group scale each)
// through a 3-stage pipeline. Activations go to 128-byte-swizzled shared memory by cp.async; the int4 weights are
// read into registers, unpacked there (one 256-entry byte → two-FP8-codes table in shared memory: −8…7 are exact
// E4M3 values) and stored swizzled next to them; four wgmma m64n128k32 per group, issued before the next group's
// weights are unpacked so the tensor cores and the unpacking overlap. Each group's partial sums are then promoted:
// acc = fl(acc + fl(s · part)), the CPU's rounding order. The one place the GPU differs from the CPU: wgmma sums a
// group in its own accumulator precision where the CPU sums it exactly (float64), so the last bits of a few outputs
// can differ. Rows are grouped by exact expert offsets (no padding): a CTA finds its expert and 64-row tile from the
// offsets, loads rows past the expert's end from its last valid row and does not store them.
#include "common.cuh"
#include "w4afp8.h"
#include "wgmma_sm90.cuh"
#include "ops.h"

namespace moe {
namespace {

using namespace sm90;

constexpr int BM = 64, BN = 128, BK = 128, STAGES = 3, THREADS = 128;
static_assert(BK == 128, "one K-block is one wgmmaKBlock128");
constexpr int A_BYTES = BM * BK, B_BYTES = BN * BK, STAGE_BYTES = A_BYTES + B_BYTES;
constexpr int SMEM_BYTES = 1024 + STAGES * STAGE_BYTES + STAGES * BN * 4 + 256 * 2;

struct W4Args {
  const uint8_t* A;
  const uint8_t* W;
  const uint16_t* S;
  const int* offsets;
  const float* alpha;
  __nv_bfloat16* D;
  int R, N, K, E;
};

__device__ inline void loadA(uint8_t* sA, const W4Args& p, int m0, int mEnd, int kb) {
#pragma unroll
  for (int i = 0; i < (BM * BK / 16) / THREADS; i++) {
    const int idx = threadIdx.x + i * THREADS;
    const int row = idx >> 3, chunk = idx & 7;
    const int r = min(m0 + row, mEnd - 1);  // rows past the expert's end: any valid row, never stored
    cpAsync16(smemAddr(sA + swz(row, chunk)), p.A + static_cast<size_t>(r) * p.K + static_cast<size_t>(kb) * BK + chunk * 16);
  }
}

// 128 weight rows × 128 K of group kb: 64 packed bytes per row → 128 FP8 codes, swizzled; and the 128 group scales.
__device__ inline void loadB(uint8_t* sB, float* sS, const uint16_t* lut, const W4Args& p, int e, int n0, int kb, int Kg, int alpha) {
  const size_t rowBytes = static_cast<size_t>(p.K) / 2;
  const uint8_t* g = p.W + (static_cast<size_t>(e) * p.N + n0) * rowBytes + static_cast<size_t>(kb) * (BK / 2);
#pragma unroll
  for (int i = 0; i < (BN * BK / 32) / THREADS; i++) {
    const int idx = threadIdx.x + i * THREADS;
    const int row = idx >> 2, part = idx & 3;  // part: 16 packed bytes = 32 K-elements = chunks 2·part, 2·part + 1
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(g + static_cast<size_t>(row) * rowBytes + part * 16));
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
    uint32_t o[8];
#pragma unroll
    for (int h = 0; h < 4; h++) {
      // byte b → (lo nibble code) | (hi nibble code) << 8: element 2j (low nibble) first
      const uint32_t c0 = lut[w[h] & 0xff], c1 = lut[(w[h] >> 8) & 0xff], c2 = lut[(w[h] >> 16) & 0xff], c3 = lut[w[h] >> 24];
      o[2 * h] = c0 | (c1 << 16);
      o[2 * h + 1] = c2 | (c3 << 16);
    }
    *reinterpret_cast<uint4*>(sB + swz(row, 2 * part)) = make_uint4(o[0], o[1], o[2], o[3]);
    *reinterpret_cast<uint4*>(sB + swz(row, 2 * part + 1)) = make_uint4(o[4], o[5], o[6], o[7]);
  }
  // the scale of weight row n0 + t, group kb, at its interleaved place: (e, kb/α, α·n + kb%α)
  const int n = n0 + threadIdx.x;
  const size_t off = (static_cast<size_t>(e) * (Kg / alpha) + kb / alpha) * (static_cast<size_t>(p.N) * alpha) + static_cast<size_t>(alpha) * n + kb % alpha;
  sS[threadIdx.x] = bf16BitsToFloat(__ldg(p.S + off));
}

__global__ void __launch_bounds__(THREADS, 2) w4Fp8GemmKernel(W4Args p) {
#ifdef MOE_HAS_WGMMA
  extern __shared__ __align__(1024) uint8_t smemRaw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smemRaw) + 1023) & ~static_cast<uintptr_t>(1023));
  float* sScale = reinterpret_cast<float*>(smem + STAGES * STAGE_BYTES);
  uint16_t* lut = reinterpret_cast<uint16_t*>(sScale + STAGES * BN);

  // which expert and which of its 64-row tiles this CTA computes (grid.x bounds the tile count from above)
  int e = -1, m0 = 0, mEnd = 0;
  {
    int tile = blockIdx.x;
    for (int x = 0; x < p.E; x++) {
      const int a = __ldg(p.offsets + x), b = __ldg(p.offsets + x + 1);
      const int tiles = (b - a + BM - 1) / BM;
      if (tile < tiles) {
        e = x;
        m0 = a + tile * BM;
        mEnd = b;
        break;
      }
      tile -= tiles;
    }
  }
  if (e < 0) return;
  const int n0 = blockIdx.y * BN;
  const int Kg = p.K / BK, alpha = Kg % 4 == 0 ? 4 : 1;

  for (int b = threadIdx.x; b < 256; b += THREADS) {
    const int lo = b & 0xf, hi = b >> 4;
    const __nv_fp8x2_storage_t c = __nv_cvt_float2_to_fp8x2(make_float2(static_cast<float>(lo >= 8 ? lo - 16 : lo), static_cast<float>(hi >= 8 ? hi - 16 : hi)), __NV_SATFINITE, __NV_E4M3);
    lut[b] = static_cast<uint16_t>(c);
  }
  __syncthreads();

  float acc[64], part[64];
#pragma unroll
  for (int i = 0; i < 64; i++) acc[i] = 0.f;
#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < Kg) {
      loadA(smem + s * STAGE_BYTES, p, m0, mEnd, s);
      loadB(smem + s * STAGE_BYTES + A_BYTES, sScale + s * BN, lut, p, e, n0, s, Kg, alpha);
    }
    cpAsyncCommit();
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int kb = 0; kb < Kg; kb++) {
    cpAsyncWait<STAGES - 2>();
    // cp.async and the unpacking stores wrote through the generic proxy; wgmma reads through the async proxy
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();
    const int st = kb % STAGES;
    const uint8_t* sA = smem + st * STAGE_BYTES;
    wgmmaKBlock128(part, sA, sA + A_BYTES);
    {
      // the group after next, while the tensor cores work on this one
      const int next = kb + STAGES - 1;
      const int sn = next % STAGES;
      if (next < Kg) {
        loadA(smem + sn * STAGE_BYTES, p, m0, mEnd, next);
        loadB(smem + sn * STAGE_BYTES + A_BYTES, sScale + sn * BN, lut, p, e, n0, next, Kg, alpha);
      }
      cpAsyncCommit();
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#pragma unroll
    for (int i = 0; i < 64; i++) fenceOperand(part[i]);
    const float* sc = sScale + st * BN;
#pragma unroll
    for (int i = 0; i < 16; i++) {
      const int col = i * 8 + (lane & 3) * 2;
      const float s0 = sc[col], s1 = sc[col + 1];
      acc[i * 4 + 0] = __fadd_rn(acc[i * 4 + 0], __fmul_rn(s0, part[i * 4 + 0]));
      acc[i * 4 + 1] = __fadd_rn(acc[i * 4 + 1], __fmul_rn(s1, part[i * 4 + 1]));
      acc[i * 4 + 2] = __fadd_rn(acc[i * 4 + 2], __fmul_rn(s0, part[i * 4 + 2]));
      acc[i * 4 + 3] = __fadd_rn(acc[i * 4 + 3], __fmul_rn(s1, part[i * 4 + 3]));
    }
  }
  cpAsyncWait<0>();
  const float al = __ldg(p.alpha);
  const int r0 = m0 + warp * 16 + (lane >> 2);
#pragma unroll
  for (int i = 0; i < 16; i++) {
    const int col = n0 + i * 8 + (lane & 3) * 2;
    if (r0 < mEnd)
      *reinterpret_cast<__nv_bfloat162*>(p.D + static_cast<size_t>(r0) * p.N + col) =
          __floats2bfloat162_rn(__fmul_rn(al, acc[i * 4 + 0]), __fmul_rn(al, acc[i * 4 + 1]));
    if (r0 + 8 < mEnd)
      *reinterpret_cast<__nv_bfloat162*>(p.D + static_cast<size_t>(r0 + 8) * p.N + col) =
          __floats2bfloat162_rn(__fmul_rn(al, acc[i * 4 + 2]), __fmul_rn(al, acc[i * 4 + 3]));
  }
#else
  (void)p;
  __trap();  // launched only on sm_90 devices (w4GemmAvailable), which run the sm_90a code
#endif
}

__global__ void staticQuantKernel(const void* __restrict__ x, bool bf16, int rows, int cols, const int* __restrict__ rowPair,
                                  int topk, const float* __restrict__ s, uint8_t* __restrict__ q) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<long long>(rows) * cols) return;
  const int r = static_cast<int>(i / cols), c = static_cast<int>(i % cols);
  const int src = rowPair ? __ldg(rowPair + r) / topk : r;
  const size_t at = static_cast<size_t>(src) * cols + c;
  const float v = bf16 ? bf16BitsToFloat(static_cast<const uint16_t*>(x)[at]) : static_cast<const float*>(x)[at];
  const float y = fminf(fmaxf(__fdiv_rn(v, __ldg(s)), -kFp8Max), kFp8Max);
  q[i] = toE4M3(y);
}

__global__ void interleaveKernel(const float* __restrict__ s, int E, int R, int Kg, int alpha, uint16_t* __restrict__ out) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<long long>(E) * R * Kg) return;
  const int k = static_cast<int>(i % Kg);
  const long long er = i / Kg;
  const int r = static_cast<int>(er % R), e = static_cast<int>(er / R);
  out[(static_cast<size_t>(e) * (Kg / alpha) + k / alpha) * (static_cast<size_t>(R) * alpha) + static_cast<size_t>(alpha) * r + k % alpha] = floatToBf16Bits(s[i]);
}

__global__ void maxBf16Kernel(const uint16_t* __restrict__ v, int n, float* __restrict__ out) {
  __shared__ float red[256];
  float m = -INFINITY;
  for (int i = threadIdx.x; i < n; i += blockDim.x) m = fmaxf(m, bf16BitsToFloat(v[i]));
  red[threadIdx.x] = m;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + w]);
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = red[0];
}

unsigned blocksFor(long long n, int t) { return static_cast<unsigned>((n + t - 1) / t); }

}  // namespace

bool w4GemmAvailable() { return gemmKernelFor(90) != GemmKernel::MmaSync; }

void launchW4Fp8GroupedGemm(const uint8_t* A, const uint8_t* W, const uint16_t* S, const int* offsets, const float* alpha,
                            uint16_t* D, int R, int N, int K, int E, cudaStream_t stream) {
  const std::string dims = "(R " + std::to_string(R) + ", N " + std::to_string(N) + ", K " + std::to_string(K) + ", E " + std::to_string(E) + ")";
  require(N > 0 && N % BN == 0, "E_SHAPE", "int4 × FP8 GEMM: the weight's output rows N must be a positive multiple of 128 " + dims);
  require(K > 0 && K % BK == 0, "E_SHAPE", "int4 × FP8 GEMM: K must be a positive multiple of 128 (whole scale groups) " + dims);
  require(E > 0 && R >= 0, "E_SHAPE", "int4 × FP8 GEMM: no experts " + dims);
  require(w4GemmAvailable(), "E_BACKEND",
          "int4 × FP8 GEMM: the addon's W4AFP8 kernel is wgmma (sm_90a) only, and this device is not an sm_90 device (or MOE_GEMM=mma is set)");
  if (R == 0) return;
  static bool configured = false;
  if (!configured) {
    MOE_CUDA_CHECK(cudaFuncSetAttribute(w4Fp8GemmKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM_BYTES));
    configured = true;
  }
  // every expert adds at most one partial tile: ⌈R/64⌉ + E bounds the tile count without reading the offsets back
  const dim3 grid(static_cast<unsigned>((R + BM - 1) / BM + E), static_cast<unsigned>(N / BN));
  W4Args p{A, W, S, offsets, alpha, reinterpret_cast<__nv_bfloat16*>(D), R, N, K, E};
  w4Fp8GemmKernel<<<grid, THREADS, SMEM_BYTES, stream>>>(p);
  MOE_LAUNCH_CHECK("w4Fp8GemmKernel");
}

void launchStaticQuantRows(const void* x, bool xIsBf16, int rows, int cols, const int* rowPair, int topk, const float* s,
                           uint8_t* q, cudaStream_t stream) {
  require(rows >= 0 && cols > 0 && (rowPair == nullptr || topk > 0), "E_SHAPE", "static FP8 quantization: bad sizes");
  const long long n = static_cast<long long>(rows) * cols;
  if (n == 0) return;
  staticQuantKernel<<<blocksFor(n, 256), 256, 0, stream>>>(x, xIsBf16, rows, cols, rowPair, topk, s, q);
  MOE_LAUNCH_CHECK("staticQuantKernel");
}

void launchInterleaveScales(const float* s, int E, int R, int Kg, uint16_t* out, cudaStream_t stream) {
  require(E > 0 && R > 0 && Kg > 0, "E_SHAPE", "interleave scales: expected (E, R, K/128) with every size ≥ 1");
  const long long n = static_cast<long long>(E) * R * Kg;
  interleaveKernel<<<blocksFor(n, 256), 256, 0, stream>>>(s, E, R, Kg, Kg % 4 == 0 ? 4 : 1, out);
  MOE_LAUNCH_CHECK("interleaveKernel");
}

void launchMaxBf16(const uint16_t* v, int n, float* out, cudaStream_t stream) {
  require(n > 0, "E_SHAPE", "input scale max: no values");
  maxBf16Kernel<<<1, 256, 0, stream>>>(v, n, out);
  MOE_LAUNCH_CHECK("maxBf16Kernel");
}

}  // namespace moe
