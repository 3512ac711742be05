// The K-grouped FP8 GEMM of torchao's wgrad (DeepGEMM k_grouped_fp8_gemm_nt_contiguous, recipe (1, 1, 128),
// C = zeros; docs/layouts-and-stages.md §8), BF16 out, in the numerics of kernels/recipes/torchao-fp8-training/
// kGroupedGemm.ts: for each expert e and its token blocks J in order,
//   acc[n, k] = fl(acc + fl(fl(sa[n, J] · sb[k, J]) · Σ_{m ∈ J} a[n, m] · b[k, m])),   out = bf16(acc).
// a and b are the flat K-grouped buffers: expert e's block of a is the row-major (N, P_e) matrix at starts[e]·N, of b
// the (K, P_e) one at starts[e]·K — both K-major in the token dimension, so each 128-token block is a wgmma K-block.
// One warpgroup per 64 (n) × 128 (k) tile of one expert, 3-stage cp.async pipeline into 128-byte-swizzled shared
// memory, four wgmma m64n128k32 per block, then the promotion with the two per-row scales. The one place the GPU
// differs from the CPU: wgmma sums a block in its own accumulator precision where the CPU sums it exactly.
#include "common.cuh"
#include "torchao.h"
#include "wgmma_sm90.cuh"
#include "ops.h"

namespace moe {
namespace {

using namespace sm90;

constexpr int BM = 64, BN = 128, BK = 128, STAGES = 3, THREADS = 128;
static_assert(BK == 128, "one K-block is one wgmmaKBlock128");
constexpr int A_BYTES = BM * BK, B_BYTES = BN * BK, STAGE_BYTES = A_BYTES + B_BYTES;
constexpr int SMEM_BYTES = 1024 + STAGES * STAGE_BYTES + STAGES * BN * 4;

struct KgArgs {
  const uint8_t* a;
  const float* sa;
  const uint8_t* b;
  const float* sb;
  const int* padded;
  const int* starts;
  __nv_bfloat16* out;
  int N, K, S;
};

__device__ inline void loadStage(uint8_t* s, float* sS, const KgArgs& p, const uint8_t* aBase, const uint8_t* bBase, int P, int n0, int k0, int jj, int J) {
#pragma unroll
  for (int i = 0; i < (BM * BK / 16) / THREADS; i++) {
    const int idx = threadIdx.x + i * THREADS;
    const int row = idx >> 3, chunk = idx & 7;
    cpAsync16(smemAddr(s + swz(row, chunk)), aBase + static_cast<size_t>(n0 + row) * P + jj * BK + chunk * 16);
  }
#pragma unroll
  for (int i = 0; i < (BN * BK / 16) / THREADS; i++) {
    const int idx = threadIdx.x + i * THREADS;
    const int row = idx >> 3, chunk = idx & 7;
    cpAsync16(smemAddr(s + A_BYTES + swz(row, chunk)), bBase + static_cast<size_t>(k0 + row) * P + jj * BK + chunk * 16);
  }
  sS[threadIdx.x] = __ldg(p.sb + static_cast<size_t>(k0 + threadIdx.x) * (p.S / 128) + J);
}

__global__ void __launch_bounds__(THREADS, 2) kGroupedGemmKernel(KgArgs p) {
#ifdef MOE_HAS_WGMMA
  extern __shared__ __align__(1024) uint8_t smemRaw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smemRaw) + 1023) & ~static_cast<uintptr_t>(1023));
  float* sScale = reinterpret_cast<float*>(smem + STAGES * STAGE_BYTES);
  const int n0 = blockIdx.x * BM, k0 = blockIdx.y * BN, e = blockIdx.z;
  const int P = __ldg(p.padded + e), T = __ldg(p.starts + e), nb = P / BK, J0 = T / BK;
  const uint8_t* aBase = p.a + static_cast<size_t>(T) * p.N;
  const uint8_t* bBase = p.b + static_cast<size_t>(T) * p.K;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int r0 = n0 + warp * 16 + (lane >> 2);
  float acc[64], part[64];
#pragma unroll
  for (int i = 0; i < 64; i++) acc[i] = 0.f;
