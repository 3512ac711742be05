// runLayer for the torchao FP8 training recipe (kernels/native/layer_torchao.cu): its sizes, its three tensors and
// the index maps from group_sizes, each checked for kind and length here, before anything touches the device.
// Called from RunLayer (layer.cc) inside its error guard.
#include "args.h"
#include "bindings.h"
#include "../torchao.h"

namespace moe_binding {

namespace {
std::vector<int32_t> ints(const Napi::Object& t, const char* key, size_t n) {
  const auto* p = static_cast<const int32_t*>(typedField(t, key, {napi_int32_array}, n));
  return std::vector<int32_t>(p, p + n);
}
}  // namespace

Napi::Value RunLayerTorchao(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object c = objArg(info, 0, "runLayer config");
  const Napi::Object t = objArg(info, 1, "runLayer tensors");
  moe::LayerConfig cfg;
  cfg.recipe = "torchao-fp8-training";
  cfg.stages = strArrayField(c, "stages");
  cfg.M = intField(c, "M");
  cfg.K = intField(c, "K");
  cfg.N = intField(c, "N");
  cfg.E = intField(c, "E");
  cfg.maxM = intField(c, "Mbuf");
  cfg.topk = intField(c, "S");
  cfg.repeats = intField(c, "repeats", 5);
  cfg.fetch = boolField(c, "fetch", true);
  cfg.arch = intField(c, "arch", 90);
  if (cfg.arch != 90)
    throw MoeNativeError("E_SPEC", "arch: the addon runs torchao's FP8 training op with SM90 kernels (float32 scales, wgmma K-grouped wgrad, as DeepGEMM 2.6.1 on Hopper); the spec asks for compute capability " +
                                       std::to_string(cfg.arch) + " (run it with --backend cpu)");
  if (cfg.M <= 0 || cfg.K <= 0 || cfg.N <= 0 || cfg.E <= 0 || cfg.maxM <= 0 || cfg.topk < 0)
    throw MoeNativeError("E_SHAPE", "layer: M, K, N, E and Mbuf must be positive");
  if (cfg.repeats < 1 || cfg.repeats > 1000) throw MoeNativeError("E_VALUE", "repeats must be within 1…1000");
  const size_t M = cfg.M, K = cfg.K, N = cfg.N, E = cfg.E, Mb = cfg.maxM;
  moe::TorchaoHostInputs in;
  napi_typedarray_type kind;
  in.input = typedField(t, "input", {napi_uint16_array, napi_float32_array}, M * K, &kind);
  in.inputBf16 = kind == napi_uint16_array;
  in.gradOutput = typedField(t, "grad_output", {napi_uint16_array, napi_float32_array}, M * N, &kind);
  in.gradBf16 = kind == napi_uint16_array;
  in.weight = typedField(t, "weight", {napi_uint16_array, napi_float32_array}, E * N * K, &kind);
  in.weightBf16 = kind == napi_uint16_array;
  in.groupedLayout = ints(t, "grouped_layout", Mb);
  in.rowSource = ints(t, "row_source", Mb);
  in.tokenRow = ints(t, "token_row", M);
  in.padded = ints(t, "padded_group_sizes", E);
  in.starts = ints(t, "padded_group_starts", E);
  moe::LayerOutputs out;
  moe::runTorchaoFromHost(cfg, in, out);
  return layerResultObject(env, out);
}

}  // namespace moe_binding
