// M-grouped contiguous FP8 GEMM (NT) with 1×128 activation scales and 128×128 weight scales (docs/layouts-and-stages.md §5):
//   D[r, n] = Σ_j sa[r, j] · sb[e, n/128, j] · Σ_{k in block j} A[r, k] · B[e, n, k],   e = m_indices[r].
// Tensor cores: wgmma.mma_async m64n128k32 e4m3 on Hopper (sm_90a: one warpgroup per 64×128 tile, 3 blocks/SM),
// mma.sync.m16n8k32 e4m3 elsewhere (sm_89+, and MOE_GEMM=mma: 8 warps per 128×128 tile). Both walk K in 128-wide
// blocks through a 3-stage cp.async pipeline into 128-byte-swizzled shared memory; each K-block's partial sums are
// "promoted" into the float32 accumulator with their two scales, as DeepGEMM does (so on the golden files the
// wgmma path reproduces DeepGEMM's outputs bit for bit). Tiles whose first row is padding (m_indices −1) are skipped.
// The masked variant (DeepEP low-latency buffers, DeepGEMM m_grouped_fp8_gemm_nt_masked) runs the same kernels over
// (E, max_m, K): expert e owns rows [e·max_m, (e+1)·max_m), tiles start only below masked_m[e], and A's scales are
// expert e's own MN-major block (docs/layouts-and-stages.md §"Masked").
#include "wgmma_sm90.cuh"
#include "common.cuh"
#include "gemm_sm90_tma.h"
#include "ops.h"
#include <cstdlib>
#include <string>

namespace moe {
namespace {

constexpr int BM = 128, BN = 128, BK = 128, STAGES = 3, THREADS = 256;
constexpr int TILE_BYTES = BM * BK;  // A and B tiles are both 128 rows × 128 bytes
constexpr int SMEM_BYTES = STAGES * 2 * TILE_BYTES;

// smemAddr, swz (128-byte rows, 16-byte chunks XOR-swizzled by the row's low bits: ldmatrix of 8 rows hits 8
// distinct bank groups), cp.async: wgmma_sm90.cuh
using namespace sm90;

__device__ inline void ldmatrixX4(uint32_t addr, uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}

__device__ inline void mmaFp8(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();  // never built: the addon targets sm_90a, sm_100a and compute_90 only
#endif
}

__device__ inline void loadStage(uint8_t* sA, uint8_t* sB, const uint8_t* A, const uint8_t* B, int m0, int n0, int e,
                                 int N, int K, int kb) {
  const uint8_t* gA = A + static_cast<size_t>(m0) * K + static_cast<size_t>(kb) * BK;
  const uint8_t* gB = B + (static_cast<size_t>(e) * N + n0) * K + static_cast<size_t>(kb) * BK;
#pragma unroll
  for (int i = 0; i < (BM * BK / 16) / THREADS; i++) {
    const int idx = threadIdx.x + i * THREADS;
    const int row = idx >> 3, chunk = idx & 7;
    cpAsync16(smemAddr(sA + swz(row, chunk)), gA + static_cast<size_t>(row) * K + chunk * 16);
    cpAsync16(smemAddr(sB + swz(row, chunk)), gB + static_cast<size_t>(row) * K + chunk * 16);
  }
}


// ---- Hopper path: wgmma.mma_async (sm_90a) -------------------------------------------------------------------
// The same 128-byte XOR swizzle (it is exactly wgmma's 128B swizzle for K-major operands) and cp.async loads; one
// warpgroup owns a 64 × 128 tile: one m64n128k32 per 32 K, four per K-block, then the per-block promotion.
// (wgmmaDesc, wgmma64x128 and MOE_HAS_WGMMA: wgmma_sm90.cuh)

// Which expert a tile of rows belongs to and where its A scales are (contiguous: m_indices, one MN-major (M_sum, G)
// matrix with column stride M_sum; masked: rows of expert e are [e·maxM, (e+1)·maxM), its scales an MN-major
// (maxM, G) block at e·sfaGroupStride with column stride align(maxM, 4)). A tile never spans two experts.
struct RowGroups {
  const int* mIndices = nullptr;  // contiguous
  const int* maskedM = nullptr;   // masked
  int maxM = 0;
  int sfaColStride = 0;
  long long sfaGroupStride = 0;
};

// The tile's expert, or −1 when it holds no valid row (padding, or past masked_m[e]): the whole tile is skipped.
__device__ inline int tileExpert(const RowGroups& g, int m0) {
  if (!g.maskedM) return g.mIndices[m0];
  const int e = m0 / g.maxM;
  return m0 - e * g.maxM < __ldg(g.maskedM + e) ? e : -1;
}

template <bool kPackedSfa>
__device__ inline float loadSfa(const float* sfaMn, const int32_t* sfaPacked, size_t base, int colStride, int row, int kb) {
  if constexpr (kPackedSfa) {
    const uint32_t word = static_cast<uint32_t>(__ldg(sfaPacked + base + static_cast<size_t>(kb >> 2) * colStride + row));
    return __uint_as_float(((word >> ((kb & 3) * 8)) & 0xffu) << 23);
  } else {
    return __ldg(sfaMn + base + static_cast<size_t>(kb) * colStride + row);
  }
}

template <bool kPackedSfa>
__global__ void __launch_bounds__(THREADS, 1)
    groupedGemmKernel(const uint8_t* __restrict__ A, const float* __restrict__ sfaMn, const int32_t* __restrict__ sfaPacked,
                      const uint8_t* __restrict__ B, const float* __restrict__ sfb,
                      __nv_bfloat16* __restrict__ D, RowGroups groups, int N, int K, int E) {
  extern __shared__ __align__(128) uint8_t smem[];
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
  const int e = tileExpert(groups, m0);
  if (e < 0 || e >= E) return;  // a padding tile (segments are 128-aligned, so a tile is one expert or none)
  // masked: this expert's scale block and its rows counted from its first
  const int sfaRow0 = groups.maskedM ? e * groups.maxM : 0;
  const size_t sfaBase = groups.maskedM ? static_cast<size_t>(e) * groups.sfaGroupStride : 0;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int wm = warp >> 2, wn = warp & 3;  // 2 × 4 warps, each 64 rows × 32 columns
  const int nk = K / BK;
  const int KB = K / 128, NB = N / 128;
  const float* sfbTile = sfb + (static_cast<size_t>(e) * NB + blockIdx.y) * KB;

  float acc[4][4][4];
#pragma unroll
  for (int a = 0; a < 4; a++)
#pragma unroll
    for (int b = 0; b < 4; b++)
#pragma unroll
      for (int c = 0; c < 4; c++) acc[a][b][c] = 0.f;

#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < nk) loadStage(smem + s * 2 * TILE_BYTES, smem + s * 2 * TILE_BYTES + TILE_BYTES, A, B, m0, n0, e, N, K, s);
    cpAsyncCommit();
  }