#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < nb) loadStage(smem + s * STAGE_BYTES, sScale + s * BN, p, aBase, bBase, P, n0, k0, s, J0 + s);
    cpAsyncCommit();
  }
  for (int jj = 0; jj < nb; jj++) {
    cpAsyncWait<STAGES - 2>();
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();
    const int st = jj % STAGES;
    const uint8_t* sA = smem + st * STAGE_BYTES;
    wgmmaKBlock128(part, sA, sA + A_BYTES);
    {
      const int next = jj + STAGES - 1;
      if (next < nb) loadStage(smem + (next % STAGES) * STAGE_BYTES, sScale + (next % STAGES) * BN, p, aBase, bBase, P, n0, k0, next, J0 + next);
      cpAsyncCommit();
    }
    const float sa0 = __ldg(p.sa + static_cast<size_t>(r0) * (p.S / 128) + J0 + jj);
    const float sa1 = __ldg(p.sa + static_cast<size_t>(r0 + 8) * (p.S / 128) + J0 + jj);
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#pragma unroll
    for (int i = 0; i < 64; i++) fenceOperand(part[i]);
    const float* sc = sScale + st * BN;
#pragma unroll
    for (int i = 0; i < 16; i++) {
      const int col = i * 8 + (lane & 3) * 2;
      const float sb0 = sc[col], sb1 = sc[col + 1];
      acc[i * 4 + 0] = __fadd_rn(acc[i * 4 + 0], __fmul_rn(__fmul_rn(sa0, sb0), part[i * 4 + 0]));
      acc[i * 4 + 1] = __fadd_rn(acc[i * 4 + 1], __fmul_rn(__fmul_rn(sa0, sb1), part[i * 4 + 1]));
      acc[i * 4 + 2] = __fadd_rn(acc[i * 4 + 2], __fmul_rn(__fmul_rn(sa1, sb0), part[i * 4 + 2]));
      acc[i * 4 + 3] = __fadd_rn(acc[i * 4 + 3], __fmul_rn(__fmul_rn(sa1, sb1), part[i * 4 + 3]));
    }
  }
  cpAsyncWait<0>();
  __nv_bfloat16* out = p.out + static_cast<size_t>(e) * p.N * p.K;
#pragma unroll
  for (int i = 0; i < 16; i++) {
    const int col = k0 + i * 8 + (lane & 3) * 2;
    *reinterpret_cast<__nv_bfloat162*>(out + static_cast<size_t>(r0) * p.K + col) = __floats2bfloat162_rn(acc[i * 4 + 0], acc[i * 4 + 1]);
    *reinterpret_cast<__nv_bfloat162*>(out + static_cast<size_t>(r0 + 8) * p.K + col) = __floats2bfloat162_rn(acc[i * 4 + 2], acc[i * 4 + 3]);
  }
#else
  (void)p;
  __trap();  // launched only on sm_90 devices (kGroupedGemmAvailable)
#endif
}

}  // namespace

bool kGroupedGemmAvailable() { return gemmKernelFor(90) != GemmKernel::MmaSync; }

void launchKGroupedGemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const int* padded,
                        const int* starts, int E, int N, int K, int S, uint16_t* out, cudaStream_t stream) {
  const std::string dims = "(E " + std::to_string(E) + ", N " + std::to_string(N) + ", K " + std::to_string(K) + ", S " + std::to_string(S) + ")";
  require(E > 0 && N > 0 && N % 128 == 0 && K > 0 && K % 128 == 0 && S >= 0 && S % 128 == 0, "E_SHAPE",
          "K-grouped GEMM: N and K must be positive multiples of 128 and S a multiple of 128 " + dims);
  require(kGroupedGemmAvailable(), "E_BACKEND",
          "K-grouped GEMM: the addon's kernel is wgmma (sm_90a) only, and this device is not an sm_90 device (or MOE_GEMM=mma is set)");
  static bool configured = false;
  if (!configured) {
    MOE_CUDA_CHECK(cudaFuncSetAttribute(kGroupedGemmKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM_BYTES));
    configured = true;
  }
  KgArgs p{a, sa, b, sb, padded, starts, reinterpret_cast<__nv_bfloat16*>(out), N, K, S};
  kGroupedGemmKernel<<<dim3(N / BM, K / BN, E), THREADS, SMEM_BYTES, stream>>>(p);
  MOE_LAUNCH_CHECK("kGroupedGemmKernel");
}

}  // namespace moe
