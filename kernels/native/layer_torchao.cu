// torchao's FP8 blockwise MoE training op with the DeepGEMM backend on the device (docs/layouts-and-stages.md §8),
// the stages of kernels/recipes/torchao-fp8-training/stages.ts:
//   pad             token groups → 128-aligned groups in the (M_buf, K) buffer (zero rows elsewhere)
//   fwd_quantize    input 1×128 along K (scales column-major), weight 128×128 (quant_torchao.cu)
//   fwd_gemm        the addon's M-grouped FP8 GEMM (gemm.cu / gemm_sm90_tma.cu, launchGroupedGemm) over
//                   grouped_layout, then the token rows gathered back (unpad)
//   dgrad_quantize  grad_output padded, 1×128 along N; weight 128×128 written transposed (E, K, N)
//   dgrad_gemm      the same M-grouped GEMM: grad_output · weight[e]
//   wgrad_quantize  both padded operands into flat K-grouped buffers (128 tokens × 1 feature), scales (D, S/128)
//                   and their SM90 MN-major layout (layout.cu)
//   wgrad_gemm      the K-grouped GEMM (gemm_kgrouped.cu), BF16 out
// The index maps (grouped_layout, the padded group sizes and starts, each padded row's token and each token's padded
// row) follow from group_sizes alone and come from the host (kernels/recipes/torchao-fp8-training/native.ts).
#include <cstring>
#include "common.cuh"
#include "recipe_run.h"
#include "torchao.h"

namespace moe {

namespace {

class TorchaoRun : public RecipeRun {
 public:
  TorchaoRun(const LayerConfig& c, const TorchaoHostInputs& h)
      : c_(c), h_(h), M_(c.M), K_(c.K), N_(c.N), E_(c.E), Mbuf_(c.maxM), S_(c.topk), kernel_(gemmKernelFor(90)) {
    const size_t M = M_, K = K_, N = N_, E = E_, Mb = Mbuf_, S = S_;
    const int inB = h.inputBf16 ? 2 : 4, goB = h.gradBf16 ? 2 : 4, wB = h.weightBf16 ? 2 : 4;
    upload(input_, h.input, M * K * inB);
    upload(gradOut_, h.gradOutput, M * N * goB);
    upload(weight_, h.weight, E * N * K * wB);
    upload(layout_, h.groupedLayout.data(), Mb);
    upload(rowSource_, h.rowSource.data(), Mb);
    upload(tokenRow_, h.tokenRow.data(), M);
    upload(padded_, h.padded.data(), E);
    upload(starts_, h.starts.data(), E);
    inPad_.alloc(Mb * K * inB);
    goPad_.alloc(Mb * N * goB);
    inQ_.alloc(Mb * K);
    inS_.alloc(Mb * (K / 128));
    wQ_.alloc(E * N * K);
    wS_.alloc(E * (N / 128) * (K / 128));
    goQ_.alloc(Mb * N);
    goS_.alloc(Mb * (N / 128));
    wtQ_.alloc(E * N * K);
    wtS_.alloc(E * (N / 128) * (K / 128));
    outPad_.alloc(Mb * N);
    giPad_.alloc(Mb * K);
    out_.alloc(M * N);
    gi_.alloc(M * K);
    lhs_.alloc(S * N);
    rhs_.alloc(S * K);
    lhsS_.alloc(N * (S / 128));
    rhsS_.alloc(K * (S / 128));
    lhsL_.alloc(S ? (S / 128 - 1) * N + N : 0);
    rhsL_.alloc(S ? (S / 128 - 1) * K + K : 0);
    gw_.alloc(E * N * K);
    // rows of the padded GEMM outputs that no tile writes are never read (unpad reads token rows only)
    zero(outPad_);
    zero(giPad_);
  }

