/**
 * Compulsory bytes and FLOPs of the torchao training stages (the roofline's inputs; docs/layouts-and-stages.md
 * §"Roofline"): each tensor read or written once. M tokens, S = Σ align(c_e, 128) rows of the expert groups, M_buf the
 * padded buffer's rows, E_a experts with tokens, G_K = K/128, G_N = N/128. Executed FLOPs count the S rows the
 * 128-row tiles cover (as the contiguous recipe does); useful FLOPs the M real rows.
 */
import type { StageCost } from '../types';
import type { GroupPlan } from './groups';

export function torchaoStageCosts(groups: GroupPlan, K: number, N: number): Record<string, StageCost> {
  const M = groups.tokens;
  const S = groups.paddedTokens;
  const Mb = groups.bufferRows;
  const E = groups.sizes.length;
  let Ea = 0;
  for (const c of groups.sizes) if (c > 0) Ea++;
  const GK = K / 128;
  const GN = N / 128;
  const W = E * N * K;
  const mem = (bytes: number): StageCost => ({ bytes, flops: 0, usefulFlops: 0 });
  return {
    // read the BF16 rows and the sizes, write the zero-filled padded buffer and grouped_layout
    pad: mem(2 * M * K + 4 * E + 2 * Mb * K + 4 * Mb),
    // LHS over every buffer row; the whole weight (torchao quantizes all experts each step)
    fwd_quantize: mem(2 * Mb * K + Mb * K + 4 * Mb * GK + 2 * W + W + 4 * E * GN * GK),
    fwd_gemm: {
      bytes: S * K + 4 * S * GK + Ea * N * K + 4 * Ea * GN * GK + 4 * Mb + 2 * Mb * N + 2 * 2 * M * N,
      flops: 2 * S * N * K,
      usefulFlops: 2 * M * N * K,
    },
    dgrad_quantize: mem(2 * M * N + 2 * Mb * N + 2 * Mb * N + Mb * N + 4 * Mb * GN + 2 * W + W + 4 * E * GK * GN),
    dgrad_gemm: {
      bytes: S * N + 4 * S * GN + Ea * K * N + 4 * Ea * GK * GN + 4 * Mb + 2 * Mb * K + 2 * 2 * M * K,
      flops: 2 * S * K * N,
      usefulFlops: 2 * M * K * N,
    },
    wgrad_quantize: mem(2 * S * N + 2 * S * K + S * N + S * K + 4 * (N + K) * (S / 128)),
    wgrad_gemm: {
      // operands, scales, C (zeros) read, float32 D written, then the BF16 cast reads D and writes grad_weight
      bytes: S * N + S * K + 4 * (N + K) * (S / 128) + 4 * W + 4 * W + 4 * W + 2 * W,
      flops: 2 * S * N * K,
      usefulFlops: 2 * M * N * K,
    },
  };
}
