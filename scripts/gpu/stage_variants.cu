// Development harness for the memory-bound stage kernels (kernels/native/{quantize,activation,permute,unpermute}.cu),
// built here by scripts/gpu/build-stage-variants.sh and run on the GPU machine by scripts/gpu/device-gemm.sh (step
// "stages"; not part of the addon, not a test). Five builds of the same launchers side by side:
//   moe                          "new": the working tree's kernels
//   moe_old                      "old": the kernels of a base revision (compiled with -Dmoe=moe_old)
//   moe_alt, moe_alt2, moe_alt3  "alt…": the working tree's kernels with other tuning knobs (-Dmoe=moe_alt -DMOE_…)
// For each stage on the layer shapes of `npm run bench:gpu` (and small odd ones) it checks that the outputs of all
// builds are byte-identical (outputs poisoned first; inputs are hashes, never zeros, with rows of varied magnitude),
// then prints CUDA-event medians and the fraction of the device-to-device copy bandwidth measured in the same run,
// after what a plain cudaMemcpy reaches at the stages' sizes timed the same way (launch and ramp included).
// `stage_variants profile` runs each timed case once for old and new, untimed, for Nsight Compute (kernel-only
// durations: `ncu --clock-control none --section SpeedOfLight -k regex:quantizeActivationsKernel stage_variants profile`).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>
#include "../../kernels/native/common.cuh"
#include "../../kernels/native/ops.h"

// the same declarations in the other two namespaces (build-stage-variants.sh strips #pragma once from the base
// revision's ops.h and the working tree's)
#define moe moe_old
#include "ops_old.h"
#undef moe
#define moe moe_alt
#include "ops_again.h"
#undef moe
#define moe moe_alt2
#include "ops_again.h"
#undef moe
#define moe moe_alt3
#include "ops_again.h"
#undef moe

using namespace moe;

namespace {

int failures = 0;
double copyTBs = 0;

__device__ inline float hashUniform(unsigned long long i, unsigned long long seed) {
  unsigned long long z = i * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}
// bf16 values whose magnitude varies by row (2^-20 … 2^20) so every scale path is taken; a few exact zeros
__global__ void fillBf16(uint16_t* p, size_t n, int rowLen, unsigned long long seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t row = i / rowLen;
    const int e = static_cast<int>((row * 7) % 41) - 20;
    float v = hashUniform(i, seed) * ldexpf(1.0f, e);
    if (hashUniform(i, seed + 99) > 0.995f) v = 0.f;
    p[i] = floatToBf16Bits(v);
  }
}
__global__ void fillF32(float* p, size_t n, float lo, float hi, unsigned long long seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x)
    p[i] = lo + (hi - lo) * (0.5f + 0.5f * hashUniform(i, seed));
}
__global__ void fillFp8(uint8_t* p, size_t n, unsigned long long seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x)
    p[i] = toE4M3(hashUniform(i, seed) * 4.0f);
}

template <typename T>
struct Buf : DeviceBuffer<T> {
  explicit Buf(size_t n) : DeviceBuffer<T>(std::max<size_t>(n, 1)) { poison(); }
  void poison() { MOE_CUDA_CHECK(cudaMemset(this->ptr, 0xA5, this->bytes())); }
  std::vector<uint8_t> host() const {
    std::vector<uint8_t> h(this->bytes());
    MOE_CUDA_CHECK(cudaMemcpy(h.data(), this->ptr, h.size(), cudaMemcpyDeviceToHost));
    return h;
  }
};

void same(const std::string& what, const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < a.size(); i++)
    if (a[i] != b[i] && !bad++) first = i;
  if (bad) {
    failures++;
    std::printf("  MISMATCH %s: %zu of %zu bytes differ (first at byte %zu)\n", what.c_str(), bad, a.size(), first);
  }
}