  const int rowBase = m0 + wm * 64 + (lane >> 2);
  for (int kb = 0; kb < nk; kb++) {
    cpAsyncWait<STAGES - 2>();
    __syncthreads();
    {
      const int next = kb + STAGES - 1;
      const int st = next % STAGES;
      if (next < nk) loadStage(smem + st * 2 * TILE_BYTES, smem + st * 2 * TILE_BYTES + TILE_BYTES, A, B, m0, n0, e, N, K, next);
      cpAsyncCommit();
    }
    // scales for this K-block, fetched before the MMAs so their latency hides behind them
    float sa[4][2];
#pragma unroll
    for (int mt = 0; mt < 4; mt++) {
      sa[mt][0] = loadSfa<kPackedSfa>(sfaMn, sfaPacked, sfaBase, groups.sfaColStride, rowBase + mt * 16 - sfaRow0, kb);
      sa[mt][1] = loadSfa<kPackedSfa>(sfaMn, sfaPacked, sfaBase, groups.sfaColStride, rowBase + mt * 16 + 8 - sfaRow0, kb);
    }
    const float sb = __ldg(sfbTile + kb);

    const uint8_t* sA = smem + (kb % STAGES) * 2 * TILE_BYTES;
    const uint8_t* sB = sA + TILE_BYTES;
    float part[4][4][4];
#pragma unroll
    for (int a = 0; a < 4; a++)
#pragma unroll
      for (int b = 0; b < 4; b++)
#pragma unroll
        for (int c = 0; c < 4; c++) part[a][b][c] = 0.f;

#pragma unroll
    for (int ks = 0; ks < BK / 32; ks++) {
      uint32_t af[4][4], bf[4][2];
#pragma unroll
      for (int mt = 0; mt < 4; mt++) {
        const int row = wm * 64 + mt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
        const int chunk = ks * 2 + (lane >> 4);
        ldmatrixX4(smemAddr(sA + swz(row, chunk)), af[mt][0], af[mt][1], af[mt][2], af[mt][3]);
      }
#pragma unroll
      for (int np = 0; np < 2; np++) {
        const int n = wn * 32 + np * 16 + (lane & 7) + (lane >> 4) * 8;
        const int chunk = ks * 2 + ((lane >> 3) & 1);
        ldmatrixX4(smemAddr(sB + swz(n, chunk)), bf[np * 2][0], bf[np * 2][1], bf[np * 2 + 1][0], bf[np * 2 + 1][1]);
      }
#pragma unroll
      for (int mt = 0; mt < 4; mt++)
#pragma unroll
        for (int nt = 0; nt < 4; nt++) mmaFp8(part[mt][nt], af[mt], bf[nt][0], bf[nt][1]);
    }
#pragma unroll
    for (int mt = 0; mt < 4; mt++) {
      const float lo = sa[mt][0] * sb, hi = sa[mt][1] * sb;
#pragma unroll
      for (int nt = 0; nt < 4; nt++) {
        acc[mt][nt][0] = fmaf(part[mt][nt][0], lo, acc[mt][nt][0]);
        acc[mt][nt][1] = fmaf(part[mt][nt][1], lo, acc[mt][nt][1]);
        acc[mt][nt][2] = fmaf(part[mt][nt][2], hi, acc[mt][nt][2]);
        acc[mt][nt][3] = fmaf(part[mt][nt][3], hi, acc[mt][nt][3]);
      }
    }
  }
  cpAsyncWait<0>();

#pragma unroll
  for (int mt = 0; mt < 4; mt++) {
    const int r = rowBase + mt * 16;
#pragma unroll
    for (int nt = 0; nt < 4; nt++) {
      const int col = n0 + wn * 32 + nt * 8 + (lane & 3) * 2;
      *reinterpret_cast<__nv_bfloat162*>(D + static_cast<size_t>(r) * N + col) = __floats2bfloat162_rn(acc[mt][nt][0], acc[mt][nt][1]);
      *reinterpret_cast<__nv_bfloat162*>(D + static_cast<size_t>(r + 8) * N + col) = __floats2bfloat162_rn(acc[mt][nt][2], acc[mt][nt][3]);
    }
  }
}


// One warpgroup per block and 64-row tiles: ~160 registers, so three blocks share an SM and one block's
// promotion (CUDA cores) overlaps another's wgmma (tensor cores). 64-row tiles that are all padding are skipped.
constexpr int W_BM = 64, W_THREADS = 128, W_STAGES = 3;
constexpr int W_STAGE_BYTES = W_BM * BK + BN * BK;
constexpr int W_SMEM_BYTES = W_STAGES * W_STAGE_BYTES + 1024;

__device__ inline void loadStageW(uint8_t* sA, uint8_t* sB, const uint8_t* A, const uint8_t* B, int m0, int n0, int e,
                                  int N, int K, int kb) {
  const uint8_t* gA = A + static_cast<size_t>(m0) * K + static_cast<size_t>(kb) * BK;
  const uint8_t* gB = B + (static_cast<size_t>(e) * N + n0) * K + static_cast<size_t>(kb) * BK;
#pragma unroll
  for (int i = 0; i < (W_BM * BK / 16) / W_THREADS; i++) {
    const int idx = threadIdx.x + i * W_THREADS;
    cpAsync16(smemAddr(sA + swz(idx >> 3, idx & 7)), gA + static_cast<size_t>(idx >> 3) * K + (idx & 7) * 16);
  }
#pragma unroll
  for (int i = 0; i < (BN * BK / 16) / W_THREADS; i++) {
    const int idx = threadIdx.x + i * W_THREADS;
    cpAsync16(smemAddr(sB + swz(idx >> 3, idx & 7)), gB + static_cast<size_t>(idx >> 3) * K + (idx & 7) * 16);
  }
}

template <bool kPackedSfa>
__global__ void __launch_bounds__(W_THREADS, 3)
    groupedGemmWgmmaKernel(const uint8_t* __restrict__ A, const float* __restrict__ sfaMn, const int32_t* __restrict__ sfaPacked,
                           const uint8_t* __restrict__ B, const float* __restrict__ sfb,
                           __nv_bfloat16* __restrict__ D, RowGroups groups, int N, int K, int E) {
#ifdef MOE_HAS_WGMMA
  extern __shared__ __align__(1024) uint8_t smemRaw[];
  // the swizzle is a function of address bits 7–9: tiles must start on 1024-byte boundaries
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smemRaw) + 1023) & ~static_cast<uintptr_t>(1023));
  const int m0 = blockIdx.x * W_BM, n0 = blockIdx.y * BN;
  const int e = tileExpert(groups, m0);
  if (e < 0 || e >= E) return;  // padding only (a segment's valid rows come first)
  const int sfaRow0 = groups.maskedM ? e * groups.maxM : 0;
  const size_t sfaBase = groups.maskedM ? static_cast<size_t>(e) * groups.sfaGroupStride : 0;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int nk = K / BK, KB = K / 128, NB = N / 128;
  const float* sfbTile = sfb + (static_cast<size_t>(e) * NB + blockIdx.y) * KB;
  float acc[64], part[64];
