// Argument marshalling for the Node-API bindings (see args.h).
#include "args.h"

namespace moe_binding {

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

int intField(const Napi::Object& o, const char* key, int fallback) {
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

bool boolField(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) throw MoeNativeError("E_SPEC", std::string(key) + ": expected true or false");
  return v.As<Napi::Boolean>().Value();
}

std::vector<std::string> strArrayField(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  std::vector<std::string> out;
  if (v.IsUndefined()) return out;
  if (!v.IsArray()) throw MoeNativeError("E_SPEC", std::string(key) + ": expected an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value s = a.Get(i);
    if (!s.IsString()) throw MoeNativeError("E_SPEC", std::string(key) + "[" + std::to_string(i) + "]: expected a string");
    out.push_back(s.As<Napi::String>().Utf8Value());
  }
  return out;
}

namespace {
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

template <typename A, typename T>
Napi::Value copyOut(Napi::Env env, const T* p, size_t n) {
  auto a = A::New(env, n);
  if (n) std::memcpy(a.Data(), p, n * sizeof(T));
  return a;
}
}  // namespace

const void* typedField(const Napi::Object& o, const char* key, std::initializer_list<napi_typedarray_type> kinds, size_t expectLen,
                       napi_typedarray_type* kindOut, bool optional) {
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

Napi::Value toTyped(Napi::Env env, const std::vector<uint8_t>& v) { return copyOut<Napi::Uint8Array>(env, v.data(), v.size()); }
Napi::Value toTyped(Napi::Env env, const std::vector<uint16_t>& v) { return copyOut<Napi::Uint16Array>(env, v.data(), v.size()); }
Napi::Value toTyped(Napi::Env env, const std::vector<int32_t>& v) { return copyOut<Napi::Int32Array>(env, v.data(), v.size()); }
Napi::Value toTyped(Napi::Env env, const std::vector<float>& v) { return copyOut<Napi::Float32Array>(env, v.data(), v.size()); }

namespace {
template <typename A>
Napi::Value ownedOut(Napi::Env env, moe::HostBytes&& bytes, size_t elemSize) {
  const size_t n = bytes.size() / elemSize;
  if (n == 0) return A::New(env, 0);
  auto* held = new moe::HostBytes(std::move(bytes));
  napi_value ab;
  const napi_status st = napi_create_external_arraybuffer(
      env, held->data(), held->size(), [](napi_env, void*, void* hint) { delete static_cast<moe::HostBytes*>(hint); }, held, &ab);
  if (st == napi_ok) return A::New(env, n, Napi::ArrayBuffer(env, ab), 0);
  // napi_no_external_buffers_allowed (a sandboxed V8) sets no pending exception: copy instead
  auto a = A::New(env, n);
  std::memcpy(a.Data(), held->data(), held->size());
  delete held;
  return a;
}
}  // namespace

Napi::Value typedOfDtype(Napi::Env env, const std::string& dtype, moe::HostBytes&& bytes) {
  if (dtype == "f8e4m3fn") return ownedOut<Napi::Uint8Array>(env, std::move(bytes), 1);
  if (dtype == "bf16") return ownedOut<Napi::Uint16Array>(env, std::move(bytes), 2);
  if (dtype == "f32") return ownedOut<Napi::Float32Array>(env, std::move(bytes), 4);
  if (dtype == "i32") return ownedOut<Napi::Int32Array>(env, std::move(bytes), 4);
  throw MoeNativeError("E_BACKEND", "native addon: no typed array for dtype '" + dtype + "'");
}

moe::Convention convention(const std::string& s) {
  if (s == "vllm") return moe::Convention::Vllm;
  if (s == "deepgemm") return moe::Convention::DeepGemm;
  throw MoeNativeError("E_SPEC", "recipe.quant: expected 'vllm' or 'deepgemm', got '" + s + "'");
}

}  // namespace moe_binding
