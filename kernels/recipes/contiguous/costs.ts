/**
 * Compulsory bytes and FLOPs of each stage of the contiguous recipe from the layer's shapes and routing
 * (docs/layouts-and-stages.md §"Roofline"). The floor time of a stage is max(bytes / bandwidth, FLOPs / peak).
 */
import type { StageCost } from '../types';

export interface ContiguousCostInputs {
  /** tokens T */
  tokens: number;
  /** hidden H */
  hidden: number;
  /** intermediate I */
  intermediate: number;
  topk: number;
  /** global experts (expert_map length) */
  experts: number;
  /** routed pairs per local expert */
  counts: ArrayLike<number>;
  /** rows the GEMMs execute (exact M_sum) */
  mSum: number;
  /** allocated permute rows (worst-case bound in vLLM; = mSum here) */
  mSumBuffer?: number;
  /** bytes the architecture's activation-scale re-layout moves (0 when the scales are already in kernel layout) */
  scaleRelayoutBytes: number;
  /** the activation/requant kernel skips −1 rows (the CPU reference does): bytes on R rows instead of S */
  skipsPadding?: boolean;
  hasExpertMap?: boolean;
}

export function contiguousStageCosts(c: ContiguousCostInputs): Record<string, StageCost> {
  const T = c.tokens, H = c.hidden, I = c.intermediate, k = c.topk;
  const GH = Math.ceil(H / 128);
  const GI = Math.ceil(I / 128);
  let R = 0;
  let Ea = 0;
  for (let e = 0; e < c.counts.length; e++) {
    R += c.counts[e]!;
    if (c.counts[e]! > 0) Ea++;
  }
  const S = c.mSum;
  const Sbuf = c.mSumBuffer ?? S;
  const actRows = c.skipsPadding ? R : S;
  const mem = (bytes: number): StageCost => ({ bytes, flops: 0, usefulFlops: 0 });
  return {
    quantize: mem(2 * T * H + T * H + 4 * T * GH),
    transform_scales: mem(c.scaleRelayoutBytes),
    permute: mem(T * H + 4 * T * GH + 4 * T * k + (c.hasExpertMap ? 4 * c.experts : 0) + R * H + 4 * Sbuf * GH + 4 * Sbuf + 4 * T * k),
    gemm1: {
      bytes: S * H + 4 * S * GH + Ea * 2 * I * H + 4 * Ea * Math.ceil((2 * I) / 128) * GH + 2 * S * 2 * I,
      flops: 2 * S * 2 * I * H,
      usefulFlops: 2 * R * 2 * I * H,
    },
    activation: mem(2 * actRows * 2 * I + 2 * actRows * I),
    requantize: mem(2 * actRows * I + actRows * I + 4 * actRows * GI),
    gemm2: {
      bytes: S * I + 4 * S * GI + Ea * H * I + 4 * Ea * GH * GI + 2 * S * H,
      flops: 2 * S * H * I,
      usefulFlops: 2 * R * H * I,
    },
    unpermute: { bytes: 2 * R * H + 12 * T * k + 2 * T * H, flops: 2 * R * H, usefulFlops: 2 * R * H },
  };
}
