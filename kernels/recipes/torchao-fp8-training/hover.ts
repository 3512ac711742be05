/**
 * How a notebook hover would classify this recipe's tensors (the lead wires these into extension/hover/classify.ts):
 * name pattern, optionally dtype and rank, and one line saying what the tensor is in torchao's FP8 training op.
 */
import type { HoverHint } from '../types';

export type { HoverHint };

export const hoverHints: readonly HoverHint[] = [
  { name: /^group_sizes$/, dtype: 'i32', rank: 1, text: 'torchao FP8 MoE training: tokens per expert, in order (Σ = M); each group is padded to a multiple of 128 rows' },
  { name: /^grouped_layout$/, dtype: 'i32', rank: 1, text: "DeepGEMM M-grouped row → expert map (torchao): one int32 per padded row, −1 for group tails and the buffer's slack" },
  { name: /^padded_group_(sizes|starts)$/, dtype: 'i32', rank: 1, text: 'torchao pad_token_groups: padded size align(c_e, 128) / padded start offset of each expert group' },
  { name: /^(input|grad_output)_padded$/, rank: 2, text: 'torchao pad_token_groups buffer: align(M + E·128, 128) rows, each expert group at its padded start, zeros elsewhere' },
  { name: /^(input|grad_output)_fp8$/, dtype: 'f8e4m3fn', rank: 2, text: 'torchao FP8 LHS: 1×128 groups along the row (K forward, N dgrad), quantized with fl(448/amax), amax ≥ 1e−12' },
  { name: /^(input|grad_output)_scale$/, dtype: 'f32', rank: 2, text: 'torchao LHS scales (rows, C/128): float32 dequant multipliers fl(1/fl(448/amax)), stored column-major (strides (1, rows))' },
  { name: /^weight_fp8$/, dtype: 'f8e4m3fn', rank: 3, text: 'torchao forward RHS: weight (E, N, K) FP8, K contiguous, one scale per 128×128 block' },
  { name: /^weight_t_fp8$/, dtype: 'f8e4m3fn', rank: 3, text: 'torchao dgrad RHS: the same 128×128 blocks written transposed, (E, K, N) with N contiguous' },
  { name: /^weight(_t)?_scale$/, dtype: 'f32', rank: 3, text: 'torchao 128×128 weight block scales: (E, N/128, K/128) forward, (E, K/128, N/128) dgrad, float32' },
  { name: /^wgrad_(lhs|rhs)$/, dtype: 'f8e4m3fn', rank: 1, text: "DeepGEMM K-grouped wgrad operand (torchao): flat FP8 buffer, expert e's row-major (D, P_e) block at offset start_e·D (D = N for grad_output, K for input)" },
  { name: /^wgrad_(lhs|rhs)_scale$/, dtype: 'f32', rank: 2, text: 'K-grouped wgrad scales (D, Σ P_e/128): one float32 per (feature, 128-token block); columns run through the experts in order' },
  { name: /^wgrad_(lhs|rhs)_scale_layout$/, dtype: 'f32', rank: 2, text: "the wgrad scales as DeepGEMM's SM90 K-grouped kernel reads them: MN-major, TMA-aligned (re-laid out on every call)" },
  { name: /^grad_weight$/, rank: 3, text: 'torchao wgrad: grad_weight[e] = grad_outputₑᵀ · inputₑ (E, N, K), float32 accumulation in DeepGEMM, stored BF16' },
  { name: /^grad_input$/, rank: 2, text: 'torchao dgrad: grad_input = grad_output · weight[e] per expert group (M, K), BF16' },
  { name: /^grad_output$/, rank: 2, text: "torchao FP8 training: upstream gradient of the grouped GEMM's output (M, N)" },
];
