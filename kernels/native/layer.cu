// Orchestrates the stage launchers into the whole layer (spec §13 order) on one stream, then times each stage by
// replaying it: every stage is idempotent (it rewrites its outputs from inputs that stay put), so a replay
// measures exactly the launches of that stage. Device buffers are RAII locals: memory is flat across runs.
#include <algorithm>
#include <functional>
#include "common.cuh"
#include "layer.h"

namespace moe {

const char* const kStageNames[kStages] = {"quantize", "transform_scales", "permute", "gemm1",
                                          "activation", "requantize", "gemm2", "unpermute"};

double medianMs(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void validateLayer(const LayerConfig& c, const LayerHostInputs& in) {
  auto dims = [&]() {
    return " (M " + std::to_string(c.M) + ", K " + std::to_string(c.K) + ", N " + std::to_string(c.N) + ", E " +
           std::to_string(c.E) + ", topk " + std::to_string(c.topk) + ")";
  };
  require(c.M > 0, "E_SHAPE", "hidden_states: expected at least one token, got M = " + std::to_string(c.M));
  require(c.K > 0 && c.K % 128 == 0, "E_SHAPE", "hidden_states: hidden size K must be a positive multiple of 128" + dims());
  require(c.N > 0 && c.N % 128 == 0, "E_SHAPE", "w2_weight: intermediate size N must be a positive multiple of 128" + dims());
  require(c.E > 0 && c.topk > 0, "E_SHAPE", "topk_ids: expected E ≥ 1 local experts and top-k ≥ 1" + dims());
  require(c.eGlobal >= c.E, "E_SHAPE", "expert_map: global experts " + std::to_string(c.eGlobal) + " fewer than local " + std::to_string(c.E));
  require(static_cast<long long>(c.M) * c.topk < (1ll << 30), "E_SHAPE", "topk_ids: too many (token, slot) pairs" + dims());
  require(c.arch == 90 || c.arch == 100, "E_SPEC", "arch must be sm90 or sm100");
  require(c.arch != 100 || c.ue8m0, "E_SPEC",
          "a1q_scale: SM100 needs packed UE8M0 scales; the recipe's scale format is f32 (use scaleFormat 'ue8m0')");
  require(c.routerWeight != RouterWeight::Input || c.topk == 1, "E_SPEC",
          "topk_weights: applying the router weight on the input needs top-k = 1, got " + std::to_string(c.topk));
  require(c.act != Activation::SwiGlu || c.clampLimit > 0, "E_SPEC", "activation: clamped SwiGLU needs a positive clamp limit");
  require(c.repeats >= 1 && c.repeats <= 1000, "E_VALUE", "repeats must be within 1…1000");
  require(in.x && in.topkIds && in.topkWeights && in.w13 && in.w13Scale && in.w2 && in.w2Scale, "E_SHAPE", "layer: an input tensor is missing");
  const long long pairs = static_cast<long long>(c.M) * c.topk;
  for (long long p = 0; p < pairs; p++) {
    const long long id = c.ids64 ? static_cast<const int64_t*>(in.topkIds)[p] : static_cast<const int32_t*>(in.topkIds)[p];
    if (id < -1 || id >= c.eGlobal)
      throw MoeNativeError("E_VALUE", "topk_ids: entry " + std::to_string(p) + " is " + std::to_string(id) +
                                          ", expected −1 or an expert id in [0, " + std::to_string(c.eGlobal) + ")");
  }
  if (c.hasExpertMap) {
    require(in.expertMap != nullptr, "E_SHAPE", "expert_map: missing");
    for (int g = 0; g < c.eGlobal; g++) {
      const int v = in.expertMap[g];
      if (v < -1 || v >= c.E)
        throw MoeNativeError("E_VALUE", "expert_map: entry " + std::to_string(g) + " is " + std::to_string(v) +
                                            ", expected −1 or a local expert id in [0, " + std::to_string(c.E) + ")");
    }
  }
}

namespace {

template <typename T>
void upload(DeviceBuffer<T>& d, const void* host, size_t n) {
  d.alloc(n);
  if (n) MOE_CUDA_CHECK(cudaMemcpy(d.ptr, host, n * sizeof(T), cudaMemcpyHostToDevice));
}

template <typename T>
void download(std::vector<T>& v, const T* d, size_t n) {
  v.resize(n);
  if (n) MOE_CUDA_CHECK(cudaMemcpy(v.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
}

struct Timer {
  cudaEvent_t a = nullptr, b = nullptr;
  Timer() {
    MOE_CUDA_CHECK(cudaEventCreate(&a));
    MOE_CUDA_CHECK(cudaEventCreate(&b));
  }
  ~Timer() {
    cudaEventDestroy(a);
    cudaEventDestroy(b);
  }
  double time(const std::function<void()>& f, cudaStream_t s) {
    MOE_CUDA_CHECK(cudaEventRecord(a, s));
    f();
    MOE_CUDA_CHECK(cudaEventRecord(b, s));
    MOE_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    MOE_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    return ms;
  }
};

}  // namespace

void runLayerOnDevice(const LayerConfig& c, const LayerDeviceInputs& in, LayerOutputs& out, bool fetch) {
  cudaStream_t st = nullptr;  // the legacy default stream: the addon runs one layer at a time
  const int G = c.K / 128, GN = c.N / 128, Ma = alignUp(c.M, 4);
  const int pairs = c.M * c.topk, chunks = permuteChunks(pairs);
  const bool sm100 = c.arch == 100;

  DeviceBuffer<uint8_t> a1q(static_cast<size_t>(c.M) * c.K);
  DeviceBuffer<float> a1qScale(static_cast<size_t>(c.M) * G);
  DeviceBuffer<float> layoutF(sm100 ? 0 : static_cast<size_t>(G - 1) * Ma + c.M);
  DeviceBuffer<int32_t> layoutI(sm100 ? static_cast<size_t>(Ma) * ceilDiv(G, 4) : 0);
  DeviceBuffer<int> localExpert(std::max(pairs, 1)), chunkHist(static_cast<size_t>(std::max(chunks, 1)) * c.E),
      counts(c.E), segOffset(c.E + 1), invPerm(std::max(pairs, 1));
  PermuteScratch scratch{localExpert.ptr, chunkHist.ptr, counts.ptr, segOffset.ptr};

  auto quantize = [&] {
    launchQuantizeActivations(in.x, c.xBf16, c.M, c.K, c.conv, c.ue8m0,
                              c.routerWeight == RouterWeight::Input ? in.topkWeights : nullptr, a1q.ptr, a1qScale.ptr,
                              ScaleOut::RowMajor, 0, st);
  };
  auto transform = [&] {
    if (sm100) launchPackUe8m0(a1qScale.ptr, 1, c.M, G, 0, layoutI.ptr, st);
    else launchScalesToMnMajor(a1qScale.ptr, 1, c.M, G, layoutF.ptr, st);
  };
  auto permuteIndices = [&] {
    launchPermuteIndices(in.topkIds, c.ids64, c.M, c.topk, c.hasExpertMap ? in.expertMap : nullptr, c.eGlobal, c.E, 128, scratch, st);
  };

  // First pass up to the permutation: M_sum decides every later allocation, so it is read back once.
  quantize();
  transform();
  permuteIndices();
  int mSum = 0;
  MOE_CUDA_CHECK(cudaMemcpy(&mSum, segOffset.ptr + c.E, sizeof(int), cudaMemcpyDeviceToHost));
  out.mSum = mSum;

  const size_t rows = static_cast<size_t>(mSum);
  DeviceBuffer<int> mIndices(std::max<size_t>(rows, 1)), rowPair(std::max<size_t>(rows, 1));
  DeviceBuffer<uint8_t> aPerm(rows * c.K), a2q(rows * c.N);
  DeviceBuffer<float> sfaMn(rows * G), rowWeight(std::max<size_t>(rows, 1)), a2sMn(rows * GN);
  DeviceBuffer<int32_t> sfaPacked(sm100 ? rows * ceilDiv(G, 4) : 0), a2sPacked(sm100 ? rows * ceilDiv(GN, 4) : 0);
  DeviceBuffer<uint16_t> mm1(rows * 2 * c.N), act(rows * c.N), mm2(rows * c.K), y(static_cast<size_t>(c.M) * c.K);
  // The GEMMs skip tiles that hold only padding rows, so those rows of the intermediates are never written: they
  // start at zero (as on the CPU path) rather than as garbage the inspector would draw. The output is poisoned
  // with NaN (0xFFFF) instead: every one of its elements must be written.
  if (mm1.bytes()) MOE_CUDA_CHECK(cudaMemsetAsync(mm1.ptr, 0, mm1.bytes(), st));
  if (act.bytes()) MOE_CUDA_CHECK(cudaMemsetAsync(act.ptr, 0, act.bytes(), st));
  if (mm2.bytes()) MOE_CUDA_CHECK(cudaMemsetAsync(mm2.ptr, 0, mm2.bytes(), st));
  if (a2q.bytes()) MOE_CUDA_CHECK(cudaMemsetAsync(a2q.ptr, 0, a2q.bytes(), st));
  if (y.bytes()) MOE_CUDA_CHECK(cudaMemsetAsync(y.ptr, 0xff, y.bytes(), st));

  const float* routerAtAct = c.routerWeight == RouterWeight::Activation ? rowWeight.ptr : nullptr;
  const float* routerAtReduce = c.routerWeight == RouterWeight::Reduce ? in.topkWeights : nullptr;
  auto permuteRest = [&] {
    launchPermuteRows(c.M, c.topk, c.E, mSum, scratch, mIndices.ptr, invPerm.ptr, rowPair.ptr, st);
    launchPermuteGather(a1q.ptr, a1qScale.ptr, in.topkWeights, c.K, G, c.topk, mSum, rowPair.ptr, aPerm.ptr, sfaMn.ptr,
                        rowWeight.ptr, st);
    if (sm100) launchPackUe8m0(sfaMn.ptr, 1, mSum, G, mSum, sfaPacked.ptr, st);
  };
  std::function<void()> stages[kStages] = {
      quantize,
      transform,
      [&] { permuteIndices(); permuteRest(); },
      [&] { launchGroupedGemm(aPerm.ptr, sm100 ? nullptr : sfaMn.ptr, sm100 ? sfaPacked.ptr : nullptr, in.w13, in.w13Scale,
                              mIndices.ptr, mm1.ptr, mSum, 2 * c.N, c.K, c.E, st); },
      [&] { launchActivation(mm1.ptr, mSum, c.N, c.act, c.clampLimit, routerAtAct, act.ptr, st); },
      [&] {
        launchQuantizeActivations(act.ptr, true, mSum, c.N, c.conv, c.ue8m0, nullptr, a2q.ptr, a2sMn.ptr, ScaleOut::MnMajor, mSum, st);
        if (sm100) launchPackUe8m0(a2sMn.ptr, 1, mSum, GN, mSum, a2sPacked.ptr, st);
      },
      [&] { launchGroupedGemm(a2q.ptr, sm100 ? nullptr : a2sMn.ptr, sm100 ? a2sPacked.ptr : nullptr, in.w2, in.w2Scale,
                              mIndices.ptr, mm2.ptr, mSum, c.K, c.N, c.E, st); },
      [&] { launchUnpermute(mm2.ptr, c.K, invPerm.ptr, routerAtReduce, c.M, c.topk, y.ptr, st); },
  };

  permuteRest();
  for (int s = 3; s < kStages; s++) stages[s]();
  MOE_CUDA_CHECK(cudaStreamSynchronize(st));  // surfaces any asynchronous fault of the first pass

  Timer timer;
  for (int s = 0; s < kStages; s++) {
    stages[s]();  // warm-up (caches, clocks)
    std::vector<double> ms;
    for (int r = 0; r < c.repeats; r++) ms.push_back(timer.time(stages[s], st));
    out.timesMs[s] = medianMs(ms);
  }
  MOE_CUDA_CHECK(cudaDeviceSynchronize());

  out.fetched = fetch;
  if (!fetch) return;
  download(out.a1q, a1q.ptr, a1q.count);
  download(out.a1qScale, a1qScale.ptr, a1qScale.count);
  if (sm100) download(out.a1qScaleLayoutI32, layoutI.ptr, layoutI.count);
  else download(out.a1qScaleLayoutF32, layoutF.ptr, layoutF.count);
  download(out.counts, counts.ptr, c.E);
  download(out.mIndices, mIndices.ptr, rows);
  download(out.invPerm, invPerm.ptr, pairs);
  download(out.aPerm, aPerm.ptr, aPerm.count);
  download(out.sfaPermMn, sfaMn.ptr, sfaMn.count);
  download(out.mm1, mm1.ptr, mm1.count);
  download(out.act, act.ptr, act.count);
  download(out.a2q, a2q.ptr, a2q.count);
  download(out.a2qScaleMn, a2sMn.ptr, a2sMn.count);
  if (sm100) download(out.a2qScalePacked, a2sPacked.ptr, a2sPacked.count);
  download(out.mm2, mm2.ptr, mm2.count);
  download(out.y, y.ptr, y.count);
}

void runLayerFromHost(const LayerConfig& c, const LayerHostInputs& h, LayerOutputs& out) {
  validateLayer(c, h);
  const size_t pairs = static_cast<size_t>(c.M) * c.topk;
  DeviceBuffer<uint8_t> x, ids, w13, w2;
  DeviceBuffer<float> tw, w13s, w2s;
  DeviceBuffer<int32_t> map;
  upload(x, h.x, static_cast<size_t>(c.M) * c.K * (c.xBf16 ? 2 : 4));
  upload(ids, h.topkIds, pairs * (c.ids64 ? 8 : 4));
  upload(tw, h.topkWeights, pairs);
  upload(w13, h.w13, static_cast<size_t>(c.E) * 2 * c.N * c.K);
  upload(w13s, h.w13Scale, static_cast<size_t>(c.E) * (2 * c.N / 128) * (c.K / 128));
  upload(w2, h.w2, static_cast<size_t>(c.E) * c.K * c.N);
  upload(w2s, h.w2Scale, static_cast<size_t>(c.E) * (c.K / 128) * (c.N / 128));
  if (c.hasExpertMap) upload(map, h.expertMap, c.eGlobal);
  LayerDeviceInputs d{x.ptr, ids.ptr, tw.ptr, w13.ptr, w13s.ptr, w2.ptr, w2s.ptr, c.hasExpertMap ? map.ptr : nullptr};
  runLayerOnDevice(c, d, out, true);
}

}  // namespace moe
