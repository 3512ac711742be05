// The contiguous recipe on the device (vLLM DeepGemmExperts with DeepGEMM's m_grouped_fp8_gemm_nt_contiguous;
// docs/layouts-and-stages.md §"Contiguous"): quantize, transform_scales, permute, gemm1, activation, requantize,
// gemm2, unpermute. M_sum is known only after the permutation's first pass, so the buffers behind it are allocated
// then (once); every launch stays on the default stream.
#include <algorithm>
#include "common.cuh"
#include "recipe_run.h"

namespace moe {

void validateContiguous(const LayerConfig& c, const LayerHostInputs& in) {
  auto dims = [&]() {
    return " (M " + std::to_string(c.M) + ", K " + std::to_string(c.K) + ", N " + std::to_string(c.N) + ", E " +
           std::to_string(c.E) + ", topk " + std::to_string(c.topk) + ")";
  };
  require(c.M > 0, "E_SHAPE", "hidden_states: expected at least one token, got M = " + std::to_string(c.M));
  require(c.E > 0 && c.topk > 0, "E_SHAPE", "topk_ids: expected E ≥ 1 local experts and top-k ≥ 1" + dims());
  require(c.eGlobal >= c.E, "E_SHAPE", "expert_map: global experts " + std::to_string(c.eGlobal) + " fewer than local " + std::to_string(c.E));
  require(static_cast<long long>(c.M) * c.topk < (1ll << 30), "E_SHAPE", "topk_ids: too many (token, slot) pairs" + dims());
  require(c.routerWeight != RouterWeight::Input || c.topk == 1, "E_SPEC",
          "topk_weights: applying the router weight on the input needs top-k = 1, got " + std::to_string(c.topk));
  require(in.topkIds && in.topkWeights, "E_SHAPE", "layer: topk_ids and topk_weights are missing");
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

class ContiguousRun : public RecipeRun {
 public:
  ContiguousRun(const LayerConfig& c, const LayerDeviceInputs& in)
      : c_(c),
        in_(in),
        G_(c.K / 128),
        GN_(c.N / 128),
        Ma_(alignUp(c.M, 4)),
        pairs_(c.M * c.topk),
        chunks_(permuteChunks(pairs_)),
        sm100_(c.arch == 100),
        kernel_(gemmKernelFor(c.arch)),
        a1q_(static_cast<size_t>(c.M) * c.K),
        a1qScale_(static_cast<size_t>(c.M) * G_),
        layoutF_(sm100_ ? 0 : static_cast<size_t>(G_ - 1) * Ma_ + c.M),
        layoutI_(sm100_ ? static_cast<size_t>(Ma_) * ceilDiv(G_, 4) : 0),
        localExpert_(std::max(pairs_, 1)),
        chunkHist_(static_cast<size_t>(std::max(chunks_, 1)) * c.E),
        counts_(c.E),
        segOffset_(c.E + 1),
        invPerm_(std::max(pairs_, 1)) {}

  std::vector<StageImpl> stages() override {
    const float* routerAtReduce = c_.routerWeight == RouterWeight::Reduce ? in_.topkWeights : nullptr;
    return {
        {"quantize", {}, [this] {
           launchQuantizeActivations(in_.x, c_.xBf16, c_.M, c_.K, c_.conv, c_.ue8m0,
                                     c_.routerWeight == RouterWeight::Input ? in_.topkWeights : nullptr, a1q_.ptr, a1qScale_.ptr,
                                     ScaleOut::RowMajor, 0, nullptr);
         }},
        {"transform_scales", {"quantize"}, [this] {
           if (sm100_) launchPackUe8m0(a1qScale_.ptr, 1, c_.M, G_, 0, layoutI_.ptr, nullptr);
           else launchScalesToMnMajor(a1qScale_.ptr, 1, c_.M, G_, layoutF_.ptr, nullptr);
         }},
        {"permute", {"quantize"}, [this] { permute(); }},
        {"gemm1", {"permute"}, [this] {
           launchGroupedGemm(aPerm_.ptr, sm100_ ? nullptr : sfaMn_.ptr, sm100_ ? sfaPacked_.ptr : nullptr, in_.w13, in_.w13Scale,
                             mIndices_.ptr, mm1_.ptr, mSum_, 2 * c_.N, c_.K, c_.E, nullptr, kernel_);
         }},
        {"activation", {"gemm1"}, [this] {
           launchActivation(mm1_.ptr, mSum_, c_.N, c_.act, c_.clampLimit,
                            c_.routerWeight == RouterWeight::Activation ? rowWeight_.ptr : nullptr, act_.ptr, nullptr);
         }},
        {"requantize", {"activation"}, [this] {
           launchQuantizeActivations(act_.ptr, true, mSum_, c_.N, c_.conv, c_.ue8m0, nullptr, a2q_.ptr, a2sMn_.ptr, ScaleOut::MnMajor, mSum_, nullptr);
           if (sm100_) launchPackUe8m0(a2sMn_.ptr, 1, mSum_, GN_, mSum_, a2sPacked_.ptr, nullptr);
         }},
        {"gemm2", {"requantize"}, [this] {
           launchGroupedGemm(a2q_.ptr, sm100_ ? nullptr : a2sMn_.ptr, sm100_ ? a2sPacked_.ptr : nullptr, in_.w2, in_.w2Scale,
                             mIndices_.ptr, mm2_.ptr, mSum_, c_.K, c_.N, c_.E, nullptr, kernel_);
         }},
        {"unpermute", {"gemm2"}, [this, routerAtReduce] {
           launchUnpermute(mm2_.ptr, c_.K, invPerm_.ptr, routerAtReduce, c_.M, c_.topk, y_.ptr, nullptr);
         }},
    };
  }

  long long rows() const override { return mSum_; }
  GemmKernel gemmKernel() const override { return kernel_; }

  void fetch(const std::set<std::string>& ran, std::vector<OutTensor>& out) override {
    const LayerConfig& c = c_;
    const long long M = c.M, K = c.K, N = c.N, S = mSum_, G = G_, GN = GN_, Ma = Ma_;
    auto has = [&](const char* s) { return ran.count(s) > 0; };
    if (has("quantize")) {
      out.push_back(fetchTensor("a1q", "f8e4m3fn", {M, K}, a1q_.ptr, a1q_.count));
      out.push_back(fetchTensor("a1q_scale", "f32", {M, G}, a1qScale_.ptr, a1qScale_.count));
    }
    if (has("transform_scales")) {
      if (sm100_) out.push_back(fetchTensor("a1q_scale_layout", "i32", {M, ceilDiv(G_, 4)}, layoutI_.ptr, layoutI_.count, {1, Ma}, true));
      else out.push_back(fetchTensor("a1q_scale_layout", "f32", {M, G}, layoutF_.ptr, layoutF_.count, {1, Ma}, true));
    }
    if (has("permute")) {
      out.push_back(fetchTensor("m_indices", "i32", {S}, mIndices_.ptr, static_cast<size_t>(S)));
      out.push_back(fetchTensor("inv_perm", "i32", {M, c.topk}, invPerm_.ptr, static_cast<size_t>(pairs_)));
      out.push_back(fetchTensor("a1q_permuted", "f8e4m3fn", {S, K}, aPerm_.ptr, aPerm_.count));
      // MN-major storage, column stride M_sum: the logical tensor, made row-major on the TypeScript side
      out.push_back(fetchTensor("a1q_scale_permuted", "f32", {S, G}, sfaMn_.ptr, sfaMn_.count, {1, S}));
    }
    if (has("gemm1")) out.push_back(fetchTensor("mm1_out", "bf16", {S, 2 * N}, mm1_.ptr, mm1_.count));
    if (has("activation")) out.push_back(fetchTensor("act_out", "bf16", {S, N}, act_.ptr, act_.count));
    if (has("requantize")) {
      out.push_back(fetchTensor("a2q", "f8e4m3fn", {S, N}, a2q_.ptr, a2q_.count));
      out.push_back(fetchTensor("a2q_scale", "f32", {S, GN}, a2sMn_.ptr, a2sMn_.count, {1, S}));
      if (S > 0) {
        if (sm100_) out.push_back(fetchTensor("a2q_scale_layout", "i32", {S, ceilDiv(GN_, 4)}, a2sPacked_.ptr, a2sPacked_.count, {1, S}, true));
        else out.push_back(fetchTensor("a2q_scale_layout", "f32", {S, GN}, a2sMn_.ptr, a2sMn_.count, {1, S}, true));
      }
    }
    if (has("gemm2")) out.push_back(fetchTensor("mm2_out", "bf16", {S, K}, mm2_.ptr, mm2_.count));
    if (has("unpermute")) out.push_back(fetchTensor("output", "bf16", {M, K}, y_.ptr, y_.count));
  }

 private:
  // The permutation's indices, then (first time only) M_sum: it sizes every later buffer, so it is read back once and
  // those buffers are allocated here. Then the rows and scales are gathered.
  void permute() {
    const LayerConfig& c = c_;
    PermuteScratch scratch{localExpert_.ptr, chunkHist_.ptr, counts_.ptr, segOffset_.ptr};
    launchPermuteIndices(in_.topkIds, c.ids64, c.M, c.topk, c.hasExpertMap ? in_.expertMap : nullptr, c.eGlobal, c.E, 128, scratch, nullptr);
    if (!allocated_) allocateAfterPermute();
    launchPermuteRows(c.M, c.topk, c.E, mSum_, scratch, mIndices_.ptr, invPerm_.ptr, rowPair_.ptr, nullptr);
    launchPermuteGather(a1q_.ptr, a1qScale_.ptr, in_.topkWeights, c.K, G_, c.topk, c.M, invPerm_.ptr, mSum_, rowPair_.ptr, aPerm_.ptr,
                        sfaMn_.ptr, rowWeight_.ptr, nullptr);
    if (sm100_) launchPackUe8m0(sfaMn_.ptr, 1, mSum_, G_, mSum_, sfaPacked_.ptr, nullptr);
  }

  void allocateAfterPermute() {
    const LayerConfig& c = c_;
    MOE_CUDA_CHECK(cudaMemcpy(&mSum_, segOffset_.ptr + c.E, sizeof(int), cudaMemcpyDeviceToHost));
    const size_t rows = static_cast<size_t>(mSum_);
    mIndices_.alloc(std::max<size_t>(rows, 1));
    rowPair_.alloc(std::max<size_t>(rows, 1));
    aPerm_.alloc(rows * c.K);
    a2q_.alloc(rows * c.N);
    sfaMn_.alloc(rows * G_);
    rowWeight_.alloc(std::max<size_t>(rows, 1));
    a2sMn_.alloc(rows * GN_);
    sfaPacked_.alloc(sm100_ ? rows * ceilDiv(G_, 4) : 0);
    a2sPacked_.alloc(sm100_ ? rows * ceilDiv(GN_, 4) : 0);
    mm1_.alloc(rows * 2 * c.N);
    act_.alloc(rows * c.N);
    mm2_.alloc(rows * c.K);
    y_.alloc(static_cast<size_t>(c.M) * c.K);
    // The GEMMs skip tiles that hold only padding rows, so those rows of the intermediates are never written: they
    // start at zero (as on the CPU path) rather than as garbage the inspector would draw. The output is poisoned
    // with NaN (0xFFFF) instead: every one of its elements must be written.
    zero(mm1_);
    zero(act_);
    zero(mm2_);
    zero(a2q_);
    zero(y_, 0xff);
    allocated_ = true;
  }

  const LayerConfig c_;
  const LayerDeviceInputs in_;
  const int G_, GN_, Ma_, pairs_, chunks_;
  const bool sm100_;
  const GemmKernel kernel_;
  DeviceBuffer<uint8_t> a1q_;
  DeviceBuffer<float> a1qScale_, layoutF_;
  DeviceBuffer<int32_t> layoutI_;
  DeviceBuffer<int> localExpert_, chunkHist_, counts_, segOffset_, invPerm_;
  bool allocated_ = false;
  int mSum_ = 0;
  DeviceBuffer<int> mIndices_, rowPair_;
  DeviceBuffer<uint8_t> aPerm_, a2q_;
  DeviceBuffer<float> sfaMn_, rowWeight_, a2sMn_;
  DeviceBuffer<int32_t> sfaPacked_, a2sPacked_;
  DeviceBuffer<uint16_t> mm1_, act_, mm2_, y_;
};

}  // namespace

std::unique_ptr<RecipeRun> makeContiguousRun(const LayerConfig& c, const LayerDeviceInputs& in) {
  return std::make_unique<ContiguousRun>(c, in);
}

}  // namespace moe
