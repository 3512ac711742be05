// The W4AFP8 recipe on the device (SGLang cutlass_w4a8_moe after W4AFp8MoEMethod.process_weights_after_loading;
// docs/layouts-and-stages.md §9), the stages of kernels/recipes/w4afp8/stages.ts:
//   load_scales  group scales → BF16 interleaved; a1/a2 = max of the BF16 input scales (the TP/EP picture is the
//                host's, handed back as given)
//   pre_reorder  routing → rows in expert order with exact offsets (permute.cu with 1-row blocks) and static FP8
//                clamp(x / a1) of each routed row
//   gemm1        int4 × FP8 grouped GEMM (gemm_w4afp8.cu), alpha = a1
//   activation   silu_and_mul (activation.cu)
//   requantize   static FP8 with a2
//   gemm2        int4 × FP8, alpha = a2
//   unpermute    weighted reduce over the token's slots (unpermute.cu)
// R (routed rows) is known after the permutation's first pass; the buffers behind it are allocated then, once.
#include <algorithm>
#include <cstring>
#include "common.cuh"
#include "recipe_run.h"
#include "w4afp8.h"

namespace moe {

void validateW4afp8(const LayerConfig& c, const W4HostInputs& in) {
  const std::string dims = " (M " + std::to_string(c.M) + ", H " + std::to_string(c.K) + ", I_p " + std::to_string(c.N) + ", E " +
                           std::to_string(c.E) + ", topk " + std::to_string(c.topk) + ")";
  require(c.M > 0 && c.E > 0 && c.topk > 0, "E_SHAPE", "hidden_states: expected M ≥ 1 tokens, E ≥ 1 local experts and top-k ≥ 1" + dims);
  require(c.K > 0 && c.K % 128 == 0, "E_SHAPE", "w13_weight: hidden size H must be a positive multiple of 128 (whole int4 scale groups)" + dims);
  require(c.N > 0 && c.N % 128 == 0, "E_SHAPE",
          "w2_weight: the CUDA kernel needs I_p a positive multiple of 128 (128-row weight tiles of GEMM 2's K and GEMM 1's 2·I_p)" + dims);
  require(c.eGlobal >= c.E, "E_SHAPE", "expert_map: global experts " + std::to_string(c.eGlobal) + " fewer than local " + std::to_string(c.E));
  require(static_cast<long long>(c.M) * c.topk < (1ll << 30), "E_SHAPE", "topk_ids: too many (token, slot) pairs" + dims);
  require(in.x && in.topkIds && in.topkWeights && in.w13 && in.w13Scale && in.w2 && in.w2Scale && in.w13InputScale && in.w2InputScale,
          "E_SHAPE", "layer: a W4AFP8 input tensor is missing");
  const long long pairs = static_cast<long long>(c.M) * c.topk;
  for (long long p = 0; p < pairs; p++) {
    const long long id = c.ids64 ? static_cast<const int64_t*>(in.topkIds)[p] : static_cast<const int32_t*>(in.topkIds)[p];
    if (id < -1 || id >= c.eGlobal)
      throw MoeNativeError("E_VALUE", "topk_ids: entry " + std::to_string(p) + " is " + std::to_string(id) + ", expected −1 or an expert id in [0, " +
                                          std::to_string(c.eGlobal) + ")");
  }
  if (c.hasExpertMap) {
    require(in.expertMap != nullptr, "E_SHAPE", "expert_map: missing");
    for (int g = 0; g < c.eGlobal; g++) {
      const int v = in.expertMap[g];
      if (v < -1 || v >= c.E)
        throw MoeNativeError("E_VALUE", "expert_map: entry " + std::to_string(g) + " is " + std::to_string(v) + ", expected −1 or a local expert id in [0, " +
                                            std::to_string(c.E) + ")");
    }
  }
  require(in.planCols > 0 && in.parallelPlan.size() % in.planCols == 0, "E_SHAPE", "w4afp8_parallel_plan: expected (rows, cols) int32");
}

namespace {

struct W4DeviceInputs {
  const void* x;
  const void* topkIds;
  const float* topkWeights;
  const uint8_t* w13;
  const float* w13Scale;
  const uint8_t* w2;
  const float* w2Scale;
  const uint16_t* w13InputScale;
  const uint16_t* w2InputScale;
  const int32_t* expertMap;
};

class W4Run : public RecipeRun {
 public:
  W4Run(const LayerConfig& c, const W4DeviceInputs& in, std::vector<int32_t> plan, int planCols)
      : c_(c),
        in_(in),
        plan_(std::move(plan)),
        planCols_(planCols),
        H_(c.K),
        Ip_(c.N),
        pairs_(c.M * c.topk),
        chunks_(permuteChunks(pairs_)),
        s13_(static_cast<size_t>(c.E) * 2 * c.N * (c.K / 128)),
        s2_(static_cast<size_t>(c.E) * c.K * (c.N / 128)),
        scalars_(2),
        localExpert_(std::max(pairs_, 1)),
        chunkHist_(static_cast<size_t>(std::max(chunks_, 1)) * c.E),
        counts_(c.E),
        offsets_(c.E + 1),
        invPerm_(std::max(pairs_, 1)) {}