#pragma unroll
  for (int i = 0; i < 64; i++) acc[i] = 0.f;
#pragma unroll
  for (int s = 0; s < W_STAGES - 1; s++) {
    if (s < nk) loadStageW(smem + s * W_STAGE_BYTES, smem + s * W_STAGE_BYTES + W_BM * BK, A, B, m0, n0, e, N, K, s);
    cpAsyncCommit();
  }
  const int r0 = m0 + warp * 16 + (lane >> 2);
  for (int kb = 0; kb < nk; kb++) {
    cpAsyncWait<W_STAGES - 2>();
    // cp.async wrote through the generic proxy; wgmma reads through the async proxy
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();
    {
      const int next = kb + W_STAGES - 1;
      const int st = next % W_STAGES;
      if (next < nk) loadStageW(smem + st * W_STAGE_BYTES, smem + st * W_STAGE_BYTES + W_BM * BK, A, B, m0, n0, e, N, K, next);
      cpAsyncCommit();
    }
    const float sa0 = loadSfa<kPackedSfa>(sfaMn, sfaPacked, sfaBase, groups.sfaColStride, r0 - sfaRow0, kb);
    const float sa1 = loadSfa<kPackedSfa>(sfaMn, sfaPacked, sfaBase, groups.sfaColStride, r0 + 8 - sfaRow0, kb);
    const float sb = __ldg(sfbTile + kb);
    const uint8_t* sA = smem + (kb % W_STAGES) * W_STAGE_BYTES;
    const uint8_t* sB = sA + W_BM * BK;
    const uint64_t da = wgmmaDesc(sA), db = wgmmaDesc(sB);
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
    for (int ks = 0; ks < BK / 32; ks++) wgmma64x128(part, da + 2 * ks, db + 2 * ks, ks);  // +32 bytes of K per step
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
    const float lo = sa0 * sb, hi = sa1 * sb;
#pragma unroll
    for (int i = 0; i < 16; i++) {
      acc[i * 4 + 0] = fmaf(part[i * 4 + 0], lo, acc[i * 4 + 0]);
      acc[i * 4 + 1] = fmaf(part[i * 4 + 1], lo, acc[i * 4 + 1]);
      acc[i * 4 + 2] = fmaf(part[i * 4 + 2], hi, acc[i * 4 + 2]);
      acc[i * 4 + 3] = fmaf(part[i * 4 + 3], hi, acc[i * 4 + 3]);
    }
  }
  cpAsyncWait<0>();
