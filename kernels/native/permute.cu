// Permutation for the contiguous M-grouped GEMM (docs/layouts-and-stages.md §5). Deterministic: inside a segment, rows follow ascending
// token·k + slot (a stable counting sort by chunks), so m_indices and inv_perm equal the CPU reference exactly.
#include <algorithm>
#include "common.cuh"
#include "ops.h"

namespace moe {
namespace {

constexpr int kChunk = 256;  // pairs per block of the counting sort

// Local expert id of each pair (−1: invalid id or another rank's expert) and the per-chunk histogram, in one pass
// (they were two kernels). Also zeroes segOffset[E], the arrival counter of scanChunksKernel.
__global__ void localExpertHistKernel(const void* __restrict__ ids, bool ids64, int pairs, const int* __restrict__ map,
                                      int eGlobal, int E, int* __restrict__ local, int* __restrict__ hist,
                                      int* __restrict__ segOffset) {
  extern __shared__ int h[];
  if (blockIdx.x == 0 && threadIdx.x == 0) segOffset[E] = 0;
  for (int e = threadIdx.x; e < E; e += blockDim.x) h[e] = 0;
  __syncthreads();
  const int p = blockIdx.x * kChunk + threadIdx.x;
  if (p < pairs) {
    const long long id = ids64 ? static_cast<const long long*>(ids)[p] : static_cast<const int*>(ids)[p];
    int e = -1;
    if (id >= 0 && id < eGlobal) e = map ? map[id] : static_cast<int>(id);
    local[p] = e;
    if (e >= 0) atomicAdd(&h[e], 1);
  }
  __syncthreads();
  for (int e = threadIdx.x; e < E; e += blockDim.x) hist[static_cast<size_t>(blockIdx.x) * E + e] = h[e];
}

// Block-wide exclusive scan of one value per thread (256 threads); returns the block total through `total`.
__device__ inline int blockExclusiveScan(int v, int& total) {
  __shared__ int warpSums[kChunk / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int x = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, o);
    if (lane >= o) x += y;
  }
  if (lane == 31) warpSums[warp] = x;
  __syncthreads();
  int warpBase = 0, sum = 0;
  for (int w = 0; w < kChunk / 32; w++) {
    if (w < warp) warpBase += warpSums[w];
    sum += warpSums[w];
  }
  __syncthreads();  // warpSums is reused by the next call
  total = sum;
  return warpBase + x - v;
}

// Segment starts: exclusive scan of align(count, blockM) over the experts by one block; segOffset[E] = M_sum.
// counts are read through L2 (__ldcg): other blocks of the same grid may have just written them.
__device__ void writeSegmentOffsets(const int* counts, int E, int blockM, int* segOffset) {
  int run = 0;
  for (int e0 = 0; e0 < E; e0 += kChunk) {
    const int e = e0 + threadIdx.x;
    const int v = e < E ? (__ldcg(counts + e) + blockM - 1) / blockM * blockM : 0;
    int total;
    const int ex = blockExclusiveScan(v, total);
    if (e < E) segOffset[e] = run + ex;
    run += total;
  }
  if (threadIdx.x == 0) segOffset[E] = run;
}

// Block per expert: exclusive scan over the chunks in place (hist becomes each chunk's base rank); total = count.
// (A thread per expert walking the chunks serially made the permute stage latency-bound: ~100 µs at 256 chunks.)
// The last block to finish also writes the segment starts, which saves a launch: the stage is a chain of tiny
// kernels whose cost on the H100 is mostly the ~5 µs each launch takes, not their work. Blocks count their arrival
// in segOffset[E] (zeroed by localExpertHistKernel) after a fence, the classic threadfence-reduction pattern; the
// last one overwrites the counter with M_sum.
__global__ void scanChunksKernel(int* __restrict__ hist, int chunks, int E, int blockM, int* __restrict__ counts,
                                 int* __restrict__ segOffset) {
  __shared__ bool lastBlock;
  const int e = blockIdx.x;
  int run = 0;
  for (int c0 = 0; c0 < chunks; c0 += kChunk) {
    const int c = c0 + threadIdx.x;
    const int v = c < chunks ? hist[static_cast<size_t>(c) * E + e] : 0;
    int total;
    const int ex = blockExclusiveScan(v, total);
    if (c < chunks) hist[static_cast<size_t>(c) * E + e] = run + ex;
    run += total;
  }
  if (threadIdx.x == 0) {
    counts[e] = run;
    __threadfence();
    lastBlock = atomicAdd(reinterpret_cast<unsigned*>(segOffset + E), 1u) == static_cast<unsigned>(E - 1);
  }
  __syncthreads();
  if (!lastBlock) return;
  __threadfence();
  writeSegmentOffsets(counts, E, blockM, segOffset);
}

// The same segment starts when there are no pairs (all counts zero).
__global__ void segmentOffsetsKernel(const int* __restrict__ counts, int E, int blockM, int* __restrict__ segOffset) {
  writeSegmentOffsets(counts, E, blockM, segOffset);
}

// Blocks [0, chunks): each pair's row (stable rank inside its chunk), inv_perm and rowPair of the real rows.
// Blocks [chunks, chunks + E): m_indices of expert e's segment and rowPair −1 on its padding rows. The two sets
// of rows are disjoint, so one launch writes both (they were two kernels).
__global__ void permuteRowsKernel(const int* __restrict__ local, int pairs, int chunks, int E, const int* __restrict__ chunkBase,
                                  const int* __restrict__ counts, const int* __restrict__ segOffset, int* __restrict__ mIndices,
                                  int* __restrict__ invPerm, int* __restrict__ rowPair) {
  __shared__ int s[kChunk];
  if (static_cast<int>(blockIdx.x) >= chunks) {
    const int e = blockIdx.x - chunks;
    const int off = segOffset[e], len = segOffset[e + 1] - off, cnt = counts[e];
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
      mIndices[off + i] = i < cnt ? e : -1;
      if (i >= cnt) rowPair[off + i] = -1;
    }
    return;
  }
  const int p = blockIdx.x * kChunk + threadIdx.x;
  const int e = p < pairs ? local[p] : -1;
  s[threadIdx.x] = e;
  __syncthreads();
  if (p >= pairs) return;
  if (e < 0) {
    invPerm[p] = -1;
    return;
  }
  int rank = 0;
  for (int q = 0; q < static_cast<int>(threadIdx.x); q++) rank += s[q] == e;
  const int row = segOffset[e] + chunkBase[static_cast<size_t>(blockIdx.x) * E + e] + rank;
  invPerm[p] = row;
  rowPair[row] = p;
}

