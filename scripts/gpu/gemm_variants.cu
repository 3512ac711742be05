// Development harness for the Hopper grouped GEMM (kernels/native/gemm_sm90_tma.cu), built here and run on the
// GPU machine by scripts/gpu/device-gemm.sh (not part of the addon, not a test):
//   gemm_variants check [bn mc]   correctness of every tile configuration on odd shapes, contiguous and masked
//                                 layouts, against a float reference kernel and the previous wgmma kernel
//   gemm_variants time  [bn mc]   CUDA-event medians on the benchmark's five shapes (and a masked one), every
//                                 configuration beside the previous kernel
//   gemm_variants one S BN MC     two launches of shape S (0–4) with one configuration (BN 0: the previous kernel),
//                                 for Nsight Compute
// Outputs are poisoned (NaN) before each run; only valid rows are compared; inputs are hashes, never zeros.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include "../../kernels/native/common.cuh"
#include "../../kernels/native/gemm_sm90_tma.h"
#include "../../kernels/native/ops.h"

using namespace moe;

namespace {

__device__ inline float hashUniform(unsigned long long i, unsigned long long seed) {
  unsigned long long z = i * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}
__global__ void fillFp8(uint8_t* p, size_t n, unsigned long long seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x)
    p[i] = toE4M3(hashUniform(i, seed) * 4.0f);
}
__global__ void fillScale(float* p, size_t n, float lo, unsigned long long seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x)
    p[i] = lo * (1.5f + 0.5f * hashUniform(i, seed));
}

__device__ inline float fp8ToFloat(uint8_t v) {
  __nv_fp8_e4m3 f;
  f.__x = v;
  return static_cast<float>(f);
}

// reference: one thread per output, K-block partial sums in float, promoted with sa·sb (the recipe of docs/layouts-and-stages.md §5).
// rowExpert(r) < 0: skip. A row r at A + aRow(r)·K; scales sa(r, kb).
struct RefLayout {
  const int* mIndices;  // contiguous (nullable)
  const int* maskedM;   // masked (nullable)
  int maxM, G;
};
__global__ void refGemm(const uint8_t* A, const float* sfa, const uint8_t* B, const float* sfb, RefLayout L, float* out,
                        int rows, int N, int K) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x, r = blockIdx.y;
  if (n >= N) return;
  int e;
  float saStride;
  size_t saBase;
  if (L.mIndices) {
    e = L.mIndices[r];
    saBase = r;
    saStride = rows;
  } else {
    e = r / L.maxM;
    if (r % L.maxM >= L.maskedM[e]) e = -1;
    saBase = static_cast<size_t>(e < 0 ? 0 : e) * L.maxM * L.G + r % L.maxM;
    saStride = L.maxM;
  }
  if (e < 0) return;
  const uint8_t* a = A + static_cast<size_t>(r) * K;
  const uint8_t* b = B + (static_cast<size_t>(e) * N + n) * K;
  float acc = 0.f;
  for (int kb = 0; kb < K / 128; kb++) {
    float part = 0.f;
    for (int k = kb * 128; k < kb * 128 + 128; k++) part = fmaf(fp8ToFloat(a[k]), fp8ToFloat(b[k]), part);
    const float sa = sfa[saBase + static_cast<size_t>(kb) * static_cast<size_t>(saStride)];
    const float sb = sfb[(static_cast<size_t>(e) * (N / 128) + n / 128) * (K / 128) + kb];
    acc = fmaf(part, sa * sb, acc);
  }
  out[static_cast<size_t>(r) * N + n] = acc;
}

