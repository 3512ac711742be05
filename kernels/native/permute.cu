// Permutation for the contiguous M-grouped GEMM (spec §4). Deterministic: inside a segment, rows follow ascending
// token·k + slot (a stable counting sort by chunks), so m_indices and inv_perm equal the CPU reference exactly.
#include "common.cuh"
#include "ops.h"

namespace moe {
namespace {

constexpr int kChunk = 256;  // pairs per block of the counting sort

__global__ void localExpertKernel(const void* __restrict__ ids, bool ids64, int pairs, const int* __restrict__ map,
                                  int eGlobal, int* __restrict__ local) {
  const int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= pairs) return;
  const long long id = ids64 ? static_cast<const long long*>(ids)[p] : static_cast<const int*>(ids)[p];
  int e = -1;
  if (id >= 0 && id < eGlobal) e = map ? map[id] : static_cast<int>(id);
  local[p] = e;
}

__global__ void chunkHistKernel(const int* __restrict__ local, int pairs, int E, int* __restrict__ hist) {
  extern __shared__ int h[];
  for (int e = threadIdx.x; e < E; e += blockDim.x) h[e] = 0;
  __syncthreads();
  const int p = blockIdx.x * kChunk + threadIdx.x;
  if (p < pairs && local[p] >= 0) atomicAdd(&h[local[p]], 1);
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

// Block per expert: exclusive scan over the chunks in place (hist becomes each chunk's base rank); total = count.
// (A thread per expert walking the chunks serially made the permute stage latency-bound: ~100 µs at 256 chunks.)
__global__ void scanChunksKernel(int* __restrict__ hist, int chunks, int E, int* __restrict__ counts) {
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
  if (threadIdx.x == 0) counts[e] = run;
}

// Segment starts: exclusive scan of align(count, blockM) over the experts, one block.
__global__ void segmentOffsetsKernel(const int* __restrict__ counts, int E, int blockM, int* __restrict__ segOffset) {
  int run = 0;
  for (int e0 = 0; e0 < E; e0 += kChunk) {
    const int e = e0 + threadIdx.x;
    const int v = e < E ? (counts[e] + blockM - 1) / blockM * blockM : 0;
    int total;
    const int ex = blockExclusiveScan(v, total);
    if (e < E) segOffset[e] = run + ex;
    run += total;
  }
  if (threadIdx.x == 0) segOffset[E] = run;
}

__global__ void fillSegmentsKernel(const int* __restrict__ counts, const int* __restrict__ segOffset, int* __restrict__ mIndices,
                                   int* __restrict__ rowPair) {
  const int e = blockIdx.x;
  const int off = segOffset[e], len = segOffset[e + 1] - off, cnt = counts[e];
  for (int i = threadIdx.x; i < len; i += blockDim.x) {
    mIndices[off + i] = i < cnt ? e : -1;
    rowPair[off + i] = -1;
  }
}

__global__ void scatterKernel(const int* __restrict__ local, int pairs, int E, const int* __restrict__ chunkBase,
                              const int* __restrict__ segOffset, int* __restrict__ invPerm, int* __restrict__ rowPair) {
  __shared__ int s[kChunk];
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

// A warp per row: the FP8 row in 16-byte copies, four loads in flight per lane before the stores; the row's scales
// into the MN-major buffer and its router weight. Padding rows get zeros, scale 1 and weight 1.
constexpr int kGatherRowsPerBlock = 8;

__global__ void gatherRowsKernel(const uint8_t* __restrict__ q, const float* __restrict__ scales, const float* __restrict__ topkWeights,
                                 int K, int G, int topk, int mSum, const int* __restrict__ rowPair, uint8_t* __restrict__ aPerm,
                                 float* __restrict__ sfaMn, float* __restrict__ rowWeight) {
  const int r = blockIdx.x * kGatherRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= mSum) return;
  const int p = rowPair[r];
  uint4* dst = reinterpret_cast<uint4*>(aPerm + static_cast<size_t>(r) * K);
  const int vecs = K / 16;
  if (p < 0) {
    for (int i = lane; i < vecs; i += 32) dst[i] = make_uint4(0, 0, 0, 0);
    for (int j = lane; j < G; j += 32) sfaMn[static_cast<size_t>(j) * mSum + r] = 1.0f;
    if (lane == 0) rowWeight[r] = 1.0f;
    return;
  }
  const int t = p / topk;
  const uint4* src = reinterpret_cast<const uint4*>(q + static_cast<size_t>(t) * K);
  for (int i0 = 0; i0 < vecs; i0 += 4 * 32) {
    uint4 v[4];
#pragma unroll
    for (int u = 0; u < 4; u++) {
      const int i = i0 + u * 32 + lane;
      if (i < vecs) v[u] = __ldg(src + i);
    }
#pragma unroll
    for (int u = 0; u < 4; u++) {
      const int i = i0 + u * 32 + lane;
      if (i < vecs) dst[i] = v[u];
    }
  }
  for (int j = lane; j < G; j += 32) sfaMn[static_cast<size_t>(j) * mSum + r] = scales[static_cast<size_t>(t) * G + j];
  if (lane == 0) rowWeight[r] = topkWeights[p];
}


// Masked (DeepEP low-latency) layout: row i of expert e goes to block e at slot i (spec §6); rows come from the
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
    localExpertKernel<<<ceilDiv(pairs, 256), 256, 0, stream>>>(topkIds, ids64, pairs, expertMap, eGlobal, s.localExpert);
    MOE_LAUNCH_CHECK("localExpertKernel");
    chunkHistKernel<<<chunks, kChunk, eLocal * sizeof(int), stream>>>(s.localExpert, pairs, eLocal, s.chunkHist);
    MOE_LAUNCH_CHECK("chunkHistKernel");
    scanChunksKernel<<<eLocal, kChunk, 0, stream>>>(s.chunkHist, chunks, eLocal, s.counts);
    MOE_LAUNCH_CHECK("scanChunksKernel");
  } else {
    MOE_CUDA_CHECK(cudaMemsetAsync(s.counts, 0, eLocal * sizeof(int), stream));
  }
  segmentOffsetsKernel<<<1, kChunk, 0, stream>>>(s.counts, eLocal, blockM, s.segOffset);
  MOE_LAUNCH_CHECK("segmentOffsetsKernel");
}