// Stores of the permuted copy are marked streaming (st.global.cs, evict-first): each destination line is written
// once and never read here, and the token rows it would push out of L2 are re-read top-k times. (Measured on the
// H100 at DeepSeek-V3 EP8 size, one run: 141 µs against 146 µs with plain stores; L2 evict_last hints on the loads
// were slower, 148 µs; TMA bulk copies through shared memory 156 µs; a token-major copy fused into
// permuteRowsKernel, reading each token once, 169 µs for the stage against 163 µs.)
//
// Token-major, reading each token once: the row-major walk (one load per destination row) read the 29 MB of
// quantized tokens k = 8 times, and at that size they do not stay in the H200's L2 beside 250 MB of streaming
// stores: the gather moved about twice its bytes through DRAM (110 µs at DeepSeek-V3 EP8 size, where a memset of
// the destination takes 61 µs). A persistent grid (every SM filled once, sized by the occupancy calculator) walks
// three kinds of units, each a balanced walk over the grid's warps:
//   1. tokens: a unit is 32 lanes × up to kGatherMaxVecs 16-byte vectors of one token's row, sized so that a row is
//      whole units (K 7168: two units of 7 vectors a lane; K 2048: one of 4; the fixed 4 vectors a lane before left
//      K 7168's fourth unit half idle); the lanes load them once and store them to each of the token's local rows
//      (inv_perm; −1 = another rank's expert or an invalid id);
//   2. padding: a unit is 32 rows; a ballot over rowPair finds the padding rows, which the warp fills with zeros;
//   3. scales: 32 rows (a lane each) × kScaleCols scale columns: the lane reads its rowPair once, then issues the
//      kScaleCols 4-byte reads of its token's scales together (they sit in L2) and stores sfaMn[j·mSum + r] (each
//      store coalesced over the 32 rows); scale 1 and router weight 1 on padding rows. The element-by-element walk
//      this replaces chained two dependent L2 reads per element (~12 per thread) at the end of the kernel, where
//      nothing else kept the memory busy. (H200, one call, two runs: 105–107 → 95–97 µs for the gather at
//      DeepSeek-V3 EP8 size, 60–61 → 57 µs at Qwen3-30B-A3B size; the scales first instead of last were 1–2 µs
//      slower; 4 blocks per SM (64 registers) ran as fast as 2 (110 registers).)
#ifndef MOE_GATHER_MAX_VECS
#define MOE_GATHER_MAX_VECS 8
#endif
constexpr int kGatherMaxVecs = MOE_GATHER_MAX_VECS;
constexpr int kGatherBlock = 256;
constexpr int kGatherMinBlocks = 4;  // per SM: caps the registers at 64
constexpr int kGatherMaxTopk = 32;   // a lane holds each slot's row
constexpr int kScaleCols = 8;