float bf16ToFloatHost(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

struct Compare {
  double rel = 0;
  long long nan = 0, bitsDiffer = 0, compared = 0;
};

// valid(r): whether row r is compared
template <typename Valid>
Compare compare(const std::vector<uint16_t>& got, const std::vector<float>& ref, const std::vector<uint16_t>* other, int rows, int N,
                Valid valid) {
  Compare c;
  double num = 0, den = 0;
  for (int r = 0; r < rows; r++) {
    if (!valid(r)) continue;
    for (int n = 0; n < N; n++) {
      const size_t i = static_cast<size_t>(r) * N + n;
      const float g = bf16ToFloatHost(got[i]);
      if (!std::isfinite(g)) c.nan++;
      const double d = static_cast<double>(g) - ref[i];
      num += d * d;
      den += static_cast<double>(ref[i]) * ref[i];
      if (other && (*other)[i] != got[i]) c.bitsDiffer++;
      c.compared++;
    }
  }
  c.rel = den > 0 ? std::sqrt(num / den) : (num > 0 ? 1 : 0);
  return c;
}

template <typename T>
std::vector<T> download(const T* p, size_t n) {
  std::vector<T> v(n);
  MOE_CUDA_CHECK(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
  return v;
}

struct Contig {
  int E, N, K, mSum;
  std::vector<int> rows, mIdx;
  DeviceBuffer<uint8_t> A, B;
  DeviceBuffer<float> sfa, sfb;
  DeviceBuffer<int> m;
  DeviceBuffer<uint16_t> D;
  Contig(const std::vector<int>& rowsPerExpert, int n, int k, unsigned seed) : E(static_cast<int>(rowsPerExpert.size())), N(n), K(k), rows(rowsPerExpert) {
    for (int e = 0; e < E; e++) {
      const int seg = alignUp(rows[e], 128);
      for (int i = 0; i < seg; i++) mIdx.push_back(i < rows[e] ? e : -1);
    }
    mSum = static_cast<int>(mIdx.size());
    A.alloc(static_cast<size_t>(mSum) * K);
    B.alloc(static_cast<size_t>(E) * N * K);
    sfa.alloc(static_cast<size_t>(mSum) * (K / 128));
    sfb.alloc(static_cast<size_t>(E) * (N / 128) * (K / 128));
    m.alloc(mSum);
    D.alloc(static_cast<size_t>(mSum) * N);
    fillFp8<<<1024, 256>>>(A.ptr, A.count, seed + 1);
    fillFp8<<<1024, 256>>>(B.ptr, B.count, seed + 2);
    fillScale<<<256, 256>>>(sfa.ptr, sfa.count, 1.0f / 256, seed + 3);
    fillScale<<<256, 256>>>(sfb.ptr, sfb.count, 1.0f / 512, seed + 4);
    MOE_LAUNCH_CHECK("fill");
    MOE_CUDA_CHECK(cudaMemcpy(m.ptr, mIdx.data(), mIdx.size() * 4, cudaMemcpyHostToDevice));
  }
  void poison() { MOE_CUDA_CHECK(cudaMemset(D.ptr, 0xff, D.bytes())); }
  void runOld() { launchGroupedGemm(A.ptr, sfa.ptr, nullptr, B.ptr, sfb.ptr, m.ptr, D.ptr, mSum, N, K, E, nullptr); }
  bool runNew(Sm90TmaConfig c) { return launchGroupedGemmSm90Tma(A.ptr, sfa.ptr, B.ptr, sfb.ptr, m.ptr, D.ptr, mSum, N, K, E, nullptr, c); }
  std::vector<float> reference() {
    DeviceBuffer<float> out(static_cast<size_t>(mSum) * N);
    refGemm<<<dim3(ceilDiv(N, 128), mSum), 128>>>(A.ptr, sfa.ptr, B.ptr, sfb.ptr, RefLayout{m.ptr, nullptr, 0, K / 128}, out.ptr, mSum, N, K);
    MOE_LAUNCH_CHECK("refGemm");
    return download(out.ptr, out.count);
  }
  long long useful() const {
    long long u = 0;
    for (int r : rows) u += r;
    return u;
  }
};

struct Masked {
  int E, maxM, N, K;
  std::vector<int> mm;
  DeviceBuffer<uint8_t> A, B;
  DeviceBuffer<float> sfa, sfb;
  DeviceBuffer<int> masked;
  DeviceBuffer<uint16_t> D;
  Masked(const std::vector<int>& maskedM, int maxRows, int n, int k, unsigned seed)
      : E(static_cast<int>(maskedM.size())), maxM(maxRows), N(n), K(k), mm(maskedM) {
    A.alloc(static_cast<size_t>(E) * maxM * K);
    B.alloc(static_cast<size_t>(E) * N * K);
    sfa.alloc(static_cast<size_t>(E) * maxM * (K / 128));
    sfb.alloc(static_cast<size_t>(E) * (N / 128) * (K / 128));
    masked.alloc(E);
    D.alloc(static_cast<size_t>(E) * maxM * N);
    fillFp8<<<1024, 256>>>(A.ptr, A.count, seed + 1);
    fillFp8<<<1024, 256>>>(B.ptr, B.count, seed + 2);
    fillScale<<<256, 256>>>(sfa.ptr, sfa.count, 1.0f / 256, seed + 3);
    fillScale<<<256, 256>>>(sfb.ptr, sfb.count, 1.0f / 512, seed + 4);
    MOE_LAUNCH_CHECK("fill");
    MOE_CUDA_CHECK(cudaMemcpy(masked.ptr, mm.data(), E * 4, cudaMemcpyHostToDevice));
  }
  void poison() { MOE_CUDA_CHECK(cudaMemset(D.ptr, 0xff, D.bytes())); }
  bool runNew(Sm90TmaConfig c) { return launchMaskedGroupedGemmSm90Tma(A.ptr, sfa.ptr, B.ptr, sfb.ptr, masked.ptr, D.ptr, E, maxM, N, K, nullptr, c); }
  std::vector<float> reference() {
    DeviceBuffer<float> out(static_cast<size_t>(E) * maxM * N);
    refGemm<<<dim3(ceilDiv(N, 128), E * maxM), 128>>>(A.ptr, sfa.ptr, B.ptr, sfb.ptr, RefLayout{nullptr, masked.ptr, maxM, K / 128}, out.ptr,
                                                       E * maxM, N, K);
    MOE_LAUNCH_CHECK("refGemm");
    return download(out.ptr, out.count);
  }
};

std::vector<Sm90TmaConfig> configs(int argc, char** argv) {
  if (argc >= 4) return {Sm90TmaConfig{std::atoi(argv[2]), std::atoi(argv[3])}};
  return {{128, 1}, {192, 1}, {128, 2}, {192, 2}};
}

template <typename F>
double timeMedian(F f, int repeats) {
  cudaEvent_t a, b;
  MOE_CUDA_CHECK(cudaEventCreate(&a));
  MOE_CUDA_CHECK(cudaEventCreate(&b));
  f();
  f();
  MOE_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> ms;
  for (int r = 0; r < repeats; r++) {
    MOE_CUDA_CHECK(cudaEventRecord(a));
    f();
    MOE_CUDA_CHECK(cudaEventRecord(b));
    MOE_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    MOE_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

int failures = 0;
// BF16 rounding of the output alone puts ~1.7e-3 between any correct kernel and the float reference (the previous
// kernel, bit-identical to DeepGEMM on the golden files, measures 1.65e-3 here); a wrong tile is off by O(1)
constexpr double kTolerance = 4e-3;

void checkContig(const char* name, const std::vector<int>& rows, int N, int K, const std::vector<Sm90TmaConfig>& cfgs) {
  Contig c(rows, N, K, 17 + N + K);
  const auto ref = c.reference();
  c.poison();
  c.runOld();
  const auto old = download(c.D.ptr, c.D.count);
  auto valid = [&](int r) { return c.mIdx[r] >= 0; };
  const Compare co = compare(old, ref, nullptr, c.mSum, N, valid);
  std::printf("check %-28s old kernel            rel %.2e nan %lld\n", name, co.rel, co.nan);
  for (const auto& cfg : cfgs) {
    c.poison();
    if (!c.runNew(cfg)) {
      std::printf("check %-28s bn %d mc %d: not covered\n", name, cfg.bn, cfg.multicast);
      continue;
    }
    MOE_CUDA_CHECK(cudaDeviceSynchronize());
    const auto got = download(c.D.ptr, c.D.count);
    const Compare r = compare(got, ref, &old, c.mSum, N, valid);
    const bool ok = r.nan == 0 && r.rel < kTolerance;
    failures += !ok;
    std::printf("check %-28s bn %3d mc %d %s rel %.2e nan %lld, differs from old kernel in %lld of %lld\n", name, cfg.bn, cfg.multicast,
                ok ? "ok  " : "FAIL", r.rel, r.nan, r.bitsDiffer, r.compared);
  }
}

void checkMasked(const char* name, const std::vector<int>& mm, int maxM, int N, int K, const std::vector<Sm90TmaConfig>& cfgs) {
  Masked c(mm, maxM, N, K, 91 + N + K + maxM);
  const auto ref = c.reference();
  auto valid = [&](int r) { return r % maxM < c.mm[r / maxM]; };
  for (const auto& cfg : cfgs) {
    c.poison();
    if (!c.runNew(cfg)) {
      std::printf("check %-28s bn %d mc %d: not covered\n", name, cfg.bn, cfg.multicast);
      continue;
    }
    MOE_CUDA_CHECK(cudaDeviceSynchronize());
    const auto got = download(c.D.ptr, c.D.count);
    const Compare r = compare(got, ref, nullptr, c.E * maxM, N, valid);
    const bool ok = r.nan == 0 && r.rel < kTolerance;
    failures += !ok;
    std::printf("check %-28s bn %3d mc %d %s rel %.2e nan %lld (%lld compared)\n", name, cfg.bn, cfg.multicast, ok ? "ok  " : "FAIL", r.rel,
                r.nan, r.compared);
  }
}

}  // namespace

int main(int argc, char** argv) {
  setenv("MOE_GEMM", "wgmma", 1);  // launchGroupedGemm → the previous kernel (the reference for speed and bits)
  const std::string mode = argc > 1 ? argv[1] : "check";
  const auto cfgs = configs(argc, argv);
  try {
    if (mode == "check") {
      checkContig("contig E3 K128 N256", {1, 130, 257}, 256, 128, cfgs);
      checkContig("contig E4 K384 N640", {64, 0, 200, 129}, 640, 384, cfgs);
      checkContig("contig E5 K512 N1024", {37, 300, 128, 5, 250}, 1024, 512, cfgs);
      checkContig("contig E2 K1024 N384", {255, 3}, 384, 1024, cfgs);
      checkContig("contig E8 K2048 N512 (layer)", {40, 20, 10, 3, 0, 17, 9, 30}, 512, 2048, cfgs);
      checkContig("contig E7 K768 N2048", {259, 1, 512, 129, 64, 0, 300}, 2048, 768, cfgs);
      checkMasked("masked E4 maxM96", {96, 0, 50, 1}, 96, 512, 512, cfgs);
      checkMasked("masked E3 maxM200", {200, 130, 7}, 200, 768, 256, cfgs);
      checkMasked("masked E5 maxM256", {256, 255, 129, 128, 0}, 256, 1024, 1024, cfgs);
      std::printf("check: %d failure(s)\n", failures);
    } else if (mode == "one") {
      // gemm_variants one SHAPE BN MC: two launches of one shape (for ncu); BN 0 = the previous kernel
      const int idx = argc > 2 ? std::atoi(argv[2]) : 0;
      const int shapes[5][4] = {{32, 240, 4096, 7168}, {32, 255, 7168, 2048}, {128, 250, 1536, 2048}, {128, 259, 2048, 768}, {4, 9200, 6144, 7168}};
      const auto* s = shapes[idx];
      Contig c(std::vector<int>(s[0], s[1]), s[2], s[3], 5);
      const int bn = argc > 3 ? std::atoi(argv[3]) : 192, mc = argc > 4 ? std::atoi(argv[4]) : 2;
      for (int i = 0; i < 2; i++) {
        if (bn == 0) c.runOld();
        else c.runNew(Sm90TmaConfig{bn, mc});
      }
      MOE_CUDA_CHECK(cudaDeviceSynchronize());
      std::printf("one: shape %d bn %d mc %d done\n", idx, bn, mc);
    } else {
      struct Shape {
        const char* name;
        int experts, rows, N, K;
      };
      const Shape shapes[] = {{"DeepSeek-V3 EP8 GEMM1", 32, 240, 4096, 7168},
                              {"DeepSeek-V3 EP8 GEMM2", 32, 255, 7168, 2048},
                              {"Qwen3-30B-A3B GEMM1", 128, 250, 1536, 2048},
                              {"Qwen3-30B-A3B GEMM2", 128, 259, 2048, 768},
                              {"large", 4, 9200, 6144, 7168}};
      const int reps = 20;
      for (const auto& s : shapes) {
        Contig c(std::vector<int>(s.experts, s.rows), s.N, s.K, 5);
        const double flops = 2.0 * c.useful() * s.N * s.K;
        c.poison();
        const double tOld = timeMedian([&] { c.runOld(); }, reps);
        const auto old = download(c.D.ptr, c.D.count);
        const auto picked = pickSm90TmaConfig(s.rows, c.mSum / 128, s.N, s.K);
        std::printf("time %-24s old %7.1f us %6.0f TFLOP/s | picks bn %d mc %d\n", s.name, tOld * 1e3, flops / tOld / 1e9, picked.bn, picked.multicast);
        for (const auto& cfg : cfgs) {
          c.poison();
          const double t = timeMedian([&] { c.runNew(cfg); }, reps);
          const auto got = download(c.D.ptr, c.D.count);
          std::vector<float> oldF(old.size());
          for (size_t i = 0; i < old.size(); i++) oldF[i] = bf16ToFloatHost(old[i]);
          const Compare r = compare(got, oldF, &old, c.mSum, s.N, [&](int row) { return c.mIdx[row] >= 0; });
          std::printf("time %-24s bn %3d mc %d %7.1f us %6.0f TFLOP/s  %.2fx old  (vs old: rel %.1e, nan %lld, bits differ %lld)\n", s.name, cfg.bn,
                      cfg.multicast, t * 1e3, flops / t / 1e9, tOld / t, r.rel, r.nan, r.bitsDiffer);
        }
      }
      // masked: DeepSeek-V3 decode-like (32 experts, max_m 256, ~192 valid rows each)
      std::vector<int> mm(32);
      for (int e = 0; e < 32; e++) mm[e] = 160 + (e * 37) % 64;
      Masked mk(mm, 256, 4096, 7168, 9);
      long long useful = 0;
      for (int v : mm) useful += v;
      const double flops = 2.0 * useful * 4096 * 7168;
      for (const auto& cfg : cfgs) {
        mk.poison();
        const double t = timeMedian([&] { mk.runNew(cfg); }, reps);
        std::printf("time %-24s bn %3d mc %d %7.1f us %6.0f TFLOP/s\n", "masked 32x256 4096 7168", cfg.bn, cfg.multicast, t * 1e3, flops / t / 1e9);
      }
    }
  } catch (const std::exception& ex) {
    std::printf("error: %s\n", ex.what());
    return 1;
  }
  return failures ? 1 : 0;
}