  std::vector<StageImpl> stages() override {
    return {
        {"load_scales", {}, [this] {
           launchInterleaveScales(in_.w13Scale, c_.E, 2 * Ip_, H_ / 128, s13_.ptr, nullptr);
           launchInterleaveScales(in_.w2Scale, c_.E, H_, Ip_ / 128, s2_.ptr, nullptr);
           launchMaxBf16(in_.w13InputScale, 2 * c_.E, scalars_.ptr, nullptr);
           launchMaxBf16(in_.w2InputScale, c_.E, scalars_.ptr + 1, nullptr);
         }},
        {"pre_reorder", {"load_scales"}, [this] { preReorder(); }},
        {"gemm1", {"pre_reorder"}, [this] {
           launchW4Fp8GroupedGemm(a1q_.ptr, in_.w13, s13_.ptr, offsets_.ptr, scalars_.ptr, mm1_.ptr, R_, 2 * Ip_, H_, c_.E, nullptr);
         }},
        {"activation", {"gemm1"}, [this] { launchActivation(mm1_.ptr, R_, Ip_, Activation::Silu, 0.f, nullptr, act_.ptr, nullptr); }},
        {"requantize", {"activation", "load_scales"}, [this] {
           launchStaticQuantRows(act_.ptr, true, R_, Ip_, nullptr, 1, scalars_.ptr + 1, a2q_.ptr, nullptr);
         }},
        {"gemm2", {"requantize"}, [this] {
           launchW4Fp8GroupedGemm(a2q_.ptr, in_.w2, s2_.ptr, offsets_.ptr, scalars_.ptr + 1, mm2_.ptr, R_, H_, Ip_, c_.E, nullptr);
         }},
        {"unpermute", {"gemm2"}, [this] { launchUnpermute(mm2_.ptr, H_, invPerm_.ptr, in_.topkWeights, c_.M, c_.topk, y_.ptr, nullptr); }},
    };
  }

  long long rows() const override { return R_; }
  GemmKernel gemmKernel() const override { return GemmKernel::Wgmma; }

  void fetch(const std::set<std::string>& ran, std::vector<OutTensor>& out) override {
    const long long M = c_.M, H = H_, Ip = Ip_, E = c_.E, R = R_, G13 = H_ / 128, G2 = Ip_ / 128;
    const long long a13 = G13 % 4 == 0 ? 4 : 1, a2 = G2 % 4 == 0 ? 4 : 1;
    auto has = [&](const char* s) { return ran.count(s) > 0; };
    if (has("load_scales")) {
      out.push_back(fetchTensor("w13_weight_scale_interleaved", "bf16", {E, G13 / a13, 2 * Ip * a13}, s13_.ptr, s13_.count));
      out.push_back(fetchTensor("w2_weight_scale_interleaved", "bf16", {E, G2 / a2, H * a2}, s2_.ptr, s2_.count));
      out.push_back(fetchTensor("a1_scale", "f32", {1}, scalars_.ptr, 1));
      out.push_back(fetchTensor("a2_scale", "f32", {1}, scalars_.ptr + 1, 1));
      OutTensor p;
      p.name = "w4afp8_parallel_plan";
      p.dtype = "i32";
      p.shape = {static_cast<long long>(plan_.size() / planCols_), planCols_};
      p.strides = {planCols_, 1};
      p.data.resize(plan_.size() * 4);
      if (!plan_.empty()) std::memcpy(p.data.data(), plan_.data(), plan_.size() * 4);
      out.push_back(std::move(p));
    }
    if (has("pre_reorder")) {
      out.push_back(fetchTensor("a1q_permuted", "f8e4m3fn", {R, H}, a1q_.ptr, a1q_.count));
      out.push_back(fetchTensor("m_indices", "i32", {R}, mIndices_.ptr, static_cast<size_t>(R)));
      out.push_back(fetchTensor("inv_perm", "i32", {M, c_.topk}, invPerm_.ptr, static_cast<size_t>(pairs_)));
      out.push_back(fetchTensor("expert_offsets", "i32", {E + 1}, offsets_.ptr, offsets_.count));
    }
    if (has("gemm1")) out.push_back(fetchTensor("mm1_out", "bf16", {R, 2 * Ip}, mm1_.ptr, mm1_.count));
    if (has("activation")) out.push_back(fetchTensor("act_out", "bf16", {R, Ip}, act_.ptr, act_.count));
    if (has("requantize")) out.push_back(fetchTensor("a2q", "f8e4m3fn", {R, Ip}, a2q_.ptr, a2q_.count));
    if (has("gemm2")) out.push_back(fetchTensor("mm2_out", "bf16", {R, H}, mm2_.ptr, mm2_.count));
    if (has("unpermute")) out.push_back(fetchTensor("output", "bf16", {M, H}, y_.ptr, y_.count));
  }

