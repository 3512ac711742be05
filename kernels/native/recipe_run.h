// What the layer runner (layer.cu) needs from a recipe's device implementation (layer_<recipe>.cu): its stages by
// id, each with the stages whose outputs it reads, and a way to fetch the outputs of the stages that ran. A recipe
// run owns its device buffers (RAII): memory is flat across runs.
#pragma once
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>
#include "errors.h"
#include "layer.h"

namespace moe {

// One stage as the runner sees it. `launch` enqueues the stage's kernels on the default stream and must be
// idempotent (it rewrites its outputs from inputs that stay put): the runner replays it to time it.
struct StageImpl {
  std::string id;
  std::vector<std::string> needs;
  std::function<void()> launch;
};

class RecipeRun {
 public:
  virtual ~RecipeRun() = default;
  // every stage this recipe implements, in its natural order
  virtual std::vector<StageImpl> stages() = 0;
  virtual long long rows() const = 0;
  virtual GemmKernel gemmKernel() const = 0;
  // the outputs of the stages in `ran`, under their DESIGN.md names
  virtual void fetch(const std::set<std::string>& ran, std::vector<OutTensor>& out) = 0;
};

// Per recipe: input checks (host, before any launch), and the run over device inputs.
void validateContiguous(const LayerConfig& c, const LayerHostInputs& in);
std::unique_ptr<RecipeRun> makeContiguousRun(const LayerConfig& c, const LayerDeviceInputs& in);
void validateMasked(const LayerConfig& c, const LayerHostInputs& in);
std::unique_ptr<RecipeRun> makeMaskedRun(const LayerConfig& c, const LayerDeviceInputs& in);

// Runs `run` over the plan in c.stages (resolved against run.stages()), times each stage, fetches the outputs: the
// runner behind runLayerOnDevice, for recipes whose inputs are not LayerDeviceInputs (layer_w4afp8.cu).
void runRecipePlan(const LayerConfig& c, RecipeRun& run, LayerOutputs& out, bool fetch);

// ---- helpers shared by the recipe runs ------------------------------------------------------------------------
// Host → device. A large buffer is pinned in place for the copy (cudaHostRegister), then released: on the H200
// machine (2026-12-02, scripts/gpu/h2d_copy.cu) 1.47 GB took 194–279 ms from pageable memory (the driver stages it, 5.5–7.9 GB/s) and
// 134–138 ms pinned (register ~78 ms, copy 28 ms at 55 GB/s, unregister ~30 ms). Where pinning is refused (no
// memory to lock, an unsupported platform), the pageable copy runs instead.
constexpr size_t PIN_UPLOAD_BYTES = size_t(64) << 20;

template <typename T>
void upload(DeviceBuffer<T>& d, const void* host, size_t n) {
  d.alloc(n);
  if (!n) return;
  const size_t bytes = n * sizeof(T);
  void* h = const_cast<void*>(host);
  const bool pinned = bytes >= PIN_UPLOAD_BYTES && cudaHostRegister(h, bytes, cudaHostRegisterDefault) == cudaSuccess;
  if (bytes >= PIN_UPLOAD_BYTES && !pinned) (void)cudaGetLastError();  // the refusal is not an error of this run
  const cudaError_t hostToDeviceCopy = cudaMemcpy(d.ptr, host, bytes, cudaMemcpyHostToDevice);
  if (pinned) (void)cudaHostUnregister(h);
  MOE_CUDA_CHECK(hostToDeviceCopy);
}

template <typename T>
void zero(DeviceBuffer<T>& d, int byte = 0) {
  if (d.bytes()) MOE_CUDA_CHECK(cudaMemsetAsync(d.ptr, byte, d.bytes(), nullptr));
}

// `n` elements of a device buffer as a stage tensor; empty strides = row-major.
template <typename T>
OutTensor fetchTensor(const std::string& name, const char* dtype, std::vector<long long> shape, const T* d, size_t n,
                      std::vector<long long> strides = {}, bool kernelLayout = false) {
  OutTensor t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  if (strides.empty()) {
    strides.assign(t.shape.size(), 1);
    for (int i = static_cast<int>(t.shape.size()) - 2; i >= 0; i--) strides[i] = strides[i + 1] * t.shape[i + 1];
  }
  t.strides = std::move(strides);
  t.kernelLayout = kernelLayout;
  t.data.resize(n * sizeof(T));
  if (n) MOE_CUDA_CHECK(cudaMemcpy(t.data.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return t;
}

inline const char* gemmKernelName(GemmKernel k) {
  return k == GemmKernel::Sm90Tma ? "sm90-tma" : k == GemmKernel::Wgmma ? "wgmma" : "mma.sync";
}

}  // namespace moe
