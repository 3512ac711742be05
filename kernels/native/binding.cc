// The Node-API surface of the addon (the only file that knows about JavaScript). Arguments are validated here —
// typed-array kinds and lengths named after the tensor — before anything touches the device; native errors are
// re-thrown as JS errors carrying a MoeError code (`err.code`).
#include <napi.h>
#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <vector>
#include "bench.h"
#include "errors.h"
#include "layer.h"

namespace {

using moe::MoeNativeError;

inline int ceilDivH(int a, int b) { return (a + b - 1) / b; }
inline int alignUpH(int a, int b) { return ceilDivH(a, b) * b; }

Napi::Value guard(const Napi::CallbackInfo& info, const std::function<Napi::Value()>& f) {
  Napi::Env env = info.Env();
  try {
    return f();
  } catch (const MoeNativeError& e) {
    Napi::Error err = Napi::Error::New(env, e.what());
    err.Set("code", Napi::String::New(env, e.code));
    throw err;
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    Napi::Error err = Napi::Error::New(env, std::string("native addon: ") + e.what());
    err.Set("code", Napi::String::New(env, "E_BACKEND"));
    throw err;
  }
}

Napi::Object objArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsObject()) throw MoeNativeError("E_SPEC", std::string(what) + ": expected an object argument");
  return info[i].As<Napi::Object>();
}

int intField(const Napi::Object& o, const char* key, int fallback = INT32_MIN) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && fallback != INT32_MIN) return fallback;
  if (!v.IsNumber()) throw MoeNativeError("E_SPEC", std::string(key) + ": expected an integer");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<long long>(d)) || d < -2147483648.0 || d > 2147483647.0)
    throw MoeNativeError("E_SPEC", std::string(key) + ": expected a 32-bit integer, got " + std::to_string(d));
  return static_cast<int>(d);
}

std::string strField(const Napi::Object& o, const char* key, const char* fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsString()) throw MoeNativeError("E_SPEC", std::string(key) + ": expected a string");
  return v.As<Napi::String>().Utf8Value();
}

const char* typeName(napi_typedarray_type t) {
  switch (t) {
    case napi_uint8_array: return "Uint8Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_float32_array: return "Float32Array";
    case napi_bigint64_array: return "BigInt64Array";
    default: return "another typed array";
  }
}

// Returns the data pointer of o[key] after checking its kind and length (elements).
const void* typedField(const Napi::Object& o, const char* key, std::initializer_list<napi_typedarray_type> kinds, size_t expectLen,
                       napi_typedarray_type* kindOut = nullptr, bool optional = false) {
  Napi::Value v = o.Get(key);
  if (optional && (v.IsUndefined() || v.IsNull())) return nullptr;
  if (!v.IsTypedArray()) throw MoeNativeError("E_DTYPE", std::string(key) + ": expected a typed array");
  // napi_get_typedarray_info also works for SharedArrayBuffer-backed arrays (the CPU path's weights)
  napi_typedarray_type type;
  size_t length = 0, byteOffset = 0;
  void* data = nullptr;
  napi_value buffer;
  if (napi_get_typedarray_info(o.Env(), v, &type, &length, &data, &buffer, &byteOffset) != napi_ok)
    throw MoeNativeError("E_DTYPE", std::string(key) + ": cannot read the typed array");
  bool ok = false;
  std::string want;
  for (auto k : kinds) {
    ok |= type == k;
    want += (want.empty() ? "" : " or ") + std::string(typeName(k));
  }
  if (!ok) throw MoeNativeError("E_DTYPE", std::string(key) + ": expected " + want + ", got " + typeName(type));
  if (length != expectLen)
    throw MoeNativeError("E_SHAPE", std::string(key) + ": expected " + std::to_string(expectLen) + " elements, got " + std::to_string(length));
  if (kindOut) *kindOut = type;
  return data;
}

template <typename T>
Napi::Value toTyped(Napi::Env env, const std::vector<T>& v);
template <>
Napi::Value toTyped(Napi::Env env, const std::vector<uint8_t>& v) {
  auto a = Napi::Uint8Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size());
  return a;
}
template <>
Napi::Value toTyped(Napi::Env env, const std::vector<uint16_t>& v) {
  auto a = Napi::Uint16Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * 2);
  return a;
}
template <>
Napi::Value toTyped(Napi::Env env, const std::vector<int32_t>& v) {
  auto a = Napi::Int32Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * 4);
  return a;
}
template <>
Napi::Value toTyped(Napi::Env env, const std::vector<float>& v) {
  auto a = Napi::Float32Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * 4);
  return a;
}

