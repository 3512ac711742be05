// The whole MoE layer on the device: inputs go up once, every stage runs on device buffers, and only what the
// caller asks for comes back. Each stage is timed with CUDA events after a warm-up (median of `repeats`).
#pragma once
#include <cstdint>
#include <string>
#include <vector>
#include "ops.h"

namespace moe {

enum class RouterWeight : int { Reduce = 0, Input = 1, Activation = 2 };
constexpr int kStages = 8;  // quantize, transform_scales, permute, gemm1, activation, requantize, gemm2, unpermute
extern const char* const kStageNames[kStages];

struct LayerConfig {
  int M = 0, K = 0, N = 0, E = 0, eGlobal = 0, topk = 0;
  bool xBf16 = true, ids64 = false, hasExpertMap = false;
  int arch = 90;  // 90 = SM90 float32 MN-major scales, 100 = SM100 packed UE8M0
  Convention conv = Convention::Vllm;
  bool ue8m0 = false;
  Activation act = Activation::Silu;
  float clampLimit = 0.f;
  RouterWeight routerWeight = RouterWeight::Reduce;
  int repeats = 5;
};

// Host views of the inputs (validated, then uploaded). Sizes follow LayerConfig.
struct LayerHostInputs {
  const void* x = nullptr;
  const void* topkIds = nullptr;
  const float* topkWeights = nullptr;
  const uint8_t* w13 = nullptr;
  const float* w13Scale = nullptr;
  const uint8_t* w2 = nullptr;
  const float* w2Scale = nullptr;
  const int32_t* expertMap = nullptr;
};

// Device-resident inputs (the benchmark generates them on the device).
struct LayerDeviceInputs {
  const void* x = nullptr;
  const void* topkIds = nullptr;
  const float* topkWeights = nullptr;
  const uint8_t* w13 = nullptr;
  const float* w13Scale = nullptr;
  const uint8_t* w2 = nullptr;
  const float* w2Scale = nullptr;
  const int32_t* expertMap = nullptr;
};

struct LayerOutputs {
  int mSum = 0;
  double timesMs[kStages] = {0, 0, 0, 0, 0, 0, 0, 0};
  bool fetched = false;
  std::vector<uint8_t> a1q;
  std::vector<float> a1qScale;              // (M, G) row-major
  std::vector<float> a1qScaleLayoutF32;     // SM90: MN-major storage, (G−1)·Ma + M elements
  std::vector<int32_t> a1qScaleLayoutI32;   // SM100: packed storage, Ma·⌈G/4⌉ words
  std::vector<int32_t> counts, mIndices, invPerm;
  std::vector<uint8_t> aPerm;               // (M_sum, K) permuted FP8 rows
  std::vector<float> sfaPermMn;             // (M_sum, K/128) MN-major storage, column stride M_sum
  std::vector<uint16_t> mm1, act;
  std::vector<uint8_t> a2q;
  std::vector<float> a2qScaleMn;            // (M_sum, N/128) MN-major storage, column stride M_sum
  std::vector<int32_t> a2qScalePacked;      // SM100 only
  std::vector<uint16_t> mm2, y;
};

// Throws MoeNativeError (E_SHAPE / E_VALUE / E_SPEC) before anything touches the device.
void validateLayer(const LayerConfig& cfg, const LayerHostInputs& in);
void runLayerFromHost(const LayerConfig& cfg, const LayerHostInputs& in, LayerOutputs& out);
void runLayerOnDevice(const LayerConfig& cfg, const LayerDeviceInputs& in, LayerOutputs& out, bool fetch);

double medianMs(std::vector<double> v);

}  // namespace moe
