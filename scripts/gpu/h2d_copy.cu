// Host→device copy of a DeepSeek-V3 EP8 layer file's bytes (1.47 GB): pageable, pinned in place (cudaHostRegister +
// copy + cudaHostUnregister), and pageable from 4 threads; and the time to create the CUDA context. Behind the pinned
// uploads of kernels/native/recipe_run.h (BENCHMARKS.md, issue 11's GPU case). Build here, run on the GPU machine:
//   nvcc -O2 -o h2d scripts/gpu/h2d_copy.cu && ./h2d
#include <cuda_runtime.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>
static double now() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
int main() {
  double t0 = now(); cudaFree(0); printf("context %.1f ms\n", now() - t0);
  const size_t n = 1469ull << 20;
  for (int rep = 0; rep < 3; rep++) {
    char* h = (char*)malloc(n); memset(h, rep + 1, n);
    void* d; cudaMalloc(&d, n);
    t0 = now(); cudaMemcpy(d, h, n, cudaMemcpyHostToDevice); cudaDeviceSynchronize(); double pageable = now() - t0;
    t0 = now(); cudaError_t e = cudaHostRegister(h, n, cudaHostRegisterDefault); double reg = now() - t0;
    t0 = now(); cudaMemcpy(d, h, n, cudaMemcpyHostToDevice); cudaDeviceSynchronize(); double pinned = now() - t0;
    t0 = now(); cudaHostUnregister(h); double unreg = now() - t0;
    // pageable in 4 threads, each a quarter on its own stream
    t0 = now();
    std::vector<std::thread> th;
    for (int k = 0; k < 4; k++) th.emplace_back([&, k] { cudaStream_t s; cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking); size_t q = n / 4; cudaMemcpyAsync((char*)d + k * q, h + k * q, q, cudaMemcpyHostToDevice, s); cudaStreamSynchronize(s); cudaStreamDestroy(s); });
    for (auto& x : th) x.join();
    double threads4 = now() - t0;
    printf("rep %d: pageable %.1f ms (%.1f GB/s); register %.1f (%s) + pinned copy %.1f (%.1f GB/s) + unregister %.1f = %.1f ms; pageable on 4 threads %.1f ms\n", rep, pageable, n / pageable / 1e6, reg, cudaGetErrorString(e), pinned, n / pinned / 1e6, unreg, reg + pinned + unreg, threads4);
    cudaFree(d); free(h);
  }
}
