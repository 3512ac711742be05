// Hopper grouped FP8 GEMM (NT) with 1×128 A scales and 128×128 B scales, modelled on DeepGEMM's
// sm90_fp8_gemm_1d2d kernel (the production kernel this tool's timings are compared with):
//   D[r, n] = Σ_j sa[r, j] · sb[e, n/128, j] · Σ_{k in block j} A[r, k] · B[e, n, k]       (docs/layouts-and-stages.md §5)
// - one CTA per SM (persistent grid): warpgroups 0–1 compute, warpgroup 2 loads; `setmaxnreg` moves registers
//   from the loader (40) to the math warpgroups (232);
// - the loader's one thread issues TMA copies (cp.async.bulk.tensor) of A (128 × 128 B), the A scales (128 floats)
//   and B (BN × 128 B) per K-block into a ring of shared-memory stages guarded by mbarriers ("full" completes when
//   the bytes have landed, "empty" when both math warpgroups are done reading);
// - each math warpgroup owns 64 rows of the 128 × BN tile: four wgmma m64nBNk32 per K-block, then the K-block's
//   partial sums are promoted into a float32 accumulator with sa·sb (the 1D2D recipe; the same order of
//   operations as DeepGEMM, so outputs agree with it to the last bit in practice);
// - tiles are walked in groups of 8–16 row blocks per column block so that the CTAs running at the same time share
//   B tiles through L2; with multicast = 2, a cluster of two CTAs working on two row blocks of the same expert loads
//   each B tile once for both (TMA multicast);
// - epilogue: BF16 pairs through `stmatrix` into 128-byte-swizzled shared memory, then TMA stores (rows past the
//   tensor's end are clipped by the tensor map, which is what keeps the masked layout inside each expert).
// Every tensor is addressed through a 3-D tensor map (inner dim, rows, batch): batch = 1 for the contiguous layout,
// E for the masked one. Tensor maps are encoded on the host with cuTensorMapEncodeTiled, reached through the
// runtime's driver entry point (no -lcuda).
#include "gemm_sm90_tma.h"
#include <cuda.h>  // CUtensorMap and its enums only
#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>
#include <type_traits>
#include "common.cuh"