__global__ void __launch_bounds__(kGatherBlock, kGatherMinBlocks)
    gatherRowsKernel(const uint8_t* __restrict__ q, const float* __restrict__ scales, const float* __restrict__ topkWeights, int K,
                     int G, int topk, FastDiv byTopk, int mSum, int M, const int* __restrict__ invPerm, int unitsPerRow,
                     int vecsPerLane, FastDiv byUnits, int scaleColUnits, FastDiv byScaleColUnits, const int* __restrict__ rowPair,
                     uint8_t* __restrict__ aPerm, float* __restrict__ sfaMn, float* __restrict__ rowWeight) {
  const int lane = threadIdx.x & 31;
  const int warps = gridDim.x * (kGatherBlock / 32);
  const int warp = blockIdx.x * (kGatherBlock / 32) + (threadIdx.x >> 5);
  const int vecs = K / 16;
  const int tokenUnits = M * unitsPerRow;
  for (int unit = warp; unit < tokenUnits; unit += warps) {
    const int t = byUnits.div(unit);
    const int c0 = (unit - t * unitsPerRow) * (32 * vecsPerLane) + lane;
    const int myRow = lane < topk ? __ldg(invPerm + static_cast<size_t>(t) * topk + lane) : -1;
    const uint4* src = reinterpret_cast<const uint4*>(q + static_cast<size_t>(t) * K);
    uint4 v[kGatherMaxVecs];
#pragma unroll
    for (int u = 0; u < kGatherMaxVecs; u++)
      if (u < vecsPerLane && c0 + u * 32 < vecs) v[u] = __ldcs(src + c0 + u * 32);
    for (int s = 0; s < topk; s++) {
      const int r = __shfl_sync(0xffffffffu, myRow, s);
      if (r < 0) continue;
      uint4* dst = reinterpret_cast<uint4*>(aPerm + static_cast<size_t>(r) * K);
#pragma unroll
      for (int u = 0; u < kGatherMaxVecs; u++)
        if (u < vecsPerLane && c0 + u * 32 < vecs) __stcs(dst + c0 + u * 32, v[u]);
    }
  }
  for (int r0 = warp * 32; r0 < mSum; r0 += warps * 32) {
    const int r = r0 + lane;
    unsigned pad = __ballot_sync(0xffffffffu, r < mSum && __ldg(rowPair + r) < 0);
    while (pad) {
      const int i = __ffs(pad) - 1;
      pad &= pad - 1;
      uint4* dst = reinterpret_cast<uint4*>(aPerm + static_cast<size_t>(r0 + i) * K);
      for (int c = lane; c < vecs; c += 32) __stcs(dst + c, make_uint4(0, 0, 0, 0));
    }
  }
  const int scaleUnits = ceilDiv(mSum, 32) * scaleColUnits;
  for (int unit = warp; unit < scaleUnits; unit += warps) {
    const int ru = byScaleColUnits.div(unit);
    const int j0 = (unit - ru * scaleColUnits) * kScaleCols;
    const int r = ru * 32 + lane;
    if (r >= mSum) continue;
    const int p = __ldg(rowPair + r);
    const float* src = scales + static_cast<size_t>(p < 0 ? 0 : byTopk.div(p)) * G;
    float v[kScaleCols];
#pragma unroll
    for (int i = 0; i < kScaleCols; i++) v[i] = (p >= 0 && j0 + i < G) ? __ldg(src + j0 + i) : 1.0f;
#pragma unroll
    for (int i = 0; i < kScaleCols; i++)
      if (j0 + i < G) sfaMn[static_cast<size_t>(j0 + i) * mSum + r] = v[i];
    if (j0 == 0) rowWeight[r] = p < 0 ? 1.0f : __ldg(topkWeights + p);
  }
}

