// Runs a recipe's plan on the device (docs/layouts-and-stages.md §13 order for the contiguous recipe; docs/layouts-and-stages.md for the
// others): resolves the plan's stage ids against what the recipe implements, runs them once in order, then times
// each by replaying it — every stage is idempotent (it rewrites its outputs from inputs that stay put), so a replay
// measures exactly the launches of that stage.
#include <algorithm>
#include "common.cuh"
#include "recipe_run.h"

namespace moe {

double medianMs(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

namespace {

void validateCommon(const LayerConfig& c) {
  require(c.arch == 90 || c.arch == 100, "E_SPEC", "arch must be sm90 (90) or sm100 (100), got " + std::to_string(c.arch));
  require(c.arch != 100 || c.ue8m0, "E_SPEC",
          "a1q_scale: SM100 needs packed UE8M0 scales; the recipe's scale format is f32 (use scaleFormat 'ue8m0')");
  require(c.act != Activation::SwiGlu || c.clampLimit > 0, "E_SPEC", "activation: clamped SwiGLU needs a positive clamp limit");
  require(c.repeats >= 1 && c.repeats <= 1000, "E_VALUE", "repeats must be within 1…1000");
  require(c.K > 0 && c.K % 128 == 0, "E_SHAPE", "hidden_states: hidden size K must be a positive multiple of 128, got " + std::to_string(c.K));
  require(c.N > 0 && c.N % 128 == 0, "E_SHAPE", "w2_weight: intermediate size N must be a positive multiple of 128, got " + std::to_string(c.N));
}

std::unique_ptr<RecipeRun> makeRun(const LayerConfig& c, const LayerDeviceInputs& in) {
  if (c.recipe == "contiguous") return makeContiguousRun(c, in);
  if (c.recipe == "masked") return makeMaskedRun(c, in);
  throw MoeNativeError("E_SPEC", "the CUDA addon has no kernels for the '" + c.recipe + "' recipe (it runs: contiguous, masked)");
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
  double time(const std::function<void()>& f) {
    MOE_CUDA_CHECK(cudaEventRecord(a, nullptr));
    f();
    MOE_CUDA_CHECK(cudaEventRecord(b, nullptr));
    MOE_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    MOE_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    return ms;
  }
};

std::string joinIds(const std::vector<StageImpl>& s) {
  std::string r;
  for (const auto& x : s) r += (r.empty() ? "" : ", ") + x.id;
  return r;
}

// The plan's stages in its order, each checked: known to this recipe, not repeated, and run after the stages whose
// outputs it reads (a plan that skips one would read buffers nobody wrote).
std::vector<const StageImpl*> resolvePlan(const LayerConfig& c, const std::vector<StageImpl>& impl) {
  std::vector<const StageImpl*> plan;
  std::set<std::string> seen;
  if (c.stages.empty()) {
    for (const auto& s : impl) plan.push_back(&s);
    return plan;
  }
  for (const auto& id : c.stages) {
    auto it = std::find_if(impl.begin(), impl.end(), [&](const StageImpl& s) { return s.id == id; });
    if (it == impl.end())
      throw MoeNativeError("E_SPEC", "stages: the CUDA addon's " + c.recipe + " recipe has no stage '" + id + "' (it runs: " + joinIds(impl) + ")");
    if (!seen.insert(id).second) throw MoeNativeError("E_SPEC", "stages: '" + id + "' appears twice in the plan");
    for (const auto& n : it->needs)
      if (!seen.count(n))
        throw MoeNativeError("E_SPEC", "stages: '" + id + "' reads what '" + n + "' writes, but the plan does not run '" + n + "' before it");
    plan.push_back(&*it);
  }
  return plan;
}

}  // namespace

void validateLayer(const LayerConfig& c, const LayerHostInputs& in) {
  validateCommon(c);
  require(in.w13 && in.w13Scale && in.w2 && in.w2Scale && in.x, "E_SHAPE", "layer: an input tensor is missing");
  if (c.recipe == "contiguous") validateContiguous(c, in);
  else if (c.recipe == "masked") validateMasked(c, in);
  else throw MoeNativeError("E_SPEC", "the CUDA addon has no kernels for the '" + c.recipe + "' recipe (it runs: contiguous, masked)");
}

void runLayerOnDevice(const LayerConfig& c, const LayerDeviceInputs& in, LayerOutputs& out, bool fetch) {
  std::unique_ptr<RecipeRun> run = makeRun(c, in);
  runRecipePlan(c, *run, out, fetch);
}

void runRecipePlan(const LayerConfig& c, RecipeRun& runRef, LayerOutputs& out, bool fetch) {
  RecipeRun* run = &runRef;
  const std::vector<StageImpl> impl = run->stages();
  const std::vector<const StageImpl*> plan = resolvePlan(c, impl);

  for (const StageImpl* s : plan) s->launch();
  MOE_CUDA_CHECK(cudaStreamSynchronize(nullptr));  // surfaces any asynchronous fault of the first pass

  Timer timer;
  out.timesMs.clear();
  for (const StageImpl* s : plan) {
    s->launch();  // warm-up (caches, clocks)
    std::vector<double> ms;
    for (int r = 0; r < c.repeats; r++) ms.push_back(timer.time(s->launch));
    out.timesMs.emplace_back(s->id, medianMs(ms));
  }
  MOE_CUDA_CHECK(cudaDeviceSynchronize());
  out.rows = run->rows();
  out.gemmKernel = gemmKernelName(run->gemmKernel());
  if (!fetch) return;
  std::set<std::string> ran;
  for (const StageImpl* s : plan) ran.insert(s->id);
  run->fetch(ran, out.tensors);
}

void runLayerFromHost(const LayerConfig& c, const LayerHostInputs& h, LayerOutputs& out) {
  validateLayer(c, h);
  const bool masked = c.recipe == "masked";
  const size_t xRows = masked ? static_cast<size_t>(c.E) * c.maxM : static_cast<size_t>(c.M);
  const size_t pairs = static_cast<size_t>(c.M) * c.topk;
  DeviceBuffer<uint8_t> x, ids, w13, w2;
  DeviceBuffer<float> tw, w13s, w2s;
  DeviceBuffer<int32_t> map, maskedM;
  upload(x, h.x, xRows * c.K * (c.xBf16 ? 2 : 4));
  if (h.topkIds) upload(ids, h.topkIds, pairs * (c.ids64 ? 8 : 4));
  if (h.topkWeights) upload(tw, h.topkWeights, pairs);
  upload(w13, h.w13, static_cast<size_t>(c.E) * 2 * c.N * c.K);
  upload(w13s, h.w13Scale, static_cast<size_t>(c.E) * (2 * c.N / 128) * (c.K / 128));
  upload(w2, h.w2, static_cast<size_t>(c.E) * c.K * c.N);
  upload(w2s, h.w2Scale, static_cast<size_t>(c.E) * (c.K / 128) * (c.N / 128));
  if (c.hasExpertMap) upload(map, h.expertMap, c.eGlobal);
  if (h.maskedM) upload(maskedM, h.maskedM, c.E);
  LayerDeviceInputs d{x.ptr, ids.ptr, tw.ptr, w13.ptr, w13s.ptr, w2.ptr, w2s.ptr, c.hasExpertMap ? map.ptr : nullptr, maskedM.ptr};
  runLayerOnDevice(c, d, out, c.fetch);
}

}  // namespace moe
