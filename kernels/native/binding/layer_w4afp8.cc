// runLayer for the W4AFP8 recipe (kernels/native/layer_w4afp8.cu): its config (M, H, I_p, E, top-k) and its inputs
// under SGLang's names, each checked for kind and length here, before anything touches the device. Called from
// RunLayer (layer.cc) inside its error guard.
#include "args.h"
#include "bindings.h"
#include "../w4afp8.h"

namespace moe_binding {

Napi::Value RunLayerW4afp8(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object c = objArg(info, 0, "runLayer config");
  const Napi::Object t = objArg(info, 1, "runLayer tensors");
  moe::LayerConfig cfg;
  cfg.recipe = "w4afp8";
  cfg.stages = strArrayField(c, "stages");
  cfg.M = intField(c, "M");
  cfg.K = intField(c, "H");
  cfg.N = intField(c, "Ip");
  cfg.E = intField(c, "E");
  cfg.eGlobal = intField(c, "eGlobal", cfg.E);
  cfg.topk = intField(c, "topk");
  cfg.repeats = intField(c, "repeats", 5);
  cfg.fetch = boolField(c, "fetch", true);
  cfg.arch = intField(c, "arch", 90);
  if (cfg.arch != 90)
    throw MoeNativeError("E_SPEC", "arch: the addon's W4AFP8 kernel is the SM90 (Hopper, wgmma) one, as SGLang's CUTLASS W4A8 kernel; the spec asks for compute capability " +
                                       std::to_string(cfg.arch) + " (run it with --backend cpu)");
  const int planRows = intField(c, "planRows", 0), planCols = intField(c, "planCols", 1);
  if (cfg.M <= 0 || cfg.K <= 0 || cfg.N <= 0 || cfg.E <= 0 || cfg.topk <= 0 || planRows < 0 || planCols < 1)
    throw MoeNativeError("E_SHAPE", "layer: M, H, Ip, E and topk must be positive");
  if (cfg.K % 128 || cfg.N % 128)
    throw MoeNativeError("E_SHAPE", "w13_weight: the CUDA kernels need H and I_p multiples of 128 (got H " + std::to_string(cfg.K) + ", I_p " +
                                        std::to_string(cfg.N) + ")");
  if (cfg.repeats < 1 || cfg.repeats > 1000) throw MoeNativeError("E_VALUE", "repeats must be within 1…1000");
  const size_t M = cfg.M, H = cfg.K, Ip = cfg.N, E = cfg.E, k = cfg.topk;

  moe::W4HostInputs in;
  napi_typedarray_type xKind, idKind;
  in.x = typedField(t, "hidden_states", {napi_uint16_array, napi_float32_array}, M * H, &xKind);
  cfg.xBf16 = xKind == napi_uint16_array;
  in.topkIds = typedField(t, "topk_ids", {napi_int32_array, napi_bigint64_array}, M * k, &idKind);
  cfg.ids64 = idKind == napi_bigint64_array;
  in.topkWeights = static_cast<const float*>(typedField(t, "topk_weights", {napi_float32_array}, M * k));
  in.w13 = static_cast<const uint8_t*>(typedField(t, "w13_weight", {napi_uint8_array}, E * 2 * Ip * H / 2));
  in.w13Scale = static_cast<const float*>(typedField(t, "w13_weight_scale_inv", {napi_float32_array}, E * 2 * Ip * (H / 128)));
  in.w2 = static_cast<const uint8_t*>(typedField(t, "w2_weight", {napi_uint8_array}, E * H * Ip / 2));
  in.w2Scale = static_cast<const float*>(typedField(t, "w2_weight_scale_inv", {napi_float32_array}, E * H * (Ip / 128)));
  in.w13InputScale = static_cast<const uint16_t*>(typedField(t, "w13_input_scale", {napi_uint16_array}, E * 2));
  in.w2InputScale = static_cast<const uint16_t*>(typedField(t, "w2_input_scale", {napi_uint16_array}, E));
  in.expertMap = static_cast<const int32_t*>(typedField(t, "expert_map", {napi_int32_array}, cfg.eGlobal, nullptr, true));
  cfg.hasExpertMap = in.expertMap != nullptr;
  if (!cfg.hasExpertMap && cfg.eGlobal != cfg.E)
    throw MoeNativeError("E_SHAPE", "expert_map: missing although global experts (" + std::to_string(cfg.eGlobal) + ") ≠ local (" + std::to_string(cfg.E) + ")");
  const auto* plan = static_cast<const int32_t*>(typedField(t, "w4afp8_parallel_plan", {napi_int32_array}, static_cast<size_t>(planRows) * planCols, nullptr, planRows == 0));
  if (plan) in.parallelPlan.assign(plan, plan + static_cast<size_t>(planRows) * planCols);
  in.planCols = planCols;

  moe::LayerOutputs out;
  moe::runW4afp8FromHost(cfg, in, out);
  return layerResultObject(env, out);
}

}  // namespace moe_binding
