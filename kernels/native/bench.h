// Benchmark entry points (device-generated inputs; see bench.cu).
#pragma once
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
QuantBench benchQuantize(int M, int K, int repeats);
// The whole layer with random weights and uniform routing generated on the device; times only, nothing fetched.
void benchLayer(const LayerConfig& cfg, unsigned seed, LayerOutputs& out);
// A kernel that traps (tests that a device fault is contained by the worker process).
void launchTrapForTest();

}  // namespace moe