namespace moe {
namespace {

#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ == 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define MOE_SM90A 1
#endif

constexpr int BM = 128, BK = 128;
constexpr int MATH_THREADS = 256, THREADS = MATH_THREADS + 128;
constexpr int A_STAGE = BM * BK;     // 16 KB
constexpr int SFA_STAGE = BM * 4;    // 128 floats
constexpr int SMEM_LIMIT = 232448;   // 227 KB: the most dynamic shared memory one block may have on sm_90
constexpr int LOADER_REGS = 40, MATH_REGS = 232;

template <int BN>
struct Tile {
  static_assert(BN == 128 || BN == 192, "tile width");
  static constexpr int B_STAGE = BN * BK;
  static constexpr int D_BYTES = BM * BN * 2;  // BF16 staging for the TMA store, 64-column (128-byte) atoms
  static constexpr int STAGES = BN == 128 ? 5 : 4;
  static constexpr int A_OFF = D_BYTES;
  static constexpr int B_OFF = A_OFF + STAGES * A_STAGE;
  static constexpr int SFA_OFF = B_OFF + STAGES * B_STAGE;
  static constexpr int SFB_OFF = SFA_OFF + STAGES * SFA_STAGE;
  // B scales of the tile for every K-block (two 128-column blocks when BN straddles them), then the barriers
  __host__ __device__ static int barOff(int kBlocks) { return SFB_OFF + alignUp(kBlocks * 2 * 4, 8); }
  __host__ __device__ static int smemBytes(int kBlocks) { return barOff(kBlocks) + 2 * STAGES * 8 + 1024; }  // + alignment slack
};

struct Params {
  const float* sfb;   // (E, N/128, K/128)
  const int* layout;  // contiguous: m_indices (mSum); masked: masked_m (E)
  int N, K, E;
  int rows;   // rows per batch of the A/D tensor maps: mSum (contiguous) or maxM (masked)
  int numM;   // row blocks (contiguous)
  int numN;   // column blocks
  int groupM; // row blocks per swizzle group
};

// ---- PTX wrappers (sm_90a) -----------------------------------------------------------------------------------
__device__ __forceinline__ uint32_t smemU32(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void mbarInit(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbarWait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred P1;\nLAB_WAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n"
      "@P1 bra DONE;\nbra LAB_WAIT;\nDONE:\n}\n" ::"r"(bar), "r"(parity) : "memory");
}
__device__ __forceinline__ void mbarArriveExpectTx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbarArrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// arrive on the barrier at the same shared-memory offset in CTA `cta` of the cluster
__device__ __forceinline__ void mbarArriveCluster(uint32_t bar, uint32_t cta) {
  asm volatile(
      "{\n.reg .b32 remAddr32;\nmapa.shared::cluster.u32 remAddr32, %0, %1;\n"
      "mbarrier.arrive.shared::cluster.b64 _, [remAddr32];\n}\n" ::"r"(bar), "r"(cta) : "memory");
}
__device__ __forceinline__ void tmaLoad(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1, int c2) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], [%2];\n"
      ::"r"(dst), "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1), "r"(c2) : "memory");
}
__device__ __forceinline__ void tmaLoadMulticast(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1, int c2,
                                                 uint16_t mask) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster"
      " [%0], [%1, {%3, %4, %5}], [%2], %6;\n"
      ::"r"(dst), "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1), "r"(c2), "h"(mask) : "memory");
}
__device__ __forceinline__ void tmaStore(const CUtensorMap* map, uint32_t src, int c0, int c1, int c2) {
  asm volatile("cp.async.bulk.tensor.3d.global.shared::cta.bulk_group [%0, {%2, %3, %4}], [%1];\n"
               ::"l"(reinterpret_cast<uint64_t>(map)), "r"(src), "r"(c0), "r"(c1), "r"(c2) : "memory");
}
__device__ __forceinline__ void bulkCommit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void bulkWaitRead() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }
__device__ __forceinline__ void bulkWaitAll() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }
__device__ __forceinline__ void prefetchMap(const CUtensorMap* map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}
__device__ __forceinline__ void namedBarSync(uint32_t id, uint32_t count) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}
__device__ __forceinline__ uint32_t clusterRank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
__device__ __forceinline__ void clusterSync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void stmatrixX2(uint32_t addr, uint32_t r0, uint32_t r1) {
  asm volatile("stmatrix.sync.aligned.x2.m8n8.shared.b16 [%0], {%1, %2};\n" ::"r"(addr), "r"(r0), "r"(r1) : "memory");
}
__device__ __forceinline__ uint32_t packBf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
// K-major operand in 128-byte-swizzled rows (what TMA's SWIZZLE_128B writes): SBO 1024 B between 8-row groups
__device__ __forceinline__ uint64_t wgmmaDesc(uint32_t addr) {
  return static_cast<uint64_t>((addr & 0x3FFFFu) >> 4) | (1ull << 16) | (static_cast<uint64_t>(1024 >> 4) << 32) | (1ull << 62);
}
template <int N>
__device__ __forceinline__ void fenceOperands(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i])::"memory");
}

template <int BN>
struct WgmmaFp8;
template <>
struct WgmmaFp8<128> {
  __device__ static inline void mma(float (&d)[64], uint64_t da, uint64_t db, int scaleD) {
#ifdef MOE_SM90A
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(da), "l"(db), "r"(scaleD));
#else
    (void)d; (void)da; (void)db; (void)scaleD;
    __trap();
#endif
  }
};

template <>
struct WgmmaFp8<192> {
  __device__ static inline void mma(float (&d)[96], uint64_t da, uint64_t db, int scaleD) {
#ifdef MOE_SM90A
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %98, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n192k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95}, %96, %97, p, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95])
        : "l"(da), "l"(db), "r"(scaleD));
