// Benchmark entry points (device-generated inputs; see bench.cu).
#pragma once
#include <string>
#include <vector>
#include "layer.h"

namespace moe {

struct GemmBench {
  double ms;
  int mSum;
  double usefulFlops;
  double executedFlops;
};
struct QuantBench {
  double ms;
  double bytes;
};

GemmBench benchGroupedGemm(const std::vector<int>& rowsPerExpert, int N, int K, bool packedSfa, int repeats);
// The masked grouped GEMM (DeepGEMM m_grouped_fp8_gemm_nt_masked's layout): A (E, maxM, K), masked_m[e] valid rows.
// tmaKernel false: the kernel the masked recipe runs (launchGroupedGemmMasked with its GEMM choice); true: the SM90
// TMA kernel's masked variant. executedFlops counts the row tiles the kernel computes (rows rounded up to its tile).
GemmBench benchGroupedGemmMasked(const std::vector<int>& maskedM, int maxM, int N, int K, bool tmaKernel, int repeats,
                                 std::string& kernelName);
QuantBench benchQuantize(int M, int K, int repeats);
// The whole layer with random weights and uniform routing generated on the device; times only, nothing fetched.
void benchLayer(const LayerConfig& cfg, unsigned seed, LayerOutputs& out);
// A kernel that traps (tests that a device fault is contained by the worker process).
void launchTrapForTest();

}  // namespace moe
