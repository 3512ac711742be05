// The masked recipe on the device (DeepEP low-latency dispatch → DeepGEMM m_grouped_fp8_gemm_nt_masked, vLLM's
// BatchedDeepGemmExperts; docs/layouts-and-stages.md §"Masked"): hidden_states (E, max_m, K) with masked_m[e] valid
// rows per expert buffer. quantize, transform_scales, gemm1, activation, requantize, gemm2; every tensor is
// (E, max_m, ·) and only valid rows are read or written — the rest stay zero (zeroed once, never written), so stale
// data in the receive buffer influences nothing. The GEMMs run whole row tiles below masked_m[e]; the rows of such a
// tile past masked_m[e] read zero activations and zero scales, and the TMA kernel's output rows past masked_m[e] are
// zeroed after it (gemm.cu), so padding rows come out zero whichever kernel ran.
#include "common.cuh"
#include "recipe_run.h"

namespace moe {

void validateMasked(const LayerConfig& c, const LayerHostInputs& in) {
  const std::string dims = " (E " + std::to_string(c.E) + ", max_m " + std::to_string(c.maxM) + ", K " + std::to_string(c.K) + ")";
  require(c.E > 0 && c.maxM > 0, "E_SHAPE", "hidden_states: a masked layer needs shape [E_local, max_m, K] with E_local, max_m ≥ 1" + dims);
  require(static_cast<long long>(c.E) * c.maxM < (1ll << 30), "E_SHAPE", "hidden_states: E_local · max_m too large" + dims);
  require(in.maskedM != nullptr, "E_SHAPE", "masked_m: missing (one count of valid rows per expert buffer)");
  for (int e = 0; e < c.E; e++) {
    const int v = in.maskedM[e];
    if (v < 0 || v > c.maxM)
      throw MoeNativeError("E_RANGE", "masked_m: entry " + std::to_string(e) + " is " + std::to_string(v) +
                                          ", expected 0…max_m = " + std::to_string(c.maxM) + " valid rows");
  }
  // a GEMM tile must lie inside one expert's buffer (DeepGEMM's SM90 masked kernel does not check it: with
  // max_m = 96 it wrote one expert's last tile over the next expert's rows)
  const GemmKernel k = gemmKernelFor(c.arch);
  const int tile = gemmRowTile(k);
  if (c.maxM % tile != 0)
    throw MoeNativeError("E_SHAPE", "hidden_states: max_m = " + std::to_string(c.maxM) + " is not a multiple of the " + std::to_string(tile) +
                                        "-row tile of the addon's " + gemmKernelName(k) + " masked GEMM" + dims +
                                        "; allocate the DeepEP buffer with max_m = " + std::to_string((c.maxM + tile - 1) / tile * tile));
}

namespace {

class MaskedRun : public RecipeRun {
 public:
  MaskedRun(const LayerConfig& c, const LayerDeviceInputs& in)
      : c_(c),
        in_(in),
        rows_(static_cast<size_t>(c.E) * c.maxM),
        G_(c.K / 128),
        GN_(c.N / 128),
        Ma_(alignUp(c.maxM, 4)),
        sm100_(c.arch == 100),
        kernel_(gemmKernelFor(c.arch)),
        a1q_(rows_ * c.K),
        a1qScale_(rows_ * G_),
        a1Layout_(sm100_ ? 0 : layoutElems(G_)),
        a1Packed_(sm100_ ? packedElems(G_) : 0),
        mm1_(rows_ * 2 * c.N),
        act_(rows_ * c.N),
        a2q_(rows_ * c.N),
        a2qScale_(rows_ * GN_),
        a2Layout_(sm100_ ? 0 : layoutElems(GN_)),
        a2Packed_(sm100_ ? packedElems(GN_) : 0),
        y_(rows_ * c.K) {
    // rows past masked_m are never written: they must read as zero (pads of the kernel layouts too)
    zero(a1q_);
    zero(a1qScale_);
    zero(a1Layout_);
    zero(a1Packed_);
    zero(mm1_);
    zero(act_);
    zero(a2q_);
    zero(a2qScale_);
    zero(a2Layout_);
    zero(a2Packed_);
    zero(y_);
  }

  std::vector<StageImpl> stages() override {
    return {
        {"quantize", {}, [this] {
           launchQuantizeMaskedRows(in_.x, c_.xBf16, c_.E, c_.maxM, c_.K, in_.maskedM, c_.conv, c_.ue8m0, a1q_.ptr, a1qScale_.ptr, nullptr);
         }},
        {"transform_scales", {"quantize"}, [this] { toKernelLayout(a1qScale_.ptr, G_, a1Layout_.ptr, a1Packed_.ptr); }},
        {"gemm1", {"transform_scales"}, [this] {
           launchGroupedGemmMasked(a1q_.ptr, sm100_ ? nullptr : a1Layout_.ptr, sm100_ ? a1Packed_.ptr : nullptr, in_.w13, in_.w13Scale,
                                   in_.maskedM, mm1_.ptr, c_.E, c_.maxM, 2 * c_.N, c_.K, kernel_, nullptr);
         }},
        {"activation", {"gemm1"}, [this] {
           launchActivationMasked(mm1_.ptr, c_.E, c_.maxM, c_.N, in_.maskedM, c_.act, c_.clampLimit, act_.ptr, nullptr);
         }},
        {"requantize", {"activation"}, [this] {
           launchQuantizeMaskedRows(act_.ptr, true, c_.E, c_.maxM, c_.N, in_.maskedM, c_.conv, c_.ue8m0, a2q_.ptr, a2qScale_.ptr, nullptr);
           toKernelLayout(a2qScale_.ptr, GN_, a2Layout_.ptr, a2Packed_.ptr);
         }},
        {"gemm2", {"requantize"}, [this] {
           launchGroupedGemmMasked(a2q_.ptr, sm100_ ? nullptr : a2Layout_.ptr, sm100_ ? a2Packed_.ptr : nullptr, in_.w2, in_.w2Scale,
                                   in_.maskedM, y_.ptr, c_.E, c_.maxM, c_.K, c_.N, kernel_, nullptr);
         }},
    };
  }