#else
    (void)d; (void)da; (void)db; (void)scaleD;
    __trap();
#endif
  }
};


// Which tile a CTA takes next. Producer and consumers of a CTA run identical copies, so they agree without talking.
// Tiles are numbered column-block-major inside groups of `groupM` row blocks (DeepGEMM's L2 swizzle); the CTAs
// with consecutive numbers (the two of a cluster) then get row blocks m, m^1 of the same column block.
template <int MC, bool kMasked>
struct Scheduler {
  const Params p;  // a copy in registers (a reference would pin the kernel parameter to local memory)
  int iter = -1;
  int inGroupBlocks = 0;  // row blocks in the current swizzle group (1: no pair to share B with)
  bool peerAlive = true;  // the other CTA of the cluster has a tile in this round
  // masked layout: the expert being walked and the tiles before it
  int group = 0, tilesBefore = 0, groupMBlocks = 0;

  __device__ explicit Scheduler(const Params& params) : p(params) {}

  __device__ int maskedRows(int e) const { return min(max(__ldg(p.layout + e), 0), p.rows); }

  __device__ void swizzle(int idx, int numM, int& m, int& n) {
    const int perGroup = p.numN * p.groupM;
    const int g = idx / perGroup;
    int first = g * p.groupM;
    int in = idx - g * perGroup;
    inGroupBlocks = min(p.groupM, numM - first);
    if (MC > 1 && (inGroupBlocks & 1)) {  // an odd group: pair the even part, walk the last row block alone
      const int even = inGroupBlocks ^ 1;
      if (in < even * p.numN) {
        inGroupBlocks = even;
      } else {
        in -= even * p.numN;
        first += even;
        inGroupBlocks = 1;
      }
    }
    m = first + in % inGroupBlocks;
    n = in / inGroupBlocks;
  }

  __device__ bool next(int& m, int& n, int& e) {
    const int idx = (++iter) * static_cast<int>(gridDim.x) + static_cast<int>(blockIdx.x);
    if constexpr (kMasked) {
      while (true) {
        if (group >= p.E) return false;
        groupMBlocks = ceilDiv(maskedRows(group), BM);
        if (idx < tilesBefore + groupMBlocks * p.numN) break;
        tilesBefore += groupMBlocks * p.numN;
        group++;
      }
      swizzle(idx - tilesBefore, groupMBlocks, m, n);
      e = group;
    } else {
      const int total = p.numM * p.numN;
      if (idx >= total) return false;
      peerAlive = p.numN % MC == 0 || p.numM % MC == 0 || (idx ^ 1) < total;
      swizzle(idx, p.numM, m, n);
      e = __ldg(p.layout + m * BM);
    }
    return true;
  }

  // both CTAs of the cluster hold row blocks m and m^1 of one column block of one expert
  __device__ bool multicastValid(int m) const {
    if (inGroupBlocks == 1) return false;
    if constexpr (kMasked) {
      return true;
    } else {
      const int peer = m ^ 1;
      return peer < p.numM && __ldg(p.layout + m * BM) == __ldg(p.layout + peer * BM);
    }
  }
};

template <int BN, int FORMER>
__device__ __forceinline__ void promote(float (&fin)[BN / 2], const float (&acc)[BN / 2], float s00, float s10, float s01,
                                        float s11) {
#pragma unroll
  for (int i = 0; i < BN / 8; i++) {
    const float lo = i < FORMER ? s00 : s01, hi = i < FORMER ? s10 : s11;
    fin[i * 4 + 0] += lo * acc[i * 4 + 0];
    fin[i * 4 + 1] += lo * acc[i * 4 + 1];
    fin[i * 4 + 2] += hi * acc[i * 4 + 2];
    fin[i * 4 + 3] += hi * acc[i * 4 + 3];
  }
}