template <typename T>
void fromDevice(std::vector<T>& v, const T* d, size_t n) {
  v.resize(n);
  if (n) MOE_CUDA_CHECK(cudaMemcpy(v.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
}
template <typename T>
void toDevice(moe::DeviceBuffer<T>& d, const void* h, size_t n) {
  d.alloc(n);
  if (n) MOE_CUDA_CHECK(cudaMemcpy(d.ptr, h, n * sizeof(T), cudaMemcpyHostToDevice));
}

moe::Convention convention(const std::string& s) {
  if (s == "vllm") return moe::Convention::Vllm;
  if (s == "deepgemm") return moe::Convention::DeepGemm;
  throw MoeNativeError("E_SPEC", "recipe.quant: expected 'vllm' or 'deepgemm', got '" + s + "'");
}

// ---- probe ------------------------------------------------------------------------------------------------
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  r.Set("runtimeVersion", runtime);
  r.Set("driverVersion", driver);
  r.Set("errorCode", static_cast<int>(e));
  r.Set("errorName", cudaGetErrorName(e));
  r.Set("errorString", cudaGetErrorString(e));
  r.Set("count", e == cudaSuccess ? count : 0);
  Napi::Array devs = Napi::Array::New(env);
  if (e == cudaSuccess) {
    for (int i = 0; i < count; i++) {
      cudaDeviceProp p{};
      if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
      Napi::Object d = Napi::Object::New(env);
      d.Set("name", p.name);
      d.Set("major", p.major);
      d.Set("minor", p.minor);
      d.Set("sms", p.multiProcessorCount);
      d.Set("memoryBytes", static_cast<double>(p.totalGlobalMem));
      d.Set("l2Bytes", p.l2CacheSize);
      devs.Set(static_cast<uint32_t>(devs.Length()), d);
    }
  }
  r.Set("devices", devs);
  return r;
}

Napi::Value MemInfo(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    size_t freeB = 0, totalB = 0;
    MOE_CUDA_CHECK(cudaMemGetInfo(&freeB, &totalB));
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("free", static_cast<double>(freeB));
    r.Set("total", static_cast<double>(totalB));
    return r;
  });
}

// ---- whole layer ------------------------------------------------------------------------------------------
moe::LayerConfig layerConfig(const Napi::Object& c) {
  moe::LayerConfig cfg;
  cfg.M = intField(c, "M");
  cfg.K = intField(c, "K");
  cfg.N = intField(c, "N");
  cfg.E = intField(c, "E");
  cfg.eGlobal = intField(c, "eGlobal", cfg.E);
  cfg.topk = intField(c, "topk");
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
  if (cfg.M <= 0 || cfg.K <= 0 || cfg.N <= 0 || cfg.E <= 0 || cfg.topk <= 0)
    throw MoeNativeError("E_SHAPE", "layer: M, K, N, E and topk must be positive");
  return cfg;
}

Napi::Object timesObject(Napi::Env env, const moe::LayerOutputs& out) {
  Napi::Object t = Napi::Object::New(env);
  for (int s = 0; s < moe::kStages; s++) t.Set(moe::kStageNames[s], out.timesMs[s]);
  return t;
}