  std::vector<StageImpl> stages() override {
    return {
        {"pad", {}, [this] { launchGatherRows(input_.ptr, h_.inputBf16 ? 2 : 4, Mbuf_, K_, rowSource_.ptr, inPad_.ptr, nullptr); }},
        {"fwd_quantize", {"pad"}, [this] {
           launchTorchaoRows1x128(inPad_.ptr, h_.inputBf16, Mbuf_, K_, inQ_.ptr, inS_.ptr, nullptr);
           launchTorchaoWeight128(weight_.ptr, h_.weightBf16, E_, N_, K_, false, wQ_.ptr, wS_.ptr, nullptr);
         }},
        {"fwd_gemm", {"fwd_quantize"}, [this] {
           launchGroupedGemm(inQ_.ptr, inS_.ptr, nullptr, wQ_.ptr, wS_.ptr, layout_.ptr, outPad_.ptr, Mbuf_, N_, K_, E_, nullptr, kernel_);
           launchGatherRows(outPad_.ptr, 2, M_, N_, tokenRow_.ptr, out_.ptr, nullptr);
         }},
        {"dgrad_quantize", {}, [this] {
           launchGatherRows(gradOut_.ptr, h_.gradBf16 ? 2 : 4, Mbuf_, N_, rowSource_.ptr, goPad_.ptr, nullptr);
           launchTorchaoRows1x128(goPad_.ptr, h_.gradBf16, Mbuf_, N_, goQ_.ptr, goS_.ptr, nullptr);
           launchTorchaoWeight128(weight_.ptr, h_.weightBf16, E_, N_, K_, true, wtQ_.ptr, wtS_.ptr, nullptr);
         }},
        {"dgrad_gemm", {"dgrad_quantize"}, [this] {
           launchGroupedGemm(goQ_.ptr, goS_.ptr, nullptr, wtQ_.ptr, wtS_.ptr, layout_.ptr, giPad_.ptr, Mbuf_, K_, N_, E_, nullptr, kernel_);
           launchGatherRows(giPad_.ptr, 2, M_, K_, tokenRow_.ptr, gi_.ptr, nullptr);
         }},
        {"wgrad_quantize", {"pad", "dgrad_quantize"}, [this] {
           launchTorchaoKGrouped(goPad_.ptr, h_.gradBf16, N_, S_, E_, padded_.ptr, starts_.ptr, lhs_.ptr, lhsS_.ptr, nullptr);
           launchTorchaoKGrouped(inPad_.ptr, h_.inputBf16, K_, S_, E_, padded_.ptr, starts_.ptr, rhs_.ptr, rhsS_.ptr, nullptr);
           if (S_ > 0) {
             launchScalesToMnMajor(lhsS_.ptr, 1, N_, S_ / 128, lhsL_.ptr, nullptr);
             launchScalesToMnMajor(rhsS_.ptr, 1, K_, S_ / 128, rhsL_.ptr, nullptr);
           }
         }},
        {"wgrad_gemm", {"wgrad_quantize"}, [this] {
           launchKGroupedGemm(lhs_.ptr, lhsS_.ptr, rhs_.ptr, rhsS_.ptr, padded_.ptr, starts_.ptr, E_, N_, K_, S_, gw_.ptr, nullptr);
         }},
    };
  }

  long long rows() const override { return Mbuf_; }
  GemmKernel gemmKernel() const override { return kernel_; }

  void fetch(const std::set<std::string>& ran, std::vector<OutTensor>& out) override {
    const long long M = M_, K = K_, N = N_, E = E_, Mb = Mbuf_, S = S_, nb = S_ / 128;
    auto has = [&](const char* s) { return ran.count(s) > 0; };
    const char* inT = h_.inputBf16 ? "bf16" : "f32";
    const char* goT = h_.gradBf16 ? "bf16" : "f32";
    auto raw = [](const char* name, const char* dtype, std::vector<long long> shape, const DeviceBuffer<uint8_t>& b) {
      OutTensor t;
      t.name = name;
      t.dtype = dtype;
      t.shape = std::move(shape);
      t.strides.assign(t.shape.size(), 1);
      for (int i = static_cast<int>(t.shape.size()) - 2; i >= 0; i--) t.strides[i] = t.strides[i + 1] * t.shape[i + 1];
      t.data.resize(b.count);
      if (b.count) MOE_CUDA_CHECK(cudaMemcpy(t.data.data(), b.ptr, b.count, cudaMemcpyDeviceToHost));
      return t;
    };
    if (has("pad")) {
      out.push_back(raw("input_padded", inT, {Mb, K}, inPad_));
      out.push_back(fetchTensor("grouped_layout", "i32", {Mb}, layout_.ptr, layout_.count));
      out.push_back(fetchTensor("padded_group_sizes", "i32", {E}, padded_.ptr, padded_.count));
      out.push_back(fetchTensor("padded_group_starts", "i32", {E}, starts_.ptr, starts_.count));
    }
    if (has("fwd_quantize")) {
      out.push_back(fetchTensor("input_fp8", "f8e4m3fn", {Mb, K}, inQ_.ptr, inQ_.count));
      out.push_back(fetchTensor("input_scale", "f32", {Mb, K / 128}, inS_.ptr, inS_.count, {1, Mb}));
      out.push_back(fetchTensor("weight_fp8", "f8e4m3fn", {E, N, K}, wQ_.ptr, wQ_.count));
      out.push_back(fetchTensor("weight_scale", "f32", {E, N / 128, K / 128}, wS_.ptr, wS_.count));
    }
    if (has("fwd_gemm")) out.push_back(fetchTensor("output", "bf16", {M, N}, out_.ptr, out_.count));
    if (has("dgrad_quantize")) {
      out.push_back(raw("grad_output_padded", goT, {Mb, N}, goPad_));
      out.push_back(fetchTensor("grad_output_fp8", "f8e4m3fn", {Mb, N}, goQ_.ptr, goQ_.count));
      out.push_back(fetchTensor("grad_output_scale", "f32", {Mb, N / 128}, goS_.ptr, goS_.count, {1, Mb}));
      out.push_back(fetchTensor("weight_t_fp8", "f8e4m3fn", {E, K, N}, wtQ_.ptr, wtQ_.count));
      out.push_back(fetchTensor("weight_t_scale", "f32", {E, K / 128, N / 128}, wtS_.ptr, wtS_.count));
    }
    if (has("dgrad_gemm")) out.push_back(fetchTensor("grad_input", "bf16", {M, K}, gi_.ptr, gi_.count));
    if (has("wgrad_quantize")) {
      out.push_back(fetchTensor("wgrad_lhs", "f8e4m3fn", {S * N}, lhs_.ptr, lhs_.count));
      out.push_back(fetchTensor("wgrad_lhs_scale", "f32", {N, nb}, lhsS_.ptr, lhsS_.count));
      out.push_back(fetchTensor("wgrad_rhs", "f8e4m3fn", {S * K}, rhs_.ptr, rhs_.count));
      out.push_back(fetchTensor("wgrad_rhs_scale", "f32", {K, nb}, rhsS_.ptr, rhsS_.count));
      if (S > 0) {
        out.push_back(fetchTensor("wgrad_lhs_scale_layout", "f32", {N, nb}, lhsL_.ptr, lhsL_.count, {1, N}, true));
        out.push_back(fetchTensor("wgrad_rhs_scale_layout", "f32", {K, nb}, rhsL_.ptr, rhsL_.count, {1, K}, true));
      }
    }
    if (has("wgrad_gemm")) out.push_back(fetchTensor("grad_weight", "bf16", {E, N, K}, gw_.ptr, gw_.count));
  }