template <int BN, int MC, bool kMasked>
__global__ void __launch_bounds__(THREADS, 1)
    sm90TmaGroupedGemmKernel(const __grid_constant__ CUtensorMap tmA, const __grid_constant__ CUtensorMap tmB,
                             const __grid_constant__ CUtensorMap tmD, const __grid_constant__ CUtensorMap tmSfa,
                             const Params p) {
#ifdef MOE_SM90A
  using T = Tile<BN>;
  constexpr int STAGES = T::STAGES;
  extern __shared__ uint8_t smemRaw[];
  // 128-byte swizzling is a function of address bits 7–9: every tile starts on a 1024-byte boundary
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smemRaw) + 1023) & ~static_cast<uintptr_t>(1023));
  const uint32_t base = smemU32(smem);
  const int KB = p.K / BK, NB = p.N / 128;
  const int barOff = T::barOff(KB);
  float* smemSfb = reinterpret_cast<float*>(smem + T::SFB_OFF);
  const float* smemSfa = reinterpret_cast<const float*>(smem + T::SFA_OFF);
  const uint32_t fullBar0 = base + barOff, emptyBar0 = base + barOff + STAGES * 8;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;

  if (tid == MATH_THREADS) {
    prefetchMap(&tmA);
    prefetchMap(&tmB);
    prefetchMap(&tmD);
    prefetchMap(&tmSfa);
#pragma unroll
    for (int s = 0; s < STAGES; s++) {
      mbarInit(fullBar0 + 8 * s, 1);                         // the loader's arrive + the bytes
      mbarInit(emptyBar0 + 8 * s, MC * (MATH_THREADS / 32));  // one arrive per math warp of each CTA of the cluster
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  if constexpr (MC > 1) clusterSync();
  else __syncthreads();

  Scheduler<MC, kMasked> sched(p);
  int stage = 0;
  uint32_t phase = 0;
  auto advance = [&] {
    if (++stage == STAGES) {
      stage = 0;
      phase ^= 1;
    }
  };
  int m, n, e;

  if (tid >= MATH_THREADS) {
    // ---- loader warpgroup: one thread issues every copy --------------------------------------------------------
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(LOADER_REGS));
    if (tid == MATH_THREADS) {
      const uint32_t rank = MC > 1 ? clusterRank() : 0;
      while (sched.next(m, n, e)) {
        const bool shareB = MC > 1 && sched.multicastValid(m);
        const int eB = min(max(e, 0), p.E - 1);  // padding tiles still load (the two CTAs of a cluster stay in step)
        const int batch = kMasked ? e : 0;
        for (int kb = 0; kb < KB; kb++) {
          mbarWait(emptyBar0 + 8 * stage, phase ^ 1);
          const uint32_t full = fullBar0 + 8 * stage;
          mbarArriveExpectTx(full, A_STAGE + T::B_STAGE + SFA_STAGE);
          tmaLoad(base + T::A_OFF + stage * A_STAGE, &tmA, full, kb * BK, m * BM, batch);
          tmaLoad(base + T::SFA_OFF + stage * SFA_STAGE, &tmSfa, full, m * BM, kb, batch);
          if (!shareB) tmaLoad(base + T::B_OFF + stage * T::B_STAGE, &tmB, full, kb * BK, n * BN, eB);
          else if (rank == 0) tmaLoadMulticast(base + T::B_OFF + stage * T::B_STAGE, &tmB, full, kb * BK, n * BN, eB, 0x3);
          advance();
        }
      }
      // the peer may still arrive on our barriers: wait until every stage has been released once more
      if constexpr (MC > 1) {
        for (int s = 0; s < STAGES; s++) {
          mbarWait(emptyBar0 + 8 * stage, phase ^ 1);
          advance();
        }
      }
    }
  } else {
    // ---- math warpgroups ---------------------------------------------------------------------------------------
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(MATH_REGS));
    const int wg = tid / 128;
    const int r0 = warp * 16 + lane / 4;  // this thread's rows r0 and r0 + 8 of the tile
    const uint32_t rank = MC > 1 ? clusterRank() : 0;
    const uint64_t descA0 = wgmmaDesc(base + T::A_OFF + wg * 64 * BK), descB0 = wgmmaDesc(base + T::B_OFF);
    float acc[BN / 2], fin[BN / 2];

    while (sched.next(m, n, e)) {
      const int n0 = n * BN;
      const bool tileValid = kMasked || (e >= 0 && e < p.E);
      const int eB = min(max(e, 0), p.E - 1);
      const bool wgValid = tileValid && (kMasked ? m * BM + wg * 64 < sched.maskedRows(e) : __ldg(p.layout + m * BM + wg * 64) >= 0);
      // column groups of 8 under the tile's first 128-column scale block, and whether a second block is needed
      const int former = min(BN, 128 - n0 % 128) / 8;
      const bool two = former < min(p.N - n0, BN) / 8;
      const float* sfbTile = p.sfb + (static_cast<size_t>(eB) * NB + n0 / 128) * KB;  // block n0/128 + 1 follows
      for (int i = tid; i < KB * (two ? 2 : 1); i += MATH_THREADS) smemSfb[i] = __ldg(sfbTile + i);
      namedBarSync(1, MATH_THREADS);
#pragma unroll
      for (int i = 0; i < BN / 2; i++) fin[i] = 0.f;

      auto mainLoop = [&](auto formerTag) {
        constexpr int F = decltype(formerTag)::value;
        for (int kb = 0; kb < KB; kb++) {
          const float sb0 = smemSfb[kb];
          const float sb1 = F < BN / 8 ? smemSfb[KB + kb] : 0.f;
          mbarWait(fullBar0 + 8 * stage, phase);
          // read the A scales before releasing the stage
          const float sa0 = smemSfa[stage * BM + r0], sa1 = smemSfa[stage * BM + r0 + 8];
          if (wgValid) {
            fenceOperands(acc);
            asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
            for (int k = 0; k < BK / 32; k++)
              WgmmaFp8<BN>::mma(acc, descA0 + ((stage * A_STAGE + k * 32) >> 4), descB0 + ((stage * T::B_STAGE + k * 32) >> 4), k);
            asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
            fenceOperands(acc);
            asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
          }
          if constexpr (MC == 1) {
            if (lane == 0) mbarArrive(emptyBar0 + 8 * stage);
          } else {
            if (lane < MC) mbarArriveCluster(emptyBar0 + 8 * stage, sched.peerAlive ? lane : rank);
          }
          if (wgValid) promote<BN, F>(fin, acc, sa0 * sb0, sa1 * sb0, sa0 * sb1, sa1 * sb1);
          advance();
        }
      };
      if (BN == 128 || former == 16) mainLoop(std::integral_constant<int, 16>{});
      else mainLoop(std::integral_constant<int, 8>{});

      if (!tileValid) continue;  // rows that belong to no expert are left as they are
      // ---- epilogue: registers → swizzled shared memory (stmatrix) → TMA store ----
      const int atoms = min(BN / 64, (p.N - n0) / 64);
      if (tid < BN / 64) bulkWaitRead();  // the previous tile's store has finished reading the staging buffer
      namedBarSync(1, MATH_THREADS);
      {
        const int row = warp * 16 + (lane & 15);
#pragma unroll
        for (int i = 0; i < BN / 8; i++) {
          const int chunk = (i & 7) ^ (row & 7);
          const uint32_t addr = base + (i >> 3) * (BM * 128) + row * 128 + chunk * 16;
          stmatrixX2(addr, packBf16(fin[i * 4 + 0], fin[i * 4 + 1]), packBf16(fin[i * 4 + 2], fin[i * 4 + 3]));
        }
      }
      asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");  // generic-proxy writes → TMA reads
      namedBarSync(1, MATH_THREADS);
      if (tid < atoms) {
        tmaStore(&tmD, base + tid * (BM * 128), n0 + tid * 64, m * BM, kMasked ? e : 0);
        bulkCommit();
      }
    }
    if (tid < BN / 64) bulkWaitAll();
  }