Napi::Value RunLayer(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    moe::LayerConfig cfg = layerConfig(objArg(info, 0, "runLayer config"));
    Napi::Object t = objArg(info, 1, "runLayer tensors");
    const size_t M = cfg.M, K = cfg.K, N = cfg.N, E = cfg.E, k = cfg.topk;
    moe::LayerHostInputs in;
    napi_typedarray_type xKind, idKind;
    in.x = typedField(t, "hidden_states", {napi_uint16_array, napi_float32_array}, M * K, &xKind);
    cfg.xBf16 = xKind == napi_uint16_array;
    in.topkIds = typedField(t, "topk_ids", {napi_int32_array, napi_bigint64_array}, M * k, &idKind);
    cfg.ids64 = idKind == napi_bigint64_array;
    in.topkWeights = static_cast<const float*>(typedField(t, "topk_weights", {napi_float32_array}, M * k));
    if (K % 128 || N % 128)
      throw MoeNativeError("E_SHAPE", "w13_weight: K and N must be multiples of 128 (got K " + std::to_string(K) + ", N " + std::to_string(N) + ")");
    in.w13 = static_cast<const uint8_t*>(typedField(t, "w13_weight", {napi_uint8_array}, E * 2 * N * K));
    in.w13Scale = static_cast<const float*>(typedField(t, "w13_weight_scale_inv", {napi_float32_array}, E * (2 * N / 128) * (K / 128)));
    in.w2 = static_cast<const uint8_t*>(typedField(t, "w2_weight", {napi_uint8_array}, E * K * N));
    in.w2Scale = static_cast<const float*>(typedField(t, "w2_weight_scale_inv", {napi_float32_array}, E * (K / 128) * (N / 128)));
    in.expertMap = static_cast<const int32_t*>(typedField(t, "expert_map", {napi_int32_array}, cfg.eGlobal, nullptr, true));
    cfg.hasExpertMap = in.expertMap != nullptr;
    if (!cfg.hasExpertMap && cfg.eGlobal != cfg.E)
      throw MoeNativeError("E_SHAPE", "expert_map: missing although global experts (" + std::to_string(cfg.eGlobal) + ") ≠ local (" + std::to_string(cfg.E) + ")");

    moe::LayerOutputs out;
    moe::runLayerFromHost(cfg, in, out);

    Napi::Object r = Napi::Object::New(env);
    r.Set("mSum", out.mSum);
    r.Set("timesMs", timesObject(env, out));
    Napi::Object o = Napi::Object::New(env);
    o.Set("a1q", toTyped(env, out.a1q));
    o.Set("a1q_scale", toTyped(env, out.a1qScale));
    if (cfg.arch == 100) o.Set("a1q_scale_layout", toTyped(env, out.a1qScaleLayoutI32));
    else o.Set("a1q_scale_layout", toTyped(env, out.a1qScaleLayoutF32));
    o.Set("expert_counts", toTyped(env, out.counts));
    o.Set("m_indices", toTyped(env, out.mIndices));
    o.Set("inv_perm", toTyped(env, out.invPerm));
    o.Set("a1q_permuted", toTyped(env, out.aPerm));
    o.Set("a1q_scale_permuted_mn", toTyped(env, out.sfaPermMn));
    o.Set("mm1_out", toTyped(env, out.mm1));
    o.Set("act_out", toTyped(env, out.act));
    o.Set("a2q", toTyped(env, out.a2q));
    o.Set("a2q_scale_mn", toTyped(env, out.a2qScaleMn));
    if (cfg.arch == 100) o.Set("a2q_scale_packed", toTyped(env, out.a2qScalePacked));
    o.Set("mm2_out", toTyped(env, out.mm2));
    o.Set("output", toTyped(env, out.y));
    r.Set("tensors", o);
    return r;
  });
}

// ---- single stages (tests and the inspector's "re-run this stage") -----------------------------------------
Napi::Value Quantize(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object a = objArg(info, 0, "quantize");
    const int M = intField(a, "M"), K = intField(a, "K");
    if (M <= 0 || K <= 0 || K % 128) throw MoeNativeError("E_SHAPE", "x: expected (M, K) with K a positive multiple of 128, got (" + std::to_string(M) + ", " + std::to_string(K) + ")");
    napi_typedarray_type kind;
    const void* x = typedField(a, "x", {napi_uint16_array, napi_float32_array}, static_cast<size_t>(M) * K, &kind);
    const bool bf16 = kind == napi_uint16_array;
    const moe::Convention conv = convention(strField(a, "quant", "vllm"));
    const bool ue8m0 = strField(a, "scaleFormat", "f32") == "ue8m0";
    const std::string layout = strField(a, "scaleLayout", "row-major");
    if (layout != "row-major" && layout != "mn-major") throw MoeNativeError("E_LAYOUT", "scaleLayout: expected 'row-major' or 'mn-major'");
    const bool mn = layout == "mn-major";
    const int G = K / 128, Ma = alignUpH(M, 4);
    moe::DeviceBuffer<uint8_t> dx, q(static_cast<size_t>(M) * K);
    toDevice(dx, x, static_cast<size_t>(M) * K * (bf16 ? 2 : 4));
    const size_t sN = mn ? static_cast<size_t>(G - 1) * Ma + M : static_cast<size_t>(M) * G;
    moe::DeviceBuffer<float> s(sN);
    moe::launchQuantizeActivations(dx.ptr, bf16, M, K, conv, ue8m0, nullptr, q.ptr, s.ptr,
                                   mn ? moe::ScaleOut::MnMajor : moe::ScaleOut::RowMajor, mn ? Ma : 0, nullptr);
    MOE_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<uint8_t> hq;
    std::vector<float> hs;
    fromDevice(hq, q.ptr, q.count);
    fromDevice(hs, s.ptr, s.count);
    Napi::Object r = Napi::Object::New(env);
    r.Set("q", toTyped(env, hq));
    r.Set("scales", toTyped(env, hs));
    r.Set("mnStride", mn ? Ma : 0);
    return r;
  });
}

