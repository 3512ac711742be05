// The layer binding: a recipe's plan (its id and ordered stage ids) and its input tensors in, the stage tensors of
// the stages that ran out — each with its dtype, shape and strides — plus a time per stage id and the GEMM kernel that
// really ran. Sizes are checked here (typed-array kinds and lengths named after the tensor) before anything touches
// the device; the layer code checks the values (kernels/native/layer*.cu).
#include "args.h"
#include "bindings.h"

namespace moe_binding {

moe::LayerConfig layerConfig(const Napi::Object& c) {
  moe::LayerConfig cfg;
  cfg.recipe = strField(c, "recipe", "contiguous");
  if (cfg.recipe != "contiguous" && cfg.recipe != "masked")
    throw MoeNativeError("E_SPEC", "recipe: the CUDA addon has no kernels for the '" + cfg.recipe + "' recipe (it runs: contiguous, masked)");
  cfg.stages = strArrayField(c, "stages");
  const bool masked = cfg.recipe == "masked";
  cfg.K = intField(c, "K");
  cfg.N = intField(c, "N");
  cfg.E = intField(c, "E");
  if (masked) {
    cfg.maxM = intField(c, "maxM");
    cfg.eGlobal = cfg.E;
  } else {
    cfg.M = intField(c, "M");
    cfg.eGlobal = intField(c, "eGlobal", cfg.E);
    cfg.topk = intField(c, "topk");
  }
  cfg.arch = intField(c, "arch", 90);
  cfg.conv = convention(strField(c, "quant", "vllm"));
  cfg.ue8m0 = strField(c, "scaleFormat", "f32") == "ue8m0";
  const std::string act = strField(c, "activation", "silu");
  if (act != "silu" && act != "swiglu") throw MoeNativeError("E_SPEC", "activation: expected 'silu' or 'swiglu', got '" + act + "'");
  cfg.act = act == "swiglu" ? moe::Activation::SwiGlu : moe::Activation::Silu;
  Napi::Value cl = c.Get("clampLimit");
  cfg.clampLimit = cl.IsNumber() ? cl.As<Napi::Number>().FloatValue() : 0.f;
  const std::string rw = strField(c, "routerWeight", "reduce");
  if (rw == "reduce") cfg.routerWeight = moe::RouterWeight::Reduce;
  else if (rw == "input") cfg.routerWeight = moe::RouterWeight::Input;
  else if (rw == "activation") cfg.routerWeight = moe::RouterWeight::Activation;
  else throw MoeNativeError("E_SPEC", "routerWeight: expected 'reduce', 'input' or 'activation', got '" + rw + "'");
  cfg.repeats = intField(c, "repeats", 5);
  cfg.fetch = boolField(c, "fetch", true);
  if (cfg.K <= 0 || cfg.N <= 0 || cfg.E <= 0 || (masked ? cfg.maxM <= 0 : cfg.M <= 0 || cfg.topk <= 0))
    throw MoeNativeError("E_SHAPE", masked ? "layer: K, N, E and maxM must be positive" : "layer: M, K, N, E and topk must be positive");
  return cfg;
}

namespace {

// The weights, checked against (E, N, K); the same for every recipe.
void weightInputs(const Napi::Object& t, const moe::LayerConfig& cfg, moe::LayerHostInputs& in) {
  const size_t K = cfg.K, N = cfg.N, E = cfg.E;
  if (K % 128 || N % 128)
    throw MoeNativeError("E_SHAPE", "w13_weight: K and N must be multiples of 128 (got K " + std::to_string(K) + ", N " + std::to_string(N) + ")");
  in.w13 = static_cast<const uint8_t*>(typedField(t, "w13_weight", {napi_uint8_array}, E * 2 * N * K));
  in.w13Scale = static_cast<const float*>(typedField(t, "w13_weight_scale_inv", {napi_float32_array}, E * (2 * N / 128) * (K / 128)));
  in.w2 = static_cast<const uint8_t*>(typedField(t, "w2_weight", {napi_uint8_array}, E * K * N));
  in.w2Scale = static_cast<const float*>(typedField(t, "w2_weight_scale_inv", {napi_float32_array}, E * (K / 128) * (N / 128)));
}

// contiguous: hidden_states (M, K), topk_ids / topk_weights (M, topk), optional expert_map (E_global)
void contiguousInputs(const Napi::Object& t, moe::LayerConfig& cfg, moe::LayerHostInputs& in) {
  const size_t M = cfg.M, K = cfg.K, k = cfg.topk;
  napi_typedarray_type xKind, idKind;
  in.x = typedField(t, "hidden_states", {napi_uint16_array, napi_float32_array}, M * K, &xKind);
  cfg.xBf16 = xKind == napi_uint16_array;
  in.topkIds = typedField(t, "topk_ids", {napi_int32_array, napi_bigint64_array}, M * k, &idKind);
  cfg.ids64 = idKind == napi_bigint64_array;
  in.topkWeights = static_cast<const float*>(typedField(t, "topk_weights", {napi_float32_array}, M * k));
  weightInputs(t, cfg, in);
  in.expertMap = static_cast<const int32_t*>(typedField(t, "expert_map", {napi_int32_array}, cfg.eGlobal, nullptr, true));
  cfg.hasExpertMap = in.expertMap != nullptr;
  if (!cfg.hasExpertMap && cfg.eGlobal != cfg.E)
    throw MoeNativeError("E_SHAPE", "expert_map: missing although global experts (" + std::to_string(cfg.eGlobal) + ") ≠ local (" + std::to_string(cfg.E) + ")");
}

// masked: hidden_states (E, maxM, K), masked_m (E)
void maskedInputs(const Napi::Object& t, moe::LayerConfig& cfg, moe::LayerHostInputs& in) {
  const size_t E = cfg.E, maxM = cfg.maxM, K = cfg.K;
  napi_typedarray_type xKind;
  in.x = typedField(t, "hidden_states", {napi_uint16_array, napi_float32_array}, E * maxM * K, &xKind);
  cfg.xBf16 = xKind == napi_uint16_array;
  in.maskedM = static_cast<const int32_t*>(typedField(t, "masked_m", {napi_int32_array}, E));
  weightInputs(t, cfg, in);
}

}  // namespace

Napi::Object tensorObject(Napi::Env env, moe::OutTensor& o) {
  Napi::Object t = Napi::Object::New(env);
  t.Set("dtype", o.dtype);
  Napi::Array shape = Napi::Array::New(env, o.shape.size()), strides = Napi::Array::New(env, o.strides.size());
  for (size_t i = 0; i < o.shape.size(); i++) shape.Set(static_cast<uint32_t>(i), static_cast<double>(o.shape[i]));
  for (size_t i = 0; i < o.strides.size(); i++) strides.Set(static_cast<uint32_t>(i), static_cast<double>(o.strides[i]));
  t.Set("shape", shape);
  t.Set("strides", strides);
  t.Set("kernelLayout", o.kernelLayout);
  t.Set("data", typedOfDtype(env, o.dtype, std::move(o.data)));
  return t;
}

Napi::Object layerResultObject(Napi::Env env, moe::LayerOutputs& out) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("rows", static_cast<double>(out.rows));
  r.Set("gemmKernel", out.gemmKernel);
  Napi::Object times = Napi::Object::New(env);
  for (const auto& [id, ms] : out.timesMs) times.Set(id, ms);
  r.Set("timesMs", times);
  Napi::Object o = Napi::Object::New(env);
  for (moe::OutTensor& x : out.tensors) o.Set(x.name, tensorObject(env, x));
  r.Set("tensors", o);
  return r;
}

Napi::Value RunLayer(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    // recipes with inputs of their own shape have a binding of their own (binding/layer_<recipe>.cc)
    const std::string recipe = strField(objArg(info, 0, "runLayer config"), "recipe", "contiguous");
    if (recipe == "w4afp8") return RunLayerW4afp8(info);
    if (recipe == "torchao-fp8-training") return RunLayerTorchao(info);
    moe::LayerConfig cfg = layerConfig(objArg(info, 0, "runLayer config"));
    Napi::Object t = objArg(info, 1, "runLayer tensors");
    moe::LayerHostInputs in;
    if (cfg.recipe == "masked") maskedInputs(t, cfg, in);
    else contiguousInputs(t, cfg, in);

    moe::LayerOutputs out;
    moe::runLayerFromHost(cfg, in, out);
    return layerResultObject(env, out);
  });
}

}  // namespace moe_binding