void launchPermuteRows(int M, int k, int eLocal, int mSum, const PermuteScratch& s, int* mIndices, int* invPerm,
                       int* rowPair, cudaStream_t stream) {
  const int pairs = M * k;
  if (mSum > 0) {
    fillSegmentsKernel<<<eLocal, 256, 0, stream>>>(s.counts, s.segOffset, mIndices, rowPair);
    MOE_LAUNCH_CHECK("fillSegmentsKernel");
  }
  if (pairs > 0) {
    scatterKernel<<<permuteChunks(pairs), kChunk, 0, stream>>>(s.localExpert, pairs, eLocal, s.chunkHist, s.segOffset, invPerm, rowPair);
    MOE_LAUNCH_CHECK("scatterKernel");
  }
}

void launchPermuteGather(const uint8_t* q, const float* scalesRowMajor, const float* topkWeights, int K, int G, int topk,
                          int mSum, const int* rowPair, uint8_t* aPerm, float* sfaMn, float* rowWeight, cudaStream_t stream) {
  require(K % 16 == 0, "E_SHAPE", "permute: K must be a multiple of 16");
  if (mSum == 0) return;
  gatherRowsKernel<<<ceilDiv(mSum, kGatherRowsPerBlock), 32 * kGatherRowsPerBlock, 0, stream>>>(q, scalesRowMajor, topkWeights, K, G, topk, mSum, rowPair, aPerm, sfaMn, rowWeight);
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