Napi::Value QuantizeWeights(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object a = objArg(info, 0, "quantizeWeights");
    const int E = intField(a, "E"), R = intField(a, "R"), C = intField(a, "C");
    if (E <= 0 || R <= 0 || C <= 0) throw MoeNativeError("E_SHAPE", "w: expected a non-empty (E, R, C) weight");
    napi_typedarray_type kind;
    const size_t n = static_cast<size_t>(E) * R * C;
    const void* w = typedField(a, "w", {napi_uint16_array, napi_float32_array}, n, &kind);
    const bool bf16 = kind == napi_uint16_array;
    moe::DeviceBuffer<uint8_t> dw, q(n);
    toDevice(dw, w, n * (bf16 ? 2 : 4));
    moe::DeviceBuffer<float> s(static_cast<size_t>(E) * ceilDivH(R, 128) * ceilDivH(C, 128));
    moe::launchQuantizeWeightBlocks(dw.ptr, bf16, E, R, C, convention(strField(a, "quant", "vllm")),
                                    strField(a, "scaleFormat", "f32") == "ue8m0", q.ptr, s.ptr, nullptr);
    MOE_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<uint8_t> hq;
    std::vector<float> hs;
    fromDevice(hq, q.ptr, q.count);
    fromDevice(hs, s.ptr, s.count);
    Napi::Object r = Napi::Object::New(env);
    r.Set("q", toTyped(env, hq));
    r.Set("scales", toTyped(env, hs));
    return r;
  });
}

// (B, M, G) row-major f32 → SM90 MN-major storage (strided extent) or SM100 packed int32 storage (full buffer).
Napi::Value TransformScales(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object a = objArg(info, 0, "transformScales");
    const int B = intField(a, "B", 1), M = intField(a, "M"), G = intField(a, "G"), arch = intField(a, "arch", 90);
    if (B <= 0 || M <= 0 || G <= 0) throw MoeNativeError("E_SHAPE", "sf: expected (B, M, G) with positive extents");
    if (arch != 90 && arch != 100) throw MoeNativeError("E_SPEC", "arch must be 90 or 100");
    const float* sf = static_cast<const float*>(typedField(a, "sf", {napi_float32_array}, static_cast<size_t>(B) * M * G));
    const int Ma = alignUpH(M, 4);
    moe::DeviceBuffer<float> dsf;
    toDevice(dsf, sf, static_cast<size_t>(B) * M * G);
    if (arch == 90) {
      const size_t n = static_cast<size_t>(B - 1) * Ma * G + static_cast<size_t>(G - 1) * Ma + M;
      moe::DeviceBuffer<float> out(n);
      MOE_CUDA_CHECK(cudaMemset(out.ptr, 0, out.bytes()));
      moe::launchScalesToMnMajor(dsf.ptr, B, M, G, out.ptr, nullptr);
      MOE_CUDA_CHECK(cudaDeviceSynchronize());
      std::vector<float> h;
      fromDevice(h, out.ptr, n);
      return toTyped(env, h);
    }
    for (size_t i = 0; i < static_cast<size_t>(B) * M * G; i++) {
      uint32_t bits;
      std::memcpy(&bits, &sf[i], 4);
      if ((bits & 0x807fffffu) != 0 || ((bits >> 23) & 0xff) == 0 || ((bits >> 23) & 0xff) == 0xff)
        throw MoeNativeError("E_VALUE", "sf: SM100 packing needs positive power-of-two scales (UE8M0); element " + std::to_string(i) +
                                            " is " + std::to_string(sf[i]));
    }
    const size_t n = static_cast<size_t>(B) * Ma * ceilDivH(G, 4);
    moe::DeviceBuffer<int32_t> out(n);
    moe::launchPackUe8m0(dsf.ptr, B, M, G, 0, out.ptr, nullptr);
    MOE_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<int32_t> h;
    fromDevice(h, out.ptr, n);
    return toTyped(env, h);
  });
}


