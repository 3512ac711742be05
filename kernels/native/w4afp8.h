// SGLang's W4AFP8 experts on the device (docs/layouts-and-stages.md §9): the launchers of gemm_w4afp8.cu and the
// recipe run of layer_w4afp8.cu. Plain C++ types only (the binding includes this with the host compiler).
#pragma once
#include <cuda_runtime.h>
#include <cstdint>
#include <vector>
#include "layer.h"

namespace moe {

// int4 × FP8 grouped GEMM (NT), rows grouped by exact expert offsets (no padding):
//   D[r, n] = bf16( fl( alpha · Σ_j fl( s[e, n, j] · Σ_{k ∈ group j} A[r, k] · W[e, n, k] ) ) ),  e = expert of row r
// A (R, K) FP8 E4M3; W (E, N, K/2) signed int4 packed two per byte along K (element 2j in the low nibble); s the
// BF16 group scales read from the INTERLEAVED tensor (E, (K/128)/α, N·α), α = 4 when K/128 divides by 4, else 1;
// offsets (E + 1) device int32, offsets[E] = R; alpha a device float32 scalar. The int4 codes are unpacked in
// registers to FP8 (exact: −8…7 are E4M3 values) and fed to wgmma m64n128k32; each 128-wide K-group's partial sums
// are promoted into the float32 accumulator with their group scale, multiply and add separately rounded, in K order
// — the CPU kernel's order (kernels/recipes/w4afp8/gemm.ts). sm_90a only. N and K multiples of 128.
void launchW4Fp8GroupedGemm(const uint8_t* A, const uint8_t* W, const uint16_t* scalesInterleaved, const int* offsets,
                            const float* alpha, uint16_t* D, int R, int N, int K, int E, cudaStream_t stream);
// Whether this process's device runs it (an sm_90 device).
bool w4GemmAvailable();

// Static per-tensor FP8 (SGLang's reference rule): q = fp8(clamp(fl(x / s), −448, 448)), IEEE division. Row r of q
// reads row rowPair[r] / topk of x (rowPair null: row r); x BF16 bits or float32; s a device float32 scalar.
void launchStaticQuantRows(const void* x, bool xIsBf16, int rows, int cols, const int* rowPair, int topk, const float* s,
                           uint8_t* q, cudaStream_t stream);

// Load-time scale processing: (E, R, Kg) float32 → (E, Kg/α, R·α) BF16 (round to nearest even), interleaved.
void launchInterleaveScales(const float* s, int E, int R, int Kg, uint16_t* out, cudaStream_t stream);
// out[0] = max of n BF16 values (the per-tensor static scale from the per-expert input scales).
void launchMaxBf16(const uint16_t* v, int n, float* out, cudaStream_t stream);

struct W4HostInputs {
  const void* x = nullptr;  // (M, H) BF16 bits or float32
  const void* topkIds = nullptr;
  const float* topkWeights = nullptr;
  const uint8_t* w13 = nullptr;       // (E, 2·I_p, H/2)
  const float* w13Scale = nullptr;    // (E, 2·I_p, H/128)
  const uint8_t* w2 = nullptr;        // (E, H, I_p/2)
  const float* w2Scale = nullptr;     // (E, H, I_p/128)
  const uint16_t* w13InputScale = nullptr;  // (E, 2) BF16
  const uint16_t* w2InputScale = nullptr;   // (E,) BF16
  const int32_t* expertMap = nullptr;
  // the TP/EP picture (parallel.ts), computed from the spec on the host: load_scales hands it back unchanged
  std::vector<int32_t> parallelPlan;
  int planCols = 1;
};

// LayerConfig fields used: recipe "w4afp8", stages, M, K = H, N = I_p, E, eGlobal, topk, xBf16, ids64, hasExpertMap, repeats.
void validateW4afp8(const LayerConfig& c, const W4HostInputs& in);
void runW4afp8FromHost(const LayerConfig& c, const W4HostInputs& in, LayerOutputs& out);

}  // namespace moe