constexpr int kGatherRowsPerBlock = 8;  // the masked gather: a warp per row

// Masked (DeepEP low-latency) layout: row i of expert e goes to block e at slot i (docs/layouts-and-stages.md §7); rows come from the
// unaligned expert-major order (segments with blockM = 1), so slot i is the i-th pair of e in token·k + slot order.
__global__ void maskedGatherKernel(const uint8_t* __restrict__ q, const float* __restrict__ scales, int K, int G, int topk,
                                   int rows, int maxM, const int* __restrict__ mIndices, const int* __restrict__ segOffset,
                                   const int* __restrict__ rowPair, uint8_t* __restrict__ aMasked,
                                   float* __restrict__ sMasked, int* __restrict__ invMasked) {
  const int r = blockIdx.x * kGatherRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= rows) return;
  const int e = mIndices[r], p = rowPair[r];
  if (e < 0 || p < 0) return;
  const int i = r - segOffset[e];
  const int t = p / topk;
  const size_t slot = static_cast<size_t>(e) * maxM + i;
  const uint4* src = reinterpret_cast<const uint4*>(q + static_cast<size_t>(t) * K);
  uint4* dst = reinterpret_cast<uint4*>(aMasked + slot * K);
  for (int v = lane; v < K / 16; v += 32) dst[v] = __ldg(src + v);
  for (int j = lane; j < G; j += 32) sMasked[static_cast<size_t>(e) * maxM * G + static_cast<size_t>(j) * maxM + i] = scales[static_cast<size_t>(t) * G + j];
  if (lane == 0) invMasked[p] = static_cast<int>(slot);
}

}  // namespace

int permuteChunks(int pairs) { return ceilDiv(pairs, kChunk); }

void launchPermuteIndices(const void* topkIds, bool ids64, int M, int k, const int* expertMap, int eGlobal, int eLocal,
                          int blockM, const PermuteScratch& s, cudaStream_t stream) {
  require(M >= 0 && k > 0 && eLocal > 0 && eGlobal >= eLocal && blockM > 0, "E_SHAPE", "permute: invalid sizes");
  const int pairs = M * k;
  const int chunks = permuteChunks(pairs);
  if (pairs > 0) {
    localExpertHistKernel<<<chunks, kChunk, eLocal * sizeof(int), stream>>>(topkIds, ids64, pairs, expertMap, eGlobal, eLocal,
                                                                            s.localExpert, s.chunkHist, s.segOffset);
    MOE_LAUNCH_CHECK("localExpertHistKernel");
    scanChunksKernel<<<eLocal, kChunk, 0, stream>>>(s.chunkHist, chunks, eLocal, blockM, s.counts, s.segOffset);
    MOE_LAUNCH_CHECK("scanChunksKernel");
  } else {
    MOE_CUDA_CHECK(cudaMemsetAsync(s.counts, 0, eLocal * sizeof(int), stream));
    segmentOffsetsKernel<<<1, kChunk, 0, stream>>>(s.counts, eLocal, blockM, s.segOffset);
    MOE_LAUNCH_CHECK("segmentOffsetsKernel");
  }
}

