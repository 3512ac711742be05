// The whole MoE layer on the device for one recipe's plan: the caller names the recipe and the ordered stage ids
// (the TypeScript plan's), inputs go up once, every stage runs on device buffers, and only the outputs of the stages
// that ran come back. Each stage is timed with CUDA events after a warm-up (median of `repeats`), keyed by its id.
#pragma once
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>
#include "ops.h"

namespace moe {

enum class RouterWeight : int { Reduce = 0, Input = 1, Activation = 2 };

struct LayerConfig {
  std::string recipe = "contiguous";
  // the plan: stage ids in the order they run (empty: every stage the recipe has, in its order)
  std::vector<std::string> stages;
  // contiguous: hidden_states (M, K), top-k routing; masked: hidden_states (E, maxM, K) with masked_m (E)
  int M = 0, K = 0, N = 0, E = 0, eGlobal = 0, topk = 0, maxM = 0;
  bool xBf16 = true, ids64 = false, hasExpertMap = false;
  int arch = 90;  // the spec's compute capability × 10: 90 = float32 MN-major scales, 100 = packed UE8M0
  Convention conv = Convention::Vllm;
  bool ue8m0 = false;
  Activation act = Activation::Silu;
  float clampLimit = 0.f;
  RouterWeight routerWeight = RouterWeight::Reduce;
  int repeats = 5;
  // copy the stage tensors back to the host (false: times only — a CLI run that prints its table and writes nothing)
  bool fetch = true;
};

// Host views of the inputs (validated, then uploaded). Sizes follow LayerConfig; a recipe ignores what it does not read.
struct LayerHostInputs {
  const void* x = nullptr;
  const void* topkIds = nullptr;
  const float* topkWeights = nullptr;
  const uint8_t* w13 = nullptr;
  const float* w13Scale = nullptr;
  const uint8_t* w2 = nullptr;
  const float* w2Scale = nullptr;
  const int32_t* expertMap = nullptr;
  const int32_t* maskedM = nullptr;
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
  const int32_t* maskedM = nullptr;
};

// An allocator whose resize leaves new bytes uninitialised: every output is overwritten whole by its device copy,
// and value-initialising (zeroing) ~1.4 GB of fresh pages first cost about as much as the copy itself.
template <typename T>
struct NoInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = NoInitAllocator<U>;
  };
  NoInitAllocator() = default;
  template <typename U>
  NoInitAllocator(const NoInitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using HostBytes = std::vector<uint8_t, NoInitAllocator<uint8_t>>;

// One stage tensor as the TypeScript side builds it: its DESIGN.md name, dtype ('f8e4m3fn', 'bf16', 'f32', 'i32'),
// logical shape, and the strides (elements) of `data`. A kernel layout (the *_scale_layout tensors) is kept as its
// strided storage; anything else is made row-major on the TypeScript side.
struct OutTensor {
  std::string name, dtype;
  std::vector<long long> shape, strides;
  bool kernelLayout = false;
  HostBytes data;  // handed to JavaScript without a copy where the runtime allows (binding/args.cc typedOfDtype)
};

struct LayerOutputs {
  long long rows = 0;                                  // rows the GEMMs ran over: M_sum, or E·max_m
  std::vector<std::pair<std::string, double>> timesMs;  // per stage of the plan, in its order
  std::string gemmKernel;                              // "sm90-tma", "wgmma" or "mma.sync": what really ran
  std::vector<OutTensor> tensors;
};

// Throws MoeNativeError (E_SHAPE / E_VALUE / E_SPEC) before anything touches the device.
void validateLayer(const LayerConfig& cfg, const LayerHostInputs& in);
void runLayerFromHost(const LayerConfig& cfg, const LayerHostInputs& in, LayerOutputs& out);
void runLayerOnDevice(const LayerConfig& cfg, const LayerDeviceInputs& in, LayerOutputs& out, bool fetch);

double medianMs(std::vector<double> v);

}  // namespace moe
