// Scale-factor layouts the GEMM kernels want (docs/layouts-and-stages.md §4): SM90 float32 MN-major TMA-aligned, SM100 packed UE8M0.
#include "common.cuh"
#include "ops.h"

namespace moe {
namespace {

// Thread per (b, m, j) with m fastest, so the MN-major writes coalesce.
__global__ void toMnMajorKernel(const float* __restrict__ in, int B, int M, int G, float* __restrict__ out) {
  const int Ma = alignUp(M, 4);
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long total = static_cast<long long>(B) * M * G;
  if (i >= total) return;
  const int m = static_cast<int>(i % M);
  const long long bj = i / M;
  const int j = static_cast<int>(bj % G);
  const int b = static_cast<int>(bj / G);
  out[static_cast<size_t>(b) * Ma * G + static_cast<size_t>(j) * Ma + m] = in[(static_cast<size_t>(b) * M + m) * G + j];
}

// Thread per (b, word, m over the padded Ma): byte i of word w is the exponent of K-block 4w+i, zero beyond G and
// on padded rows. The exponent field is taken as it is (the input must already be a power of two; the host
// validates the recipe), matching DeepGEMM's `(f0 >> 23) | (f1 >> 15) | …` on the raw bits.
__global__ void packUe8m0Kernel(const float* __restrict__ in, int B, int M, int G, int inMnStride, int32_t* __restrict__ out) {
  const int Ma = alignUp(M, 4);
  const int W = ceilDiv(G, 4);
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long total = static_cast<long long>(B) * W * Ma;
  if (i >= total) return;
  const int m = static_cast<int>(i % Ma);
  const long long bw = i / Ma;
  const int w = static_cast<int>(bw % W);
  const int b = static_cast<int>(bw / W);
  uint32_t word = 0;
  if (m < M) {
#pragma unroll
    for (int k = 0; k < 4; k++) {
      const int j = 4 * w + k;
      if (j < G) {
        const float s = inMnStride > 0 ? in[static_cast<size_t>(b) * inMnStride * G + static_cast<size_t>(j) * inMnStride + m]
                                       : in[(static_cast<size_t>(b) * M + m) * G + j];
        word |= ((__float_as_uint(s) >> 23) & 0xffu) << (8 * k);
      }
    }
  }
  out[static_cast<size_t>(b) * Ma * W + static_cast<size_t>(w) * Ma + m] = static_cast<int32_t>(word);
}

}  // namespace

void launchScalesToMnMajor(const float* in, int B, int M, int G, float* out, cudaStream_t stream) {
  require(B > 0 && M >= 0 && G > 0, "E_SHAPE", "scale transform: expected (B, M, G) with B, G > 0");
  const long long total = static_cast<long long>(B) * M * G;
  if (total == 0) return;
  toMnMajorKernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(in, B, M, G, out);
  MOE_LAUNCH_CHECK("toMnMajorKernel");
}

void launchPackUe8m0(const float* in, int B, int M, int G, int inMnStride, int32_t* out, cudaStream_t stream) {
  require(B > 0 && M >= 0 && G > 0, "E_SHAPE", "UE8M0 packing: expected (B, M, G) with B, G > 0");
  require(inMnStride == 0 || inMnStride >= M, "E_LAYOUT", "UE8M0 packing: MN-major input stride smaller than M");
  const long long total = static_cast<long long>(B) * ceilDiv(G, 4) * alignUp(M, 4);
  if (total == 0) return;
  packUe8m0Kernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(in, B, M, G, inMnStride, out);
  MOE_LAUNCH_CHECK("packUe8m0Kernel");
}

}  // namespace moe
