// Benchmark entry points: inputs are generated on the device (a hash of the index, never zeros) so DeepSeek-size
// weights need no host round trip, then the stage is timed with CUDA events after warm-up (median).
#include <algorithm>
#include <functional>
#include <random>
#include "bench.h"
#include "common.cuh"
#include "gemm_sm90_tma.h"
#include "recipe_run.h"

namespace moe {
namespace {

__device__ inline float hashUniform(unsigned long long i, unsigned long long seed) {
  unsigned long long z = i * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;  // [-1, 1)
}

// kind 0: FP8 bytes of values in (−4, 4); 1: BF16 of values in (−3, 3); 2: f32 scales in [lo, lo·2)
__global__ void fillKernel(void* p, size_t n, int kind, float lo, unsigned long long seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float u = hashUniform(i, seed);
    if (kind == 0) static_cast<uint8_t*>(p)[i] = toE4M3(u * 4.0f);
    else if (kind == 1) static_cast<uint16_t*>(p)[i] = floatToBf16Bits(u * 3.0f);
    else static_cast<float*>(p)[i] = lo * (1.5f + 0.5f * u);
  }
}

__global__ void trapKernel() { __trap(); }

void fill(void* p, size_t n, int kind, float lo, unsigned long long seed) {
  if (!n) return;
  fillKernel<<<1024, 256>>>(p, n, kind, lo, seed);
  MOE_LAUNCH_CHECK("fillKernel");
}

double timeMedian(const std::function<void()>& f, int repeats) {
  cudaEvent_t a, b;
  MOE_CUDA_CHECK(cudaEventCreate(&a));
  MOE_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<double> ms;
  try {
    f();
    f();
    MOE_CUDA_CHECK(cudaDeviceSynchronize());
    for (int r = 0; r < repeats; r++) {
      MOE_CUDA_CHECK(cudaEventRecord(a));
      f();
      MOE_CUDA_CHECK(cudaEventRecord(b));
      MOE_CUDA_CHECK(cudaEventSynchronize(b));
      float t = 0;
      MOE_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
      ms.push_back(t);
    }
  } catch (...) {
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    throw;
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return medianMs(ms);
}

}  // namespace

GemmBench benchGroupedGemm(const std::vector<int>& rowsPerExpert, int N, int K, bool packedSfa, int repeats) {
  const int E = static_cast<int>(rowsPerExpert.size());
  require(E > 0 && N % 128 == 0 && K % 128 == 0, "E_SHAPE", "bench GEMM: need experts and N, K multiples of 128");
  std::vector<int> mIdx;
  long long useful = 0;
  for (int e = 0; e < E; e++) {
    const int seg = alignUp(rowsPerExpert[e], 128);
    for (int i = 0; i < seg; i++) mIdx.push_back(i < rowsPerExpert[e] ? e : -1);
    useful += rowsPerExpert[e];
  }
  const int mSum = static_cast<int>(mIdx.size());
  const int G = K / 128;
  DeviceBuffer<uint8_t> A(static_cast<size_t>(mSum) * K), B(static_cast<size_t>(E) * N * K);
  DeviceBuffer<float> sfa(static_cast<size_t>(mSum) * G), sfb(static_cast<size_t>(E) * (N / 128) * G);
  DeviceBuffer<int32_t> sfaPacked(packedSfa ? static_cast<size_t>(mSum) * ceilDiv(G, 4) : 0);
  DeviceBuffer<int> m(mSum);
  DeviceBuffer<uint16_t> D(static_cast<size_t>(mSum) * N);
  fill(A.ptr, A.count, 0, 0, 1);
  fill(B.ptr, B.count, 0, 0, 2);
  fill(sfa.ptr, sfa.count, 2, 1.0f / 256, 3);
  fill(sfb.ptr, sfb.count, 2, 1.0f / 512, 4);
  if (packedSfa) launchPackUe8m0(sfa.ptr, 1, mSum, G, mSum, sfaPacked.ptr, nullptr);
  MOE_CUDA_CHECK(cudaMemcpy(m.ptr, mIdx.data(), mIdx.size() * sizeof(int), cudaMemcpyHostToDevice));
  const double ms = timeMedian([&] {
    launchGroupedGemm(A.ptr, packedSfa ? nullptr : sfa.ptr, packedSfa ? sfaPacked.ptr : nullptr, B.ptr, sfb.ptr, m.ptr, D.ptr, mSum, N, K, E, nullptr);
  }, repeats);
  return {ms, mSum, 2.0 * static_cast<double>(useful) * N * K, 2.0 * static_cast<double>(mSum) * N * K};
}

GemmBench benchGroupedGemmMasked(const std::vector<int>& maskedM, int maxM, int N, int K, bool tmaKernel, int repeats,
                                 std::string& kernelName) {
  const int E = static_cast<int>(maskedM.size());
  require(E > 0 && maxM > 0 && maxM % 4 == 0 && N % 128 == 0 && K % 128 == 0, "E_SHAPE",
          "bench masked GEMM: need experts, max_m a multiple of 4 and N, K multiples of 128");
  long long useful = 0;
  for (int m : maskedM) {
    require(m >= 0 && m <= maxM, "E_SHAPE", "bench masked GEMM: masked_m entries must lie in [0, max_m]");
    useful += m;
  }
  const int G = K / 128;
  DeviceBuffer<uint8_t> A(static_cast<size_t>(E) * maxM * K), B(static_cast<size_t>(E) * N * K);
  // MN-major per expert: (E, G, maxM) in memory, strides (maxM·G, 1, maxM); maxM is a multiple of 4, so Ma = maxM
  DeviceBuffer<float> sfa(static_cast<size_t>(E) * G * maxM), sfb(static_cast<size_t>(E) * (N / 128) * G);
  DeviceBuffer<int> m(E);
  DeviceBuffer<uint16_t> D(static_cast<size_t>(E) * maxM * N);
  fill(A.ptr, A.count, 0, 0, 1);
  fill(B.ptr, B.count, 0, 0, 2);
  fill(sfa.ptr, sfa.count, 2, 1.0f / 256, 3);
  fill(sfb.ptr, sfb.count, 2, 1.0f / 512, 4);
  MOE_CUDA_CHECK(cudaMemcpy(m.ptr, maskedM.data(), E * sizeof(int), cudaMemcpyHostToDevice));
  const GemmKernel recipeKernel = gemmKernelFor(90);
  kernelName = tmaKernel ? "sm90-tma" : gemmKernelName(recipeKernel);
  const int tile = tmaKernel ? 128 : gemmRowTile(recipeKernel);
  long long executed = 0;
  for (int v : maskedM) executed += static_cast<long long>(ceilDiv(v, tile)) * tile;
  const double ms = timeMedian([&] {
    if (tmaKernel) {
      if (!launchMaskedGroupedGemmSm90Tma(A.ptr, sfa.ptr, B.ptr, sfb.ptr, m.ptr, D.ptr, E, maxM, N, K, nullptr))
        throw MoeNativeError("E_BACKEND", "bench masked GEMM: the SM90 TMA kernel does not run this shape on this device");
    } else {
      launchGroupedGemmMasked(A.ptr, sfa.ptr, nullptr, B.ptr, sfb.ptr, m.ptr, D.ptr, E, maxM, N, K, recipeKernel, nullptr);
    }
  }, repeats);
  return {ms, E * maxM, 2.0 * static_cast<double>(useful) * N * K, 2.0 * static_cast<double>(executed) * N * K};
}

QuantBench benchQuantize(int M, int K, int repeats) {
  require(M > 0 && K % 128 == 0, "E_SHAPE", "bench quantize: K must be a multiple of 128");
  const int G = K / 128;
  DeviceBuffer<uint16_t> x(static_cast<size_t>(M) * K);
  DeviceBuffer<uint8_t> q(static_cast<size_t>(M) * K);
  DeviceBuffer<float> s(static_cast<size_t>(M) * G);
  fill(x.ptr, x.count, 1, 0, 5);
  const double ms = timeMedian([&] {
    launchQuantizeActivations(x.ptr, true, M, K, Convention::Vllm, false, nullptr, q.ptr, s.ptr, ScaleOut::RowMajor, 0, nullptr);
  }, repeats);
  return {ms, static_cast<double>(M) * K * 3 + static_cast<double>(M) * G * 4};
}

void benchLayer(const LayerConfig& c, unsigned seed, LayerOutputs& out) {
  // routing on the host (tiny): top-k distinct experts per token, uniform
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(c.M) * c.topk);
  std::vector<float> w(ids.size());
  std::uniform_int_distribution<int> pick(0, c.eGlobal - 1);
  std::uniform_real_distribution<float> wd(0.05f, 0.5f);
  for (int t = 0; t < c.M; t++)
    for (int s = 0; s < c.topk; s++) {
      int e;
      bool dup;
      do {
        e = pick(rng);
        dup = false;
        for (int q = 0; q < s; q++) dup |= ids[static_cast<size_t>(t) * c.topk + q] == e;
      } while (dup && c.topk <= c.eGlobal);
      ids[static_cast<size_t>(t) * c.topk + s] = e;
      w[static_cast<size_t>(t) * c.topk + s] = wd(rng);
    }
  LayerConfig cfg = c;
  cfg.ids64 = false;
  cfg.xBf16 = true;
  cfg.hasExpertMap = false;
  cfg.eGlobal = c.E;
  DeviceBuffer<uint16_t> x(static_cast<size_t>(c.M) * c.K);
  DeviceBuffer<int32_t> dIds(ids.size());
  DeviceBuffer<float> dW(w.size()), w13s(static_cast<size_t>(c.E) * (2 * c.N / 128) * (c.K / 128)), w2s(static_cast<size_t>(c.E) * (c.K / 128) * (c.N / 128));
  DeviceBuffer<uint8_t> w13(static_cast<size_t>(c.E) * 2 * c.N * c.K), w2(static_cast<size_t>(c.E) * c.K * c.N);
  fill(x.ptr, x.count, 1, 0, seed + 11);
  fill(w13.ptr, w13.count, 0, 0, seed + 12);
  fill(w2.ptr, w2.count, 0, 0, seed + 13);
  fill(w13s.ptr, w13s.count, 2, 1.0f / 512, seed + 14);
  fill(w2s.ptr, w2s.count, 2, 1.0f / 512, seed + 15);
  MOE_CUDA_CHECK(cudaMemcpy(dIds.ptr, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice));
  MOE_CUDA_CHECK(cudaMemcpy(dW.ptr, w.data(), w.size() * 4, cudaMemcpyHostToDevice));
  LayerDeviceInputs d{x.ptr, dIds.ptr, dW.ptr, w13.ptr, w13s.ptr, w2.ptr, w2s.ptr, nullptr};
  runLayerOnDevice(cfg, d, out, false);
}

void launchTrapForTest() {
  trapKernel<<<1, 1>>>();
  MOE_LAUNCH_CHECK("trapKernel");
}

}  // namespace moe