double timeMs(const std::function<void()>& f, int reps = 20) {
  f();
  f();
  MOE_CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  MOE_CUDA_CHECK(cudaEventCreate(&a));
  MOE_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<double> v;
  for (int r = 0; r < reps; r++) {
    MOE_CUDA_CHECK(cudaEventRecord(a));
    f();
    MOE_CUDA_CHECK(cudaEventRecord(b));
    MOE_CUDA_CHECK(cudaEventSynchronize(b));
    float ms;
    MOE_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    v.push_back(ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(v.begin(), v.end());
  return 0.5 * (v[(reps - 1) / 2] + v[reps / 2]);
}

constexpr int kBuilds = 5;
const char* const kBuildNames[kBuilds] = {"old", "new", "alt", "alt2", "alt3"};
bool profileMode = false;  // argv "profile": every timed case runs once per build, untimed (for ncu)

void report(const std::string& name, double bytes, const double* ms) {
  auto pc = [&](double t) { return 100.0 * bytes / t / 1e9 / copyTBs; };
  std::printf("TIME %-44s %8.1f MB", name.c_str(), bytes / 1e6);
  for (int v = 0; v < kBuilds; v++) std::printf(" | %s %6.1f us %3.0f%%", kBuildNames[v], ms[v] * 1e3, pc(ms[v]));
  std::printf("\n");
}

// ---- the builds behind one interface ----
#define IMPL(ns, GATHER)                                                                                                              \
  struct Impl_##ns {                                                                                                        \
    static void quant(const void* x, bool bf16, int M, int K, int conv, bool ue8m0, const float* w, uint8_t* q, float* s,   \
                      int layout, int mn) {                                                                                 \
      ns::launchQuantizeActivations(x, bf16, M, K, static_cast<ns::Convention>(conv), ue8m0, w, q, s,                       \
                                    static_cast<ns::ScaleOut>(layout), mn, nullptr);                                         \
    }                                                                                                                       \
    static void quantMasked(const void* x, int E, int maxM, int K, const int* mm, int conv, bool ue8m0, uint8_t* q, float* s) { \
      ns::launchQuantizeMaskedRows(x, true, E, maxM, K, mm, static_cast<ns::Convention>(conv), ue8m0, q, s, nullptr);        \
    }                                                                                                                       \
    static void act(const uint16_t* d1, int rows, int N, int kind, float clamp, const float* w, uint16_t* out) {             \
      ns::launchActivation(d1, rows, N, static_cast<ns::Activation>(kind), clamp, w, out, nullptr);                          \
    }                                                                                                                       \
    static void actMasked(const uint16_t* d1, int E, int maxM, int N, const int* mm, uint16_t* out) {                        \
      ns::launchActivationMasked(d1, E, maxM, N, mm, ns::Activation::Silu, 0.f, out, nullptr);                               \
    }                                                                                                                       \
    static void permute(const int* ids, int M, int k, int E, int* local, int* hist, int* counts, int* seg, int mSum, int* mIdx, \
                        int* inv, int* rowPair, const uint8_t* q, const float* s, const float* tw, int K, uint8_t* aPerm,   \
                        float* sfa, float* rw) {                                                                            \
      ns::PermuteScratch sc{local, hist, counts, seg};                                                                      \
      ns::launchPermuteIndices(ids, false, M, k, nullptr, E, E, 128, sc, nullptr);                                          \
      ns::launchPermuteRows(M, k, E, mSum, sc, mIdx, inv, rowPair, nullptr);                                                \
      GATHER;                                                                                                               \
    }                                                                                                                       \
    static void gather(const uint8_t* q, const float* s, const float* tw, int K, int M, int k, const int* inv, int mSum,    \
                       const int* rowPair, uint8_t* aPerm, float* sfa, float* rw) {                                         \
      GATHER;                                                                                                               \
    }                                                                                                                       \
    static void unpermute(const uint16_t* d2, int K, const int* inv, const float* tw, int M, int k, uint16_t* y) {           \
      ns::launchUnpermute(d2, K, inv, tw, M, k, y, nullptr);                                                                \
    }                                                                                                                       \
  };
#define GATHER_TOKENS(ns) ns::launchPermuteGather(q, s, tw, K, K / 128, k, M, inv, mSum, rowPair, aPerm, sfa, rw, nullptr)
IMPL(moe, GATHER_TOKENS(moe))
IMPL(moe_old, GATHER_TOKENS(moe_old))
IMPL(moe_alt, GATHER_TOKENS(moe_alt))
IMPL(moe_alt2, GATHER_TOKENS(moe_alt2))
IMPL(moe_alt3, GATHER_TOKENS(moe_alt3))

// f(impl) for build v (0 old, 1 new, 2… the alternatives)
template <typename F>
void onBuild(int v, F&& f) {
  if (v == 0) f(Impl_moe_old{});
  if (v == 1) f(Impl_moe{});
  if (v == 2) f(Impl_moe_alt{});
  if (v == 3) f(Impl_moe_alt2{});
  if (v == 4) f(Impl_moe_alt3{});
}

// Runs f(impl) for every build on poisoned outputs, compares the outputs byte for byte, times each.
template <typename Outs, typename F>
void compareAndTime(const std::string& name, double bytes, Outs& outs, F f, bool timeIt = true) {
  std::vector<std::vector<uint8_t>> ref;
  double ms[kBuilds] = {};
  for (int v = 0; v < kBuilds; v++) {
    if (profileMode) {  // old and new only
      if (timeIt && v < 2) onBuild(v, f);
      continue;
    }
    for (auto* o : outs) o->poison();
    onBuild(v, f);
    MOE_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<std::vector<uint8_t>> got;
    for (auto* o : outs) got.push_back(o->host());
    if (v == 0) ref = got;
    else
      for (size_t i = 0; i < got.size(); i++) same(name + " " + kBuildNames[v] + " output " + std::to_string(i), ref[i], got[i]);
    if (timeIt) ms[v] = timeMs([&] { onBuild(v, f); });
  }
  if (profileMode) MOE_CUDA_CHECK(cudaDeviceSynchronize());
  else if (timeIt) report(name, bytes, ms);
  else std::printf("CHECK %s done\n", name.c_str());
}

struct Poisonable {
  virtual void poison() = 0;
  virtual std::vector<uint8_t> host() const = 0;
  virtual ~Poisonable() = default;
};
template <typename T>
struct Out : Poisonable {
  Buf<T>& b;
  explicit Out(Buf<T>& x) : b(x) {}
  void poison() override { b.poison(); }
  std::vector<uint8_t> host() const override { return b.host(); }
};

void quantCase(const std::string& name, int M, int K, int conv, bool ue8m0, bool mnMajor, bool weighted, bool timeIt) {
  const int G = K / 128;
  Buf<uint16_t> x(static_cast<size_t>(M) * K);
  fillBf16<<<2048, 256>>>(x.ptr, x.count, K, 11);
  Buf<float> w(M);
  fillF32<<<256, 256>>>(w.ptr, w.count, 0.05f, 2.0f, 12);
  Buf<uint8_t> q(static_cast<size_t>(M) * K);
  Buf<float> s(static_cast<size_t>(M) * G);
  Out<uint8_t> oq(q);
  Out<float> os(s);
  std::vector<Poisonable*> outs{&oq, &os};
  compareAndTime(name, 3.0 * M * K + 4.0 * M * G, outs, [&](auto impl) {
    impl.quant(x.ptr, true, M, K, conv, ue8m0, weighted ? w.ptr : nullptr, q.ptr, s.ptr, mnMajor ? 1 : 0, mnMajor ? M : 0);
  }, timeIt);
}

void quantMaskedCase(const std::string& name, int E, int maxM, int K, bool timeIt) {
  std::vector<int> mm(E);
  for (int e = 0; e < E; e++) mm[e] = e == 1 ? 0 : (e * 37 + 5) % (maxM + 1);
  Buf<int> dm(E);
  MOE_CUDA_CHECK(cudaMemcpy(dm.ptr, mm.data(), E * 4, cudaMemcpyHostToDevice));
  Buf<uint16_t> x(static_cast<size_t>(E) * maxM * K);
  fillBf16<<<2048, 256>>>(x.ptr, x.count, K, 13);
  Buf<uint8_t> q(static_cast<size_t>(E) * maxM * K);
  Buf<float> s(static_cast<size_t>(E) * maxM * (K / 128));
  Out<uint8_t> oq(q);
  Out<float> os(s);
  std::vector<Poisonable*> outs{&oq, &os};
  compareAndTime(name, 3.0 * E * maxM * K, outs, [&](auto impl) { impl.quantMasked(x.ptr, E, maxM, K, dm.ptr, 0, false, q.ptr, s.ptr); }, timeIt);
}

void actCase(const std::string& name, int rows, int N, int kind, bool weighted, bool timeIt) {
  Buf<uint16_t> d1(static_cast<size_t>(rows) * 2 * N);
  fillBf16<<<2048, 256>>>(d1.ptr, d1.count, 2 * N, 21);
  Buf<float> w(rows);
  fillF32<<<256, 256>>>(w.ptr, w.count, 0.05f, 2.0f, 22);
  Buf<uint16_t> out(static_cast<size_t>(rows) * N);
  Out<uint16_t> o(out);
  std::vector<Poisonable*> outs{&o};
  compareAndTime(name, 6.0 * rows * N, outs, [&](auto impl) { impl.act(d1.ptr, rows, N, kind, 7.0f, weighted ? w.ptr : nullptr, out.ptr); }, timeIt);
}

void actMaskedCase(const std::string& name, int E, int maxM, int N) {
  std::vector<int> mm(E);
  for (int e = 0; e < E; e++) mm[e] = (e * 53 + 3) % (maxM + 1);
  Buf<int> dm(E);
  MOE_CUDA_CHECK(cudaMemcpy(dm.ptr, mm.data(), E * 4, cudaMemcpyHostToDevice));
  Buf<uint16_t> d1(static_cast<size_t>(E) * maxM * 2 * N);
  fillBf16<<<2048, 256>>>(d1.ptr, d1.count, 2 * N, 23);
  Buf<uint16_t> out(static_cast<size_t>(E) * maxM * N);
  Out<uint16_t> o(out);
  std::vector<Poisonable*> outs{&o};
  compareAndTime(name, 0, outs, [&](auto impl) { impl.actMasked(d1.ptr, E, maxM, N, dm.ptr, out.ptr); }, false);
}

// The permute stage (indices, rows, gather) and the unpermute on one routing; uniform top-k distinct experts, a few −1.
void routingCase(const std::string& name, int M, int K, int E, int k, bool timeIt) {
  std::mt19937 rng(5);
  std::vector<int> ids(static_cast<size_t>(M) * k);
  for (int t = 0; t < M; t++)
    for (int s = 0; s < k; s++) {
      int e;
      bool dup;
      do {
        e = static_cast<int>(rng() % E);
        dup = false;
        for (int q = 0; q < s; q++) dup |= ids[static_cast<size_t>(t) * k + q] == e;
      } while (dup && k <= E);
      ids[static_cast<size_t>(t) * k + s] = (rng() % 97 == 0) ? -1 : e;
    }
  const int pairs = M * k, G = K / 128;
  const int chunks = permuteChunks(pairs);
  Buf<int> dIds(pairs), local(pairs), hist(static_cast<size_t>(chunks) * E), counts(E), seg(E + 1), inv(pairs);
  MOE_CUDA_CHECK(cudaMemcpy(dIds.ptr, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice));
  Buf<uint8_t> q(static_cast<size_t>(M) * K);
  fillFp8<<<2048, 256>>>(q.ptr, q.count, 31);
  Buf<float> s(static_cast<size_t>(M) * G), tw(pairs);
  fillF32<<<256, 256>>>(s.ptr, s.count, 1e-3f, 4e-3f, 32);
  fillF32<<<256, 256>>>(tw.ptr, tw.count, 0.05f, 0.5f, 33);
  // M_sum from one run of the index kernels
  moe_old::PermuteScratch sc{local.ptr, hist.ptr, counts.ptr, seg.ptr};
  moe_old::launchPermuteIndices(dIds.ptr, false, M, k, nullptr, E, E, 128, sc, nullptr);
  int mSum = 0;
  MOE_CUDA_CHECK(cudaMemcpy(&mSum, seg.ptr + E, 4, cudaMemcpyDeviceToHost));
  Buf<int> mIdx(mSum), rowPair(mSum);
  Buf<uint8_t> aPerm(static_cast<size_t>(mSum) * K);
  Buf<float> sfa(static_cast<size_t>(mSum) * G), rw(mSum);
  Out<int> o1(mIdx), o2(inv), o3(rowPair);
  Out<uint8_t> o4(aPerm);
  Out<float> o5(sfa), o6(rw);
  std::vector<Poisonable*> outs{&o1, &o2, &o3, &o4, &o5, &o6};
  const double S = mSum;
  const double permBytes = 1.0 * M * K + 4.0 * M * G + 4.0 * pairs + S * K + 4 * S * G + 4 * S + 4.0 * pairs;
  compareAndTime(name + " permute (stage)", permBytes, outs, [&](auto impl) {
    impl.permute(dIds.ptr, M, k, E, local.ptr, hist.ptr, counts.ptr, seg.ptr, mSum, mIdx.ptr, inv.ptr, rowPair.ptr, q.ptr, s.ptr, tw.ptr,
                 K, aPerm.ptr, sfa.ptr, rw.ptr);
  }, timeIt);
  if (timeIt && !profileMode) {  // the gather alone (indices stay from the last run), and a memset of its destination
    double g[kBuilds];
    for (int v = 0; v < kBuilds; v++)
      g[v] = timeMs([&] { onBuild(v, [&](auto impl) { impl.gather(q.ptr, s.ptr, tw.ptr, K, M, k, inv.ptr, mSum, rowPair.ptr, aPerm.ptr, sfa.ptr, rw.ptr); }); });
    report(name + " gather only", S * K + 4 * S * G + M * K, g);
    const double ms = timeMs([&] { MOE_CUDA_CHECK(cudaMemsetAsync(aPerm.ptr, 1, aPerm.bytes())); });
    std::printf("TIME %-44s %8.1f MB | memset %7.1f us (%.2f TB/s write-only)\n", (name + " memset of A_perm").c_str(), S * K / 1e6,
                ms * 1e3, S * K / ms / 1e9);
  }
  // unpermute over the same routing: d2 (M_sum, K) bf16
  Buf<uint16_t> d2(static_cast<size_t>(mSum) * K), y(static_cast<size_t>(M) * K);
  fillBf16<<<2048, 256>>>(d2.ptr, d2.count, K, 34);
  Out<uint16_t> oy(y);
  std::vector<Poisonable*> youts{&oy};
  compareAndTime(name + " unpermute", 2.0 * pairs * K + 12.0 * pairs + 2.0 * M * K, youts,
                 [&](auto impl) { impl.unpermute(d2.ptr, K, inv.ptr, tw.ptr, M, k, y.ptr); }, timeIt);
}

}  // namespace