// (M, K) FP8 rows + (M, G) row-major scales + routing → DeepEP's masked layout (spec §6), as kernels/ops/permute.ts
// maskedLayout builds it: a (E, maxM, K), scale (E, maxM, G) MN-major per expert, masked_m (E), inv_perm (M, k).
Napi::Value MaskedLayout(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object a = objArg(info, 0, "maskedLayout");
    const int M = intField(a, "M"), K = intField(a, "K"), E = intField(a, "E"), topk = intField(a, "topk");
    const int eGlobal = intField(a, "eGlobal", E), maxM = intField(a, "maxM", M);
    if (M <= 0 || K <= 0 || K % 128 || E <= 0 || topk <= 0 || eGlobal < E || maxM <= 0)
      throw MoeNativeError("E_SHAPE", "maskedLayout: expected M, E, topk, maxM > 0 and K a positive multiple of 128");
    const int G = K / 128;
    const uint8_t* q = static_cast<const uint8_t*>(typedField(a, "q", {napi_uint8_array}, static_cast<size_t>(M) * K));
    const float* sc = static_cast<const float*>(typedField(a, "scales", {napi_float32_array}, static_cast<size_t>(M) * G));
    napi_typedarray_type idKind;
    const void* ids = typedField(a, "topk_ids", {napi_int32_array, napi_bigint64_array}, static_cast<size_t>(M) * topk, &idKind);
    const int32_t* map = static_cast<const int32_t*>(typedField(a, "expert_map", {napi_int32_array}, eGlobal, nullptr, true));
    const size_t pairs = static_cast<size_t>(M) * topk;
    for (size_t p = 0; p < pairs; p++) {
      const long long id = idKind == napi_bigint64_array ? static_cast<const int64_t*>(ids)[p] : static_cast<const int32_t*>(ids)[p];
      if (id < -1 || id >= eGlobal) throw MoeNativeError("E_VALUE", "topk_ids: entry " + std::to_string(p) + " is " + std::to_string(id) + ", expected −1 or an expert id in [0, " + std::to_string(eGlobal) + ")");
    }
    if (map) for (int g = 0; g < eGlobal; g++)
      if (map[g] < -1 || map[g] >= E) throw MoeNativeError("E_VALUE", "expert_map: entry " + std::to_string(g) + " is " + std::to_string(map[g]) + ", expected −1 or a local id in [0, " + std::to_string(E) + ")");
    moe::DeviceBuffer<uint8_t> dq, dIds;
    moe::DeviceBuffer<float> ds;
    moe::DeviceBuffer<int32_t> dMap;
    toDevice(dq, q, static_cast<size_t>(M) * K);
    toDevice(ds, sc, static_cast<size_t>(M) * G);
    toDevice(dIds, ids, pairs * (idKind == napi_bigint64_array ? 8 : 4));
    if (map) toDevice(dMap, map, eGlobal);
    const int chunks = moe::permuteChunks(static_cast<int>(pairs));
    moe::DeviceBuffer<int> local(pairs), hist(static_cast<size_t>(chunks) * E), counts(E), seg(E + 1), inv(pairs);
    moe::PermuteScratch s{local.ptr, hist.ptr, counts.ptr, seg.ptr};
    moe::launchPermuteIndices(dIds.ptr, idKind == napi_bigint64_array, M, topk, map ? dMap.ptr : nullptr, eGlobal, E, 1, s, nullptr);
    std::vector<int32_t> hc;
    fromDevice(hc, counts.ptr, E);
    for (int e = 0; e < E; e++)
      if (hc[e] > maxM)
        throw MoeNativeError("E_RANGE", "masked layout: expert " + std::to_string(e) + " receives " + std::to_string(hc[e]) + " rows but maxM is " + std::to_string(maxM) + "; raise maxM (num_max_dispatch_tokens_per_rank × ranks)");
    int rows = 0;
    MOE_CUDA_CHECK(cudaMemcpy(&rows, seg.ptr + E, sizeof(int), cudaMemcpyDeviceToHost));
    moe::DeviceBuffer<int> mIdx(std::max(rows, 1)), rowPair(std::max(rows, 1)), invM(pairs);
    moe::launchPermuteRows(M, topk, E, rows, s, mIdx.ptr, inv.ptr, rowPair.ptr, nullptr);
    moe::DeviceBuffer<uint8_t> am(static_cast<size_t>(E) * maxM * K);
    moe::DeviceBuffer<float> sm(static_cast<size_t>(E) * maxM * G);
    MOE_CUDA_CHECK(cudaMemset(am.ptr, 0, am.bytes()));
    MOE_CUDA_CHECK(cudaMemset(sm.ptr, 0, sm.bytes()));
    MOE_CUDA_CHECK(cudaMemset(invM.ptr, 0xff, invM.bytes()));
    moe::launchMaskedGather(dq.ptr, ds.ptr, K, G, topk, rows, maxM, mIdx.ptr, seg.ptr, rowPair.ptr, am.ptr, sm.ptr, invM.ptr, nullptr);
    MOE_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<uint8_t> ha;
    std::vector<float> hs;
    std::vector<int32_t> hi;
    fromDevice(ha, am.ptr, am.count);
    fromDevice(hs, sm.ptr, sm.count);
    fromDevice(hi, invM.ptr, pairs);
    Napi::Object r = Napi::Object::New(env);
    r.Set("a", toTyped(env, ha));
    r.Set("scale", toTyped(env, hs));
    r.Set("maskedM", toTyped(env, hc));
    r.Set("invPerm", toTyped(env, hi));
    return r;
  });
}