 private:
  void preReorder() {
    const LayerConfig& c = c_;
    // 1-row blocks: exact offsets, no padding (SGLang's expert_offsets); segOffset is expert_offsets itself
    PermuteScratch scratch{localExpert_.ptr, chunkHist_.ptr, counts_.ptr, offsets_.ptr};
    launchPermuteIndices(in_.topkIds, c.ids64, c.M, c.topk, c.hasExpertMap ? in_.expertMap : nullptr, c.eGlobal, c.E, 1, scratch, nullptr);
    if (!allocated_) allocateAfterPermute();
    launchPermuteRows(c.M, c.topk, c.E, R_, scratch, mIndices_.ptr, invPerm_.ptr, rowPair_.ptr, nullptr);
    launchStaticQuantRows(in_.x, c.xBf16, R_, H_, rowPair_.ptr, c.topk, scalars_.ptr, a1q_.ptr, nullptr);
  }

  void allocateAfterPermute() {
    MOE_CUDA_CHECK(cudaMemcpy(&R_, offsets_.ptr + c_.E, sizeof(int), cudaMemcpyDeviceToHost));
    const size_t R = static_cast<size_t>(R_);
    mIndices_.alloc(std::max<size_t>(R, 1));
    rowPair_.alloc(std::max<size_t>(R, 1));
    a1q_.alloc(R * H_);
    mm1_.alloc(R * 2 * Ip_);
    act_.alloc(R * Ip_);
    a2q_.alloc(R * Ip_);
    mm2_.alloc(R * H_);
    y_.alloc(static_cast<size_t>(c_.M) * H_);
    // every element of the outputs must be written: NaN (0xFFFF) shows one that is not
    zero(mm1_, 0xff);
    zero(mm2_, 0xff);
    zero(y_, 0xff);
    allocated_ = true;
  }

  const LayerConfig c_;
  const W4DeviceInputs in_;
  const std::vector<int32_t> plan_;
  const long long planCols_;
  const int H_, Ip_, pairs_, chunks_;
  DeviceBuffer<uint16_t> s13_, s2_;
  DeviceBuffer<float> scalars_;  // a1_scale, a2_scale
  DeviceBuffer<int> localExpert_, chunkHist_, counts_, offsets_, invPerm_;
  bool allocated_ = false;
  int R_ = 0;
  DeviceBuffer<int> mIndices_, rowPair_;
  DeviceBuffer<uint8_t> a1q_, a2q_;
  DeviceBuffer<uint16_t> mm1_, act_, mm2_, y_;
};

}  // namespace

void runW4afp8FromHost(const LayerConfig& c, const W4HostInputs& h, LayerOutputs& out) {
  validateW4afp8(c, h);
  const size_t E = c.E, H = c.K, Ip = c.N, pairs = static_cast<size_t>(c.M) * c.topk;
  DeviceBuffer<uint8_t> x, ids, w13, w2;
  DeviceBuffer<float> tw, w13s, w2s;
  DeviceBuffer<uint16_t> in13, in2;
  DeviceBuffer<int32_t> map;
  upload(x, h.x, static_cast<size_t>(c.M) * H * (c.xBf16 ? 2 : 4));
  upload(ids, h.topkIds, pairs * (c.ids64 ? 8 : 4));
  upload(tw, h.topkWeights, pairs);
  upload(w13, h.w13, E * 2 * Ip * H / 2);
  upload(w13s, h.w13Scale, E * 2 * Ip * (H / 128));
  upload(w2, h.w2, E * H * Ip / 2);
  upload(w2s, h.w2Scale, E * H * (Ip / 128));
  upload(in13, h.w13InputScale, E * 2);
  upload(in2, h.w2InputScale, E);
  if (c.hasExpertMap) upload(map, h.expertMap, c.eGlobal);
  const W4DeviceInputs d{x.ptr, ids.ptr, tw.ptr, w13.ptr, w13s.ptr, w2.ptr, w2s.ptr, in13.ptr, in2.ptr, c.hasExpertMap ? map.ptr : nullptr};
  W4Run run(c, d, h.parallelPlan, h.planCols);
  runRecipePlan(c, run, out, c.fetch);
}

}  // namespace moe