int main(int argc, char** argv) {
  profileMode = argc > 1 && std::strcmp(argv[1], "profile") == 0;
  try {
    cudaDeviceProp p;
    MOE_CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
    {
      const size_t n = 1ull << 30;
      DeviceBuffer<uint8_t> a(n), b(n);
      MOE_CUDA_CHECK(cudaMemset(a.ptr, 7, n));
      const double ms = timeMs([&] { MOE_CUDA_CHECK(cudaMemcpyAsync(b.ptr, a.ptr, n, cudaMemcpyDeviceToDevice)); });
      copyTBs = 2.0 * n / ms / 1e9;
    }
    std::printf("%s, %d SMs; device-to-device copy of 1 GiB: %.2f TB/s (read + written)\n", p.name, p.multiProcessorCount, copyTBs);
    if (!profileMode) {  // what a plain copy reaches at the stages' sizes (bytes read + written), for scale
      DeviceBuffer<uint8_t> a(256u << 20), b(256u << 20);
      MOE_CUDA_CHECK(cudaMemset(a.ptr, 7, a.bytes()));
      for (double mb : {51.0, 89.0, 171.0, 215.0, 339.0, 426.0}) {
        const size_t n = static_cast<size_t>(mb * 1e6 / 2);
        const double ms = timeMs([&] { MOE_CUDA_CHECK(cudaMemcpyAsync(b.ptr, a.ptr, n, cudaMemcpyDeviceToDevice)); });
        std::printf("COPY %5.0f MB moved: %6.1f us, %.2f TB/s, %3.0f%% of the 1 GiB copy\n", mb, ms * 1e3, 2.0 * n / ms / 1e9,
                    100.0 * 2.0 * n / ms / 1e9 / copyTBs);
      }
    }
    // correctness on small and odd shapes, all paths (not timed; skipped when profiling)
    if (!profileMode) {
    quantCase("quant small vllm f32", 37, 384, 0, false, false, false, false);
    quantCase("quant small vllm f32 weighted", 257, 256, 0, false, false, true, false);
    quantCase("quant small deepgemm", 129, 128, 1, false, false, false, false);
    quantCase("quant small deepgemm ue8m0 mn", 131, 640, 1, true, true, false, false);
    quantCase("quant small vllm ue8m0 mn", 65, 1024, 0, true, true, false, false);
    quantMaskedCase("quant masked E6 maxM 96", 6, 96, 512, false);
    actCase("act small swiglu weighted", 333, 384, 1, true, false);
    actCase("act small silu", 7, 128, 0, false, false);
    actMaskedCase("act masked E5 maxM 64", 5, 64, 256);
    routingCase("routing small M37 K512 E4 k2", 37, 512, 4, 2, false);
    routingCase("routing small M300 K256 E64 k6", 300, 256, 64, 6, false);
    routingCase("routing small M100 K7168 E32 k8", 100, 7168, 32, 8, false);
    quantCase("quant mid vllm f32 mn", 3001, 768, 0, false, true, false, false);
    }
    // the bench's shapes (timed)
    if (!profileMode) quantCase("quantize 32768x7168 vllm f32 (bench)", 32768, 7168, 0, false, false, false, true);
    quantCase("quantize DeepSeek 4096x7168 ue8m0", 4096, 7168, 0, true, false, false, true);
    quantCase("quantize Qwen 8192x2048 f32", 8192, 2048, 0, false, false, false, true);
    quantCase("requantize DeepSeek 34688x2048 ue8m0 mn", 34688, 2048, 0, true, true, false, true);
    quantCase("requantize Qwen 73600x768 f32 mn", 73600, 768, 0, false, true, false, true);
    if (!profileMode) quantMaskedCase("quantize masked 32x256x7168", 32, 256, 7168, true);
    actCase("activation DeepSeek 34688x2048", 34688, 2048, 0, false, true);
    actCase("activation Qwen 73600x768", 73600, 768, 0, false, true);
    routingCase("DeepSeek M4096 K7168 E32 k8", 4096, 7168, 32, 8, true);
    routingCase("Qwen M8192 K2048 E128 k8", 8192, 2048, 128, 8, true);
  } catch (const std::exception& e) {
    std::printf("ERROR %s\n", e.what());
    return 2;
  }
  std::printf("%s: %d mismatches\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