void launchPermuteRows(int M, int k, int eLocal, int mSum, const PermuteScratch& s, int* mIndices, int* invPerm,
                       int* rowPair, cudaStream_t stream) {
  const int pairs = M * k;
  const int chunks = pairs > 0 ? permuteChunks(pairs) : 0;
  const int blocks = chunks + (mSum > 0 ? eLocal : 0);  // scatter blocks, then one fill block per expert
  if (blocks == 0) return;
  permuteRowsKernel<<<blocks, kChunk, 0, stream>>>(s.localExpert, pairs, chunks, eLocal, s.chunkHist, s.counts, s.segOffset,
                                                   mIndices, invPerm, rowPair);
  MOE_LAUNCH_CHECK("permuteRowsKernel");
}

void launchPermuteGather(const uint8_t* q, const float* scalesRowMajor, const float* topkWeights, int K, int G, int topk,
                         int M, const int* invPerm, int mSum, const int* rowPair, uint8_t* aPerm, float* sfaMn, float* rowWeight,
                         cudaStream_t stream) {
  require(K % 16 == 0, "E_SHAPE", "permute: K must be a multiple of 16");
  require(topk > 0 && topk <= kGatherMaxTopk, "E_SHAPE",
          "permute: top-k " + std::to_string(topk) + " is more than the gather's " + std::to_string(kGatherMaxTopk) + " slots per token");
  if (mSum == 0) return;
  const int vecs = K / 16;
  const int unitsPerRow = ceilDiv(vecs, 32 * kGatherMaxVecs);
  const int vecsPerLane = ceilDiv(vecs, 32 * unitsPerRow);
  const int scaleColUnits = ceilDiv(G, kScaleCols);
  require(static_cast<long long>(M) * unitsPerRow < (1ll << 30) && static_cast<long long>(ceilDiv(mSum, 32)) * scaleColUnits < (1ll << 30),
          "E_SHAPE", "permute: " + std::to_string(mSum) + " rows × " + std::to_string(K) + " are too many for one launch");
  static int slots = 0;  // blocks that fit on the device at once (one device per process here)
  if (!slots) {
    int dev = 0, sms = 0, perSm = 0;
    MOE_CUDA_CHECK(cudaGetDevice(&dev));
    MOE_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    MOE_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, gatherRowsKernel, kGatherBlock, 0));
    slots = sms * std::max(perSm, 1);
  }
  const long long work = std::max<long long>(static_cast<long long>(M) * unitsPerRow, static_cast<long long>(ceilDiv(mSum, 32)) * scaleColUnits);
  const int blocks = static_cast<int>(std::max<long long>(1, std::min<long long>(slots, (work + 7) / 8)));
  gatherRowsKernel<<<blocks, kGatherBlock, 0, stream>>>(q, scalesRowMajor, topkWeights, K, G, topk, FastDiv(topk), mSum, M, invPerm,
                                                        unitsPerRow, vecsPerLane, FastDiv(unitsPerRow), scaleColUnits,
                                                        FastDiv(scaleColUnits), rowPair, aPerm, sfaMn, rowWeight);
  MOE_LAUNCH_CHECK("gatherRowsKernel");
}

void launchMaskedGather(const uint8_t* q, const float* scales, int K, int G, int topk, int rows, int maxM, const int* mIndices,
                        const int* segOffset, const int* rowPair, uint8_t* aMasked, float* sMasked, int* invMasked,
                        cudaStream_t stream) {
  require(K % 16 == 0, "E_SHAPE", "masked layout: K must be a multiple of 16");
  if (rows == 0) return;
  maskedGatherKernel<<<ceilDiv(rows, kGatherRowsPerBlock), 32 * kGatherRowsPerBlock, 0, stream>>>(
      q, scales, K, G, topk, rows, maxM, mIndices, segOffset, rowPair, aMasked, sMasked, invMasked);
  MOE_LAUNCH_CHECK("maskedGatherKernel");
}

}  // namespace moe
