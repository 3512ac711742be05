// Host-side error discipline of the CUDA addon (no device code, so the bindings in binding/ compile with the host
// compiler). Every CUDA call goes through MOE_CUDA_CHECK and every launch is followed by MOE_LAUNCH_CHECK, so a fault
// surfaces as a MoeNativeError carrying the CUDA error text instead of garbage in a later stage.
#pragma once
#include <cuda_runtime.h>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace moe {

// Host-side exception: `code` is the MoeError code the TypeScript side re-raises (E_BACKEND, E_SHAPE, …).
struct MoeNativeError : std::runtime_error {
  std::string code;
  MoeNativeError(std::string c, const std::string& msg) : std::runtime_error(msg), code(std::move(c)) {}
};

inline void cudaCheck(cudaError_t e, const char* what, const char* file, int line) {
  if (e != cudaSuccess) {
    throw MoeNativeError("E_BACKEND", std::string("CUDA error ") + std::to_string(static_cast<int>(e)) + " (" +
                                          cudaGetErrorName(e) + ": " + cudaGetErrorString(e) + ") in " + what +
                                          " at " + file + ":" + std::to_string(line));
  }
}

#define MOE_CUDA_CHECK(call) ::moe::cudaCheck((call), #call, __FILE__, __LINE__)
// cudaGetLastError catches bad launch configurations; asynchronous faults show at the next checked call.
#define MOE_LAUNCH_CHECK(name) ::moe::cudaCheck(cudaGetLastError(), name, __FILE__, __LINE__)

inline void require(bool ok, const char* code, const std::string& msg) {
  if (!ok) throw MoeNativeError(code, msg);
}

// RAII device allocation; freeing in the destructor keeps device memory flat over repeated runs even when a
// stage throws.
template <typename T>
struct DeviceBuffer {
  T* ptr = nullptr;
  size_t count = 0;
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) { alloc(n); }
  void alloc(size_t n) {
    release();
    count = n;
    if (n) MOE_CUDA_CHECK(cudaMalloc(&ptr, n * sizeof(T)));
  }
  void release() {
    if (ptr) cudaFree(ptr);
    ptr = nullptr;
    count = 0;
  }
  size_t bytes() const { return count * sizeof(T); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr(o.ptr), count(o.count) { o.ptr = nullptr; o.count = 0; }
};

}  // namespace moe
