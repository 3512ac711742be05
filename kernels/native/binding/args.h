// Argument marshalling shared by the Node-API bindings: reading JS objects and typed arrays (checked: kind and
// length, named after the tensor), building typed arrays from host vectors, and re-throwing native errors as JS
// errors carrying a MoeError code (`err.code`).
#pragma once
#include <napi.h>
#include <climits>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>
#include "../errors.h"
#include "../layer.h"
#include "../ops.h"

namespace moe_binding {

using moe::MoeNativeError;

inline int ceilDivH(int a, int b) { return (a + b - 1) / b; }
inline int alignUpH(int a, int b) { return ceilDivH(a, b) * b; }

// Runs f; MoeNativeError → JS Error with its code, other C++ exceptions → E_BACKEND.
Napi::Value guard(const Napi::CallbackInfo& info, const std::function<Napi::Value()>& f);

Napi::Object objArg(const Napi::CallbackInfo& info, size_t i, const char* what);
int intField(const Napi::Object& o, const char* key, int fallback = INT32_MIN);
std::string strField(const Napi::Object& o, const char* key, const char* fallback);
bool boolField(const Napi::Object& o, const char* key, bool fallback);
std::vector<std::string> strArrayField(const Napi::Object& o, const char* key);

// The data pointer of o[key] after checking its kind and length (elements); nullptr when optional and absent.
const void* typedField(const Napi::Object& o, const char* key, std::initializer_list<napi_typedarray_type> kinds, size_t expectLen,
                       napi_typedarray_type* kindOut = nullptr, bool optional = false);

Napi::Value toTyped(Napi::Env env, const std::vector<uint8_t>& v);
Napi::Value toTyped(Napi::Env env, const std::vector<uint16_t>& v);
Napi::Value toTyped(Napi::Env env, const std::vector<int32_t>& v);
Napi::Value toTyped(Napi::Env env, const std::vector<float>& v);
// Raw bytes as the typed array of a stage tensor's dtype ('f8e4m3fn' → Uint8Array, 'bf16' → Uint16Array, 'f32', 'i32').
// A typed array of `dtype` that takes over `bytes`: an external ArrayBuffer (no copy), or a copy where the runtime
// refuses external memory (Electron's V8 sandbox, when the GPU worker runs under VS Code's Electron).
Napi::Value typedOfDtype(Napi::Env env, const std::string& dtype, moe::HostBytes&& bytes);

moe::Convention convention(const std::string& s);

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

}  // namespace moe_binding
