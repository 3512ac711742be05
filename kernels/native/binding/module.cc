// The addon's exports. Production gets the probe, the layer runner and the single stages; the benchmarks and the
// fault hook (a trapping kernel, for the test that a device fault is contained) are exported only when the process
// that loads the addon sets MOE_NATIVE_DEV=1 (the GPU tests and `npm run bench:gpu` do).
#include <cstdlib>
#include <cstring>
#include "bindings.h"

namespace {

using namespace moe_binding;

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("memInfo", Napi::Function::New(env, MemInfo));
  exports.Set("runLayer", Napi::Function::New(env, RunLayer));
  exports.Set("quantize", Napi::Function::New(env, Quantize));
  exports.Set("quantizeWeights", Napi::Function::New(env, QuantizeWeights));
  exports.Set("transformScales", Napi::Function::New(env, TransformScales));
  exports.Set("maskedLayout", Napi::Function::New(env, MaskedLayout));
  const char* dev = std::getenv("MOE_NATIVE_DEV");
  if (dev && std::strcmp(dev, "1") == 0) {
    exports.Set("benchGemm", Napi::Function::New(env, BenchGemm));
    exports.Set("benchQuantize", Napi::Function::New(env, BenchQuantize));
    exports.Set("benchLayer", Napi::Function::New(env, BenchLayer));
    exports.Set("faultForTest", Napi::Function::New(env, FaultForTest));
  }
  return exports;
}

}  // namespace

NODE_API_MODULE(moe_native, Init)
