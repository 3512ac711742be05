// Bindings of the probe, device memory and single stages (tests and the inspector's "re-run this stage"): each
// validates its arguments, uploads, launches one stage and copies the result back.
#include <algorithm>
#include "args.h"
#include "bindings.h"

namespace moe_binding {

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


// (M, K) FP8 rows + (M, G) row-major scales + routing → DeepEP's masked layout (docs/layouts-and-stages.md §7), as kernels/ops/permute.ts
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

}  // namespace moe_binding