// ---- benchmarks -------------------------------------------------------------------------------------------
Napi::Value BenchGemm(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Object a = objArg(info, 0, "benchGemm");
    Napi::Value rv = a.Get("rows");
    if (!rv.IsArray()) throw MoeNativeError("E_SPEC", "rows: expected an array of rows per expert");
    Napi::Array ra = rv.As<Napi::Array>();
    std::vector<int> rows;
    for (uint32_t i = 0; i < ra.Length(); i++) rows.push_back(ra.Get(i).As<Napi::Number>().Int32Value());
    const moe::GemmBench b = moe::benchGroupedGemm(rows, intField(a, "N"), intField(a, "K"), strField(a, "scaleLayout", "sm90") == "sm100",
                                                   intField(a, "repeats", 20));
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("ms", b.ms);
    r.Set("mSum", b.mSum);
    r.Set("usefulFlops", b.usefulFlops);
    r.Set("executedFlops", b.executedFlops);
    return r;
  });
}

Napi::Value BenchQuantize(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Object a = objArg(info, 0, "benchQuantize");
    const moe::QuantBench b = moe::benchQuantize(intField(a, "M"), intField(a, "K"), intField(a, "repeats", 20));
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("ms", b.ms);
    r.Set("bytes", b.bytes);
    return r;
  });
}

Napi::Value BenchLayer(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Object c = objArg(info, 0, "benchLayer");
    moe::LayerConfig cfg = layerConfig(c);
    if (cfg.K % 128 || cfg.N % 128) throw MoeNativeError("E_SHAPE", "benchLayer: K and N must be multiples of 128");
    moe::LayerOutputs out;
    moe::benchLayer(cfg, static_cast<unsigned>(intField(c, "seed", 1)), out);
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("mSum", out.mSum);
    r.Set("timesMs", timesObject(info.Env(), out));
    return r;
  });
}

// Launches a kernel that traps, to test that a device fault is contained by the worker process.
Napi::Value FaultForTest(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    moe::launchTrapForTest();
    MOE_CUDA_CHECK(cudaDeviceSynchronize());
    return info.Env().Undefined();
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("memInfo", Napi::Function::New(env, MemInfo));
  exports.Set("runLayer", Napi::Function::New(env, RunLayer));
  exports.Set("quantize", Napi::Function::New(env, Quantize));
  exports.Set("quantizeWeights", Napi::Function::New(env, QuantizeWeights));
  exports.Set("transformScales", Napi::Function::New(env, TransformScales));
  exports.Set("maskedLayout", Napi::Function::New(env, MaskedLayout));
  exports.Set("benchGemm", Napi::Function::New(env, BenchGemm));
  exports.Set("benchQuantize", Napi::Function::New(env, BenchQuantize));
  exports.Set("benchLayer", Napi::Function::New(env, BenchLayer));
  exports.Set("faultForTest", Napi::Function::New(env, FaultForTest));
  return exports;
}

}  // namespace

NODE_API_MODULE(moe_native, Init)