 private:
  const LayerConfig c_;
  const TorchaoHostInputs& h_;
  const int M_, K_, N_, E_, Mbuf_, S_;
  const GemmKernel kernel_;
  DeviceBuffer<uint8_t> input_, gradOut_, weight_, inPad_, goPad_;
  DeviceBuffer<int32_t> layout_, rowSource_, tokenRow_, padded_, starts_;
  DeviceBuffer<uint8_t> inQ_, wQ_, goQ_, wtQ_, lhs_, rhs_;
  DeviceBuffer<float> inS_, wS_, goS_, wtS_, lhsS_, rhsS_, lhsL_, rhsL_;
  DeviceBuffer<uint16_t> outPad_, giPad_, out_, gi_, gw_;
};

}  // namespace

void runTorchaoFromHost(const LayerConfig& c, const TorchaoHostInputs& h, LayerOutputs& out) {
  const std::string dims = " (M " + std::to_string(c.M) + ", K " + std::to_string(c.K) + ", N " + std::to_string(c.N) + ", E " + std::to_string(c.E) + ")";
  require(c.M > 0 && c.E > 0, "E_SHAPE", "input: expected M ≥ 1 tokens and E ≥ 1 experts" + dims);
  require(c.K > 0 && c.K % 128 == 0 && c.N > 0 && c.N % 128 == 0, "E_SHAPE", "weight: K and N must be positive multiples of 128 (128×128 blocks)" + dims);
  require(c.maxM % 128 == 0 && c.maxM >= c.topk && c.topk % 128 == 0 && c.topk >= 0, "E_SHAPE", "grouped_layout: buffer rows and group rows must be multiples of 128" + dims);
  require(h.groupedLayout.size() == static_cast<size_t>(c.maxM) && h.rowSource.size() == static_cast<size_t>(c.maxM) &&
              h.tokenRow.size() == static_cast<size_t>(c.M) && h.padded.size() == static_cast<size_t>(c.E) && h.starts.size() == static_cast<size_t>(c.E),
          "E_SHAPE", "grouped_layout: the index maps do not match the sizes" + dims);
  long long S = 0;
  for (int e = 0; e < c.E; e++) {
    require(h.padded[e] >= 0 && h.padded[e] % 128 == 0 && h.starts[e] == S, "E_SHAPE", "padded_group_sizes: group " + std::to_string(e) + " is not 128-aligned and in order");
    S += h.padded[e];
  }
  require(S == c.topk, "E_SHAPE", "padded_group_sizes: they sum to " + std::to_string(S) + ", not S = " + std::to_string(c.topk));
  for (int r = 0; r < c.maxM; r++)
    require(h.rowSource[r] >= -1 && h.rowSource[r] < c.M && h.groupedLayout[r] >= -1 && h.groupedLayout[r] < c.E, "E_VALUE", "grouped_layout: entry " + std::to_string(r) + " out of range");
  for (int t = 0; t < c.M; t++) require(h.tokenRow[t] >= 0 && h.tokenRow[t] < c.maxM, "E_VALUE", "token rows: entry " + std::to_string(t) + " out of range");
  TorchaoRun run(c, h);
  runRecipePlan(c, run, out, c.fetch);
}

}  // namespace moe