  long long rows() const override { return static_cast<long long>(rows_); }
  GemmKernel gemmKernel() const override { return kernel_; }

  void fetch(const std::set<std::string>& ran, std::vector<OutTensor>& out) override {
    const long long E = c_.E, maxM = c_.maxM, K = c_.K, N = c_.N;
    auto has = [&](const char* s) { return ran.count(s) > 0; };
    if (has("quantize")) {
      out.push_back(fetchTensor("a1q", "f8e4m3fn", {E, maxM, K}, a1q_.ptr, a1q_.count));
      out.push_back(fetchTensor("a1q_scale", "f32", {E, maxM, G_}, a1qScale_.ptr, a1qScale_.count));
    }
    if (has("transform_scales")) out.push_back(layoutTensor("a1q_scale_layout", G_, a1Layout_, a1Packed_));
    if (has("gemm1")) out.push_back(fetchTensor("mm1_out", "bf16", {E, maxM, 2 * N}, mm1_.ptr, mm1_.count));
    if (has("activation")) out.push_back(fetchTensor("act_out", "bf16", {E, maxM, N}, act_.ptr, act_.count));
    if (has("requantize")) {
      out.push_back(fetchTensor("a2q", "f8e4m3fn", {E, maxM, N}, a2q_.ptr, a2q_.count));
      out.push_back(fetchTensor("a2q_scale", "f32", {E, maxM, GN_}, a2qScale_.ptr, a2qScale_.count));
      out.push_back(layoutTensor("a2q_scale_layout", GN_, a2Layout_, a2Packed_));
    }
    if (has("gemm2")) out.push_back(fetchTensor("output", "bf16", {E, maxM, K}, y_.ptr, y_.count));
  }

 private:
  // SM90: float32 (E, max_m, G) MN-major per expert, strides (Ma·G, 1, Ma), the strided extent only (as DeepGEMM's
  // get_mn_major_tma_aligned_tensor allocates it); SM100: packed UE8M0 int32 (E, max_m, ⌈G/4⌉), strides
  // (Ma·⌈G/4⌉, 1, Ma), the whole padded buffer.
  size_t layoutElems(int G) const { return static_cast<size_t>(c_.E - 1) * Ma_ * G + static_cast<size_t>(G - 1) * Ma_ + c_.maxM; }
  size_t packedElems(int G) const { return static_cast<size_t>(c_.E) * Ma_ * ceilDiv(G, 4); }

  void toKernelLayout(const float* rowMajor, int G, float* mn, int32_t* packed) {
    if (sm100_) launchPackUe8m0(rowMajor, c_.E, c_.maxM, G, 0, packed, nullptr);
    else launchScalesToMnMajor(rowMajor, c_.E, c_.maxM, G, mn, nullptr);
  }

  OutTensor layoutTensor(const char* name, int G, const DeviceBuffer<float>& mn, const DeviceBuffer<int32_t>& packed) const {
    const long long E = c_.E, maxM = c_.maxM, Ma = Ma_;
    if (sm100_) {
      const long long W = ceilDiv(G, 4);
      return fetchTensor(name, "i32", {E, maxM, W}, packed.ptr, packed.count, {Ma * W, 1, Ma}, true);
    }
    return fetchTensor(name, "f32", {E, maxM, static_cast<long long>(G)}, mn.ptr, mn.count, {Ma * G, 1, Ma}, true);
  }

  const LayerConfig c_;
  const LayerDeviceInputs in_;
  const size_t rows_;
  const int G_, GN_, Ma_;
  const bool sm100_;
  const GemmKernel kernel_;
  DeviceBuffer<uint8_t> a1q_;
  DeviceBuffer<float> a1qScale_, a1Layout_;
  DeviceBuffer<int32_t> a1Packed_;
  DeviceBuffer<uint16_t> mm1_, act_;
  DeviceBuffer<uint8_t> a2q_;
  DeviceBuffer<float> a2qScale_, a2Layout_;
  DeviceBuffer<int32_t> a2Packed_;
  DeviceBuffer<uint16_t> y_;
};

}  // namespace

std::unique_ptr<RecipeRun> makeMaskedRun(const LayerConfig& c, const LayerDeviceInputs& in) {
  return std::make_unique<MaskedRun>(c, in);
}

}  // namespace moe