#else
  __trap();  // launched only on sm_90 devices, which run the sm_90a code
#endif
}

// ---- host side --------------------------------------------------------------------------------------------------
using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*, const cuuint64_t*,
                                   const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                   CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

EncodeTiledFn encoder() {
  static EncodeTiledFn fn = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
    MOE_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q));
    if (q == cudaDriverEntryPointSuccess) fn = reinterpret_cast<EncodeTiledFn>(f);
  });
  require(fn != nullptr, "E_BACKEND", "grouped GEMM: the CUDA driver has no cuTensorMapEncodeTiled (driver for CUDA 12.0 or newer needed)");
  return fn;
}

// a 3-D tensor map over (d0 innermost, d1, d2) with byte strides s1, s2 and a (b0, b1, 1) box
CUtensorMap tensorMap(const char* what, CUtensorMapDataType type, const void* ptr, uint64_t d0, uint64_t d1, uint64_t d2,
                      uint64_t s1, uint64_t s2, uint32_t b0, uint32_t b1, CUtensorMapSwizzle swizzle) {
  CUtensorMap map;
  const cuuint64_t dims[3] = {d0, d1, d2};
  const cuuint64_t strides[2] = {s1, s2};
  const cuuint32_t box[3] = {b0, b1, 1};
  const cuuint32_t elem[3] = {1, 1, 1};
  const CUresult r = encoder()(&map, type, 3, const_cast<void*>(ptr), dims, strides, box, elem, CU_TENSOR_MAP_INTERLEAVE_NONE,
                               swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  require(r == CUDA_SUCCESS, "E_BACKEND",
          std::string("grouped GEMM: cuTensorMapEncodeTiled failed (CUresult ") + std::to_string(static_cast<int>(r)) + ") for " + what +
              " (dims " + std::to_string(d0) + " × " + std::to_string(d1) + " × " + std::to_string(d2) + ")");
  return map;
}

struct DeviceInfo {
  int sms = 0, major = 0, smemOptin = 0;
};
const DeviceInfo& deviceInfo() {
  static DeviceInfo info;
  static std::once_flag once;
  std::call_once(once, [] {
    int dev = 0;
    MOE_CUDA_CHECK(cudaGetDevice(&dev));
    MOE_CUDA_CHECK(cudaDeviceGetAttribute(&info.sms, cudaDevAttrMultiProcessorCount, dev));
    MOE_CUDA_CHECK(cudaDeviceGetAttribute(&info.major, cudaDevAttrComputeCapabilityMajor, dev));
    MOE_CUDA_CHECK(cudaDeviceGetAttribute(&info.smemOptin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  });
  return info;
}

int envInt(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : 0;
}

// DeepGEMM's choice of swizzle-group height: the one that touches the fewest A + B rows per wave of CTAs
int groupRows(int bn, int sms) {
  int best = 8, bestUse = 1 << 30;
  for (int c : {8, 16}) {
    const int use = c * BM + ceilDiv(sms, c) * bn;
    if (use < bestUse) bestUse = use, best = c;
  }
  return best;
}

template <int BN, int MC, bool kMasked>
void launchConfigured(const CUtensorMap& a, const CUtensorMap& b, const CUtensorMap& d, const CUtensorMap& sfa, const Params& p,
                      int grid, cudaStream_t stream) {
  auto* kernel = sm90TmaGroupedGemmKernel<BN, MC, kMasked>;
  const int smem = Tile<BN>::smemBytes(p.K / BK);
  static std::once_flag once;  // one attribute per instantiation; one device per process here
  std::call_once(once, [&] { MOE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM_LIMIT)); });
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(grid);
  cfg.blockDim = dim3(THREADS);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = MC;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  MOE_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, a, b, d, sfa, p));
  MOE_LAUNCH_CHECK("sm90TmaGroupedGemmKernel");
}

