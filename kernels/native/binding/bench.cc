// Benchmark bindings (device-generated inputs, CUDA-event medians; kernels/native/bench.cu) and the fault hook.
// Exported only with MOE_NATIVE_DEV=1 (module.cc).
#include "args.h"
#include "bindings.h"
#include "../bench.h"

namespace moe_binding {

Napi::Value BenchGemm(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Object a = objArg(info, 0, "benchGemm");
    Napi::Value rv = a.Get("rows");
    if (!rv.IsArray()) throw MoeNativeError("E_SPEC", "rows: expected an array of rows per expert");
    Napi::Array ra = rv.As<Napi::Array>();
    std::vector<int> rows;
    for (uint32_t i = 0; i < ra.Length(); i++) rows.push_back(ra.Get(i).As<Napi::Number>().Int32Value());
    // maxM given: the masked layout, rows = masked_m; kernel "recipe" (what the masked recipe runs) or "tma"
    const bool masked = a.Has("maxM");
    std::string kernelName;
    const moe::GemmBench b =
        masked ? moe::benchGroupedGemmMasked(rows, intField(a, "maxM"), intField(a, "N"), intField(a, "K"),
                                             strField(a, "kernel", "recipe") == "tma", intField(a, "repeats", 20), kernelName)
               : moe::benchGroupedGemm(rows, intField(a, "N"), intField(a, "K"), strField(a, "scaleLayout", "sm90") == "sm100",
                                       intField(a, "repeats", 20));
    Napi::Object r = Napi::Object::New(info.Env());
    if (masked) r.Set("kernel", kernelName);
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

// The contiguous layer with random weights and uniform routing generated on the device; every stage, times only.
Napi::Value BenchLayer(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Object c = objArg(info, 0, "benchLayer");
    moe::LayerConfig cfg = layerConfig(c);
    if (cfg.recipe != "contiguous") throw MoeNativeError("E_SPEC", "benchLayer: only the contiguous recipe is benchmarked");
    if (cfg.K % 128 || cfg.N % 128) throw MoeNativeError("E_SHAPE", "benchLayer: K and N must be multiples of 128");
    moe::LayerOutputs out;
    moe::benchLayer(cfg, static_cast<unsigned>(intField(c, "seed", 1)), out);
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("mSum", static_cast<double>(out.rows));
    Napi::Object t = Napi::Object::New(info.Env());
    for (const auto& [id, ms] : out.timesMs) t.Set(id, ms);
    r.Set("timesMs", t);
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

}  // namespace moe_binding
