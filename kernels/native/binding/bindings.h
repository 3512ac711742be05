// The Node-API functions of the addon, one file per concern: layer.cc (the whole layer of a recipe's plan),
// ops.cc (probe, memory, single stages), bench.cc (benchmarks and the fault hook, exported only for development:
// see module.cc).
#pragma once
#include <napi.h>
#include "../layer.h"

namespace moe_binding {

// layer.cc
moe::LayerConfig layerConfig(const Napi::Object& c);
Napi::Value RunLayer(const Napi::CallbackInfo& info);
// the stage tensors, times and kernel of a layer run as the JS object runLayer returns
Napi::Object tensorObject(Napi::Env env, moe::OutTensor& o);
// takes over the output tensors' bytes (they are handed to JavaScript, not copied where the runtime allows)
Napi::Object layerResultObject(Napi::Env env, moe::LayerOutputs& out);

// layer_w4afp8.cc (runLayer with recipe 'w4afp8')
Napi::Value RunLayerW4afp8(const Napi::CallbackInfo& info);
// layer_torchao.cc (runLayer with recipe 'torchao-fp8-training')
Napi::Value RunLayerTorchao(const Napi::CallbackInfo& info);

// ops.cc
Napi::Value Probe(const Napi::CallbackInfo& info);
Napi::Value MemInfo(const Napi::CallbackInfo& info);
Napi::Value Quantize(const Napi::CallbackInfo& info);
Napi::Value QuantizeWeights(const Napi::CallbackInfo& info);
Napi::Value TransformScales(const Napi::CallbackInfo& info);
Napi::Value MaskedLayout(const Napi::CallbackInfo& info);

// bench.cc
Napi::Value BenchGemm(const Napi::CallbackInfo& info);
Napi::Value BenchQuantize(const Napi::CallbackInfo& info);
Napi::Value BenchLayer(const Napi::CallbackInfo& info);
Napi::Value FaultForTest(const Napi::CallbackInfo& info);

}  // namespace moe_binding