template <bool kMasked>
void launchAny(Sm90TmaConfig cfg, const CUtensorMap& a, const CUtensorMap& b, const CUtensorMap& d, const CUtensorMap& sfa,
               const Params& p, int grid, cudaStream_t stream) {
  if (cfg.bn == 128 && cfg.multicast == 1) launchConfigured<128, 1, kMasked>(a, b, d, sfa, p, grid, stream);
  else if (cfg.bn == 128) launchConfigured<128, 2, kMasked>(a, b, d, sfa, p, grid, stream);
  else if (cfg.multicast == 1) launchConfigured<192, 1, kMasked>(a, b, d, sfa, p, grid, stream);
  else launchConfigured<192, 2, kMasked>(a, b, d, sfa, p, grid, stream);
}

Sm90TmaConfig resolve(Sm90TmaConfig cfg, int mBlocks, int N, int K, bool masked) {
  const Sm90TmaConfig pick = pickSm90TmaConfig(0, mBlocks, N, K);
  if (cfg.bn != 128 && cfg.bn != 192) cfg.bn = pick.bn;
  if (cfg.multicast != 1 && cfg.multicast != 2) cfg.multicast = pick.multicast;
  const int sms = deviceInfo().sms;
  // a cluster of two needs an even grid; in the masked layout, an even number of column blocks per expert
  if (cfg.multicast == 2 && (sms < 2 || (masked && ceilDiv(N, cfg.bn) % 2 != 0))) cfg.multicast = 1;
  return cfg;
}