#pragma unroll
  for (int i = 0; i < 16; i++) {
    const int col = n0 + i * 8 + (lane & 3) * 2;
    *reinterpret_cast<__nv_bfloat162*>(D + static_cast<size_t>(r0) * N + col) = __floats2bfloat162_rn(acc[i * 4 + 0], acc[i * 4 + 1]);
    *reinterpret_cast<__nv_bfloat162*>(D + static_cast<size_t>(r0 + 8) * N + col) = __floats2bfloat162_rn(acc[i * 4 + 2], acc[i * 4 + 3]);
  }
#else
  __trap();  // launched only on sm_90 devices, which run the sm_90a code
#endif
}

/** Hopper (sm_90) device, and MOE_GEMM is not "mma": where the wgmma kernel can run */
bool deviceRunsWgmma() {
  static int use = -1;
  if (use < 0) {
    int dev = 0, major = 0;
    MOE_CUDA_CHECK(cudaGetDevice(&dev));
    MOE_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    const char* force = std::getenv("MOE_GEMM");
    use = major == 9 && !(force && std::string(force) == "mma") ? 1 : 0;
  }
  return use == 1;
}

bool useWgmma(GemmKernel k) { return k == GemmKernel::Auto ? deviceRunsWgmma() : k == GemmKernel::Wgmma || k == GemmKernel::Sm90Tma; }