bool shapeCovered(int N, int K, int bn) {
  return N > 0 && N % 128 == 0 && K > 0 && K % 128 == 0 && Tile<192>::smemBytes(K / BK) <= SMEM_LIMIT &&
         Tile<128>::smemBytes(K / BK) <= SMEM_LIMIT && bn > 0 && deviceInfo().smemOptin >= SMEM_LIMIT;
}

}  // namespace

bool sm90TmaAvailable() { return deviceInfo().major == 9; }

bool sm90TmaEnabled() {
  static int use = -1;
  if (use < 0) {
    const char* force = std::getenv("MOE_GEMM");
    use = sm90TmaAvailable() && !(force && *force && std::string(force) != "tma") ? 1 : 0;
  }
  return use == 1;
}

Sm90TmaConfig pickSm90TmaConfig(int /*rowsPerExpertHint*/, int mBlocks, int N, int K) {
  (void)K;
  const int sms = std::max(1, deviceInfo().sms);
  // Time ∝ waves × tile width: a tile's K loop costs the same per column. 192-wide tiles read A once for 1.5× the
  // columns (fewer bytes through L2 and shared memory per FLOP), so they win ties.
  auto cost = [&](int bn) {
    const long long tiles = static_cast<long long>(mBlocks) * ceilDiv(N, bn);
    return static_cast<double>((tiles + sms - 1) / sms) * bn;
  };
  Sm90TmaConfig c;
  c.bn = cost(192) <= 1.04 * cost(128) ? 192 : 128;
  const long long tiles = static_cast<long long>(mBlocks) * ceilDiv(N, c.bn);
  c.multicast = tiles > sms ? 2 : 1;  // multicast pays once B tiles are fetched by more than one wave
  if (const int bn = envInt("MOE_GEMM_BN")) c.bn = bn;
  if (const int mc = envInt("MOE_GEMM_MC")) c.multicast = mc;
  return c;
}

bool launchGroupedGemmSm90Tma(const uint8_t* A, const float* sfaMn, const uint8_t* B, const float* sfb, const int* mIndices,
                              uint16_t* D, int mSum, int N, int K, int E, cudaStream_t stream, Sm90TmaConfig cfg) {
  if (!sm90TmaAvailable() || !sfaMn || mSum <= 0 || mSum % BM != 0 || E <= 0 || !shapeCovered(N, K, 1)) return false;
  cfg = resolve(cfg, mSum / BM, N, K, false);
  const uint64_t G = K / 128;
  const CUtensorMap a = tensorMap("A", CU_TENSOR_MAP_DATA_TYPE_UINT8, A, K, mSum, 1, K, static_cast<uint64_t>(K) * mSum, BK, BM,
                                  CU_TENSOR_MAP_SWIZZLE_128B);
  const CUtensorMap b = tensorMap("B", CU_TENSOR_MAP_DATA_TYPE_UINT8, B, K, N, E, K, static_cast<uint64_t>(K) * N, BK, cfg.bn,
                                  CU_TENSOR_MAP_SWIZZLE_128B);
  const CUtensorMap d = tensorMap("D", CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, D, N, mSum, 1, 2ull * N, 2ull * N * mSum, 64, BM,
                                  CU_TENSOR_MAP_SWIZZLE_128B);
  const CUtensorMap s = tensorMap("A scales", CU_TENSOR_MAP_DATA_TYPE_FLOAT32, sfaMn, mSum, G, 1, 4ull * mSum, 4ull * mSum * G, BM, 1,
                                  CU_TENSOR_MAP_SWIZZLE_NONE);
  Params p{sfb, mIndices, N, K, E, mSum, mSum / BM, ceilDiv(N, cfg.bn), groupRows(cfg.bn, deviceInfo().sms)};
  const int tiles = p.numM * p.numN;
  int grid = std::min(deviceInfo().sms, alignUp(tiles, cfg.multicast));
  grid -= grid % cfg.multicast;
  launchAny<false>(cfg, a, b, d, s, p, std::max(grid, cfg.multicast), stream);
  return true;
}

bool launchMaskedGroupedGemmSm90Tma(const uint8_t* A, const float* sfa, const uint8_t* B, const float* sfb, const int* maskedM,
                                    uint16_t* D, int E, int maxM, int N, int K, cudaStream_t stream, Sm90TmaConfig cfg) {
  if (!sm90TmaAvailable() || E <= 0 || maxM <= 0 || maxM % 4 != 0 || !shapeCovered(N, K, 1)) return false;
  cfg = resolve(cfg, E * ceilDiv(maxM, BM), N, K, true);
  const uint64_t G = K / 128;
  const CUtensorMap a = tensorMap("A", CU_TENSOR_MAP_DATA_TYPE_UINT8, A, K, maxM, E, K, static_cast<uint64_t>(K) * maxM, BK, BM,
                                  CU_TENSOR_MAP_SWIZZLE_128B);
  const CUtensorMap b = tensorMap("B", CU_TENSOR_MAP_DATA_TYPE_UINT8, B, K, N, E, K, static_cast<uint64_t>(K) * N, BK, cfg.bn,
                                  CU_TENSOR_MAP_SWIZZLE_128B);
  const CUtensorMap d = tensorMap("D", CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, D, N, maxM, E, 2ull * N, 2ull * N * maxM, 64, BM,
                                  CU_TENSOR_MAP_SWIZZLE_128B);
  const CUtensorMap s = tensorMap("A scales", CU_TENSOR_MAP_DATA_TYPE_FLOAT32, sfa, maxM, G, E, 4ull * maxM, 4ull * maxM * G, BM, 1,
                                  CU_TENSOR_MAP_SWIZZLE_NONE);
  Params p{sfb, maskedM, N, K, E, maxM, 0, ceilDiv(N, cfg.bn), groupRows(cfg.bn, deviceInfo().sms)};
  int grid = deviceInfo().sms;
  grid -= grid % cfg.multicast;
  launchAny<true>(cfg, a, b, d, s, p, std::max(grid, cfg.multicast), stream);
  return true;
}

}  // namespace moe