template <bool kPacked>
void launchTyped(const uint8_t* A, const float* sfaMn, const int32_t* sfaPacked, const uint8_t* B, const float* sfb,
                 const RowGroups& groups, uint16_t* D, int rows, int N, int K, int E, bool wgmma, cudaStream_t stream) {
  auto* out = reinterpret_cast<__nv_bfloat16*>(D);
  if (wgmma) {
    static bool configured = false;  // the attribute is per function; one device per process here
    if (!configured) {
      MOE_CUDA_CHECK(cudaFuncSetAttribute(groupedGemmWgmmaKernel<kPacked>, cudaFuncAttributeMaxDynamicSharedMemorySize, W_SMEM_BYTES));
      configured = true;
    }
    const dim3 wgrid(rows / W_BM, N / BN);
    groupedGemmWgmmaKernel<kPacked><<<wgrid, W_THREADS, W_SMEM_BYTES, stream>>>(A, sfaMn, sfaPacked, B, sfb, out, groups, N, K, E);
    MOE_LAUNCH_CHECK("groupedGemmWgmmaKernel");
    return;
  }
  static bool configured = false;
  if (!configured) {
    MOE_CUDA_CHECK(cudaFuncSetAttribute(groupedGemmKernel<kPacked>, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM_BYTES));
    configured = true;
  }
  const dim3 grid(rows / BM, N / BN);
  groupedGemmKernel<kPacked><<<grid, THREADS, SMEM_BYTES, stream>>>(A, sfaMn, sfaPacked, B, sfb, out, groups, N, K, E);
  MOE_LAUNCH_CHECK("groupedGemmKernel");
}

void checkGemmSizes(int N, int K, int E, const float* sfaMn, const int32_t* sfaPacked, const std::string& dims) {
  require(N > 0 && N % BN == 0, "E_SHAPE", "grouped GEMM: N must be a positive multiple of 128 " + dims);
  require(K > 0 && K % BK == 0, "E_SHAPE", "grouped GEMM: K must be a positive multiple of 128 " + dims);
  require(E > 0, "E_SHAPE", "grouped GEMM: no experts");
  require((sfaMn != nullptr) != (sfaPacked != nullptr), "E_LAYOUT", "grouped GEMM: exactly one A-scale layout expected");
  require(N / BN <= 65535, "E_SHAPE", "grouped GEMM: N too large " + dims);
}

}  // namespace

GemmKernel gemmKernelFor(int specArch) {
  if (specArch != 90) return GemmKernel::MmaSync;
  if (sm90TmaEnabled()) return GemmKernel::Sm90Tma;
  return deviceRunsWgmma() ? GemmKernel::Wgmma : GemmKernel::MmaSync;
}

int gemmRowTile(GemmKernel k) { return useWgmma(k) ? W_BM : BM; }

void launchGroupedGemm(const uint8_t* A, const float* sfaMn, const int32_t* sfaPacked, const uint8_t* B, const float* sfb,
                       const int* mIndices, uint16_t* D, int mSum, int N, int K, int E, cudaStream_t stream, GemmKernel kernel) {
  const std::string dims = "(M_sum " + std::to_string(mSum) + ", N " + std::to_string(N) + ", K " + std::to_string(K) + ")";
  require(mSum >= 0 && mSum % BM == 0, "E_SHAPE", "grouped GEMM: M_sum must be a multiple of 128 " + dims);
  checkGemmSizes(N, K, E, sfaMn, sfaPacked, dims);
  if (mSum == 0) return;
  // Hopper: the TMA + warp-specialised kernel (gemm_sm90_tma.cu) for float32 scales; it declines (false) only for
  // shapes that need more shared memory than the device has, and the one-warpgroup wgmma kernel below runs instead
  // Auto (the benchmarks): what an SM90 spec runs on this device
  if (kernel == GemmKernel::Auto) kernel = gemmKernelFor(90);
  if (kernel == GemmKernel::Sm90Tma && sfaMn && launchGroupedGemmSm90Tma(A, sfaMn, B, sfb, mIndices, D, mSum, N, K, E, stream)) return;
  RowGroups g;
  g.mIndices = mIndices;
  g.sfaColStride = mSum;
  const bool wgmma = useWgmma(kernel);
  if (sfaPacked) launchTyped<true>(A, nullptr, sfaPacked, B, sfb, g, D, mSum, N, K, E, wgmma, stream);
  else launchTyped<false>(A, sfaMn, nullptr, B, sfb, g, D, mSum, N, K, E, wgmma, stream);
}

// Rows [masked_m[e], max_m) of each expert's D set to zero: the TMA kernel's masked variant leaves values of no
// meaning there (its 128-row tiles compute past masked_m), and the recipe promises zeros (a padding row never
// carries a number). Bandwidth-bound and small: (max_m − masked_m) · N · 2 bytes per expert.
__global__ void zeroRowsPastMaskedKernel(const int* __restrict__ maskedM, uint16_t* __restrict__ D, int maxM, int N) {
  const int e = blockIdx.y;
  const int m = maskedM[e];
  uint16_t* base = D + (static_cast<long long>(e) * maxM + m) * N;
  const long long n = static_cast<long long>(maxM - m) * N;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  const long long first = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (N % 8 == 0) {  // every row starts 16-byte aligned
    uint4* v = reinterpret_cast<uint4*>(base);
    for (long long i = first; i < n / 8; i += stride) v[i] = make_uint4(0, 0, 0, 0);
  } else {
    for (long long i = first; i < n; i += stride) base[i] = 0;
  }
}

void launchGroupedGemmMasked(const uint8_t* A, const float* sfaMn, const int32_t* sfaPacked, const uint8_t* B, const float* sfb,
                             const int* maskedM, uint16_t* D, int E, int maxM, int N, int K, GemmKernel kernel, cudaStream_t stream) {
  const std::string dims = "(E " + std::to_string(E) + ", max_m " + std::to_string(maxM) + ", N " + std::to_string(N) + ", K " + std::to_string(K) + ")";
  checkGemmSizes(N, K, E, sfaMn, sfaPacked, dims);
  require(maskedM != nullptr, "E_SHAPE", "masked GEMM: masked_m missing");
  const bool wgmma = useWgmma(kernel);
  const int tile = wgmma ? W_BM : BM;
  // a tile must not span two experts: DeepGEMM's SM90 masked kernel has no such check, and with max_m = 96 it wrote
  // one expert's last tile over the next expert's rows
  require(maxM > 0 && maxM % tile == 0, "E_SHAPE",
          "hidden_states: max_m = " + std::to_string(maxM) + " is not a multiple of the " + std::to_string(tile) + "-row tile of the " +
              (wgmma ? "wgmma" : "mma.sync") + " masked GEMM " + dims + "; allocate the buffer with max_m = " +
              std::to_string((maxM + tile - 1) / tile * tile));
  require(static_cast<long long>(E) * maxM / tile <= 0x7fffffff, "E_SHAPE", "masked GEMM: too many row tiles " + dims);
  if (kernel == GemmKernel::Sm90Tma && sfaMn && launchMaskedGroupedGemmSm90Tma(A, sfaMn, B, sfb, maskedM, D, E, maxM, N, K, stream)) {
    zeroRowsPastMaskedKernel<<<dim3(std::max(1, std::min(64, ceilDiv(maxM * (N / 8 + 1), 256 * 8))), E), 256, 0, stream>>>(maskedM, D, maxM, N);
    MOE_LAUNCH_CHECK("zeroRowsPastMaskedKernel");
    return;
  }
  RowGroups g;
  g.maskedM = maskedM;
  g.maxM = maxM;
  g.sfaColStride = alignUp(maxM, 4);
  g.sfaGroupStride = static_cast<long long>(g.sfaColStride) * (sfaPacked ? ceilDiv(K / 128, 4) : K / 128);
  if (sfaPacked) launchTyped<true>(A, nullptr, sfaPacked, B, sfb, g, D, E * maxM, N, K, E, wgmma, stream);
  else launchTyped<false>(A, sfaMn, nullptr, B, sfb, g, D, E * maxM, N, K, E, wgmma, stream);
}

}  // namespace moe
