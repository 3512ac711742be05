/**
 * How a hovered notebook tensor of a MegaMoE pipeline is classified (the lead wires these into
 * extension/hover/classify.ts). Names are DeepGEMM's SymmBuffer fields (buffer.x, buffer.x_sf, …, docs/layouts-and-stages.md
 * §7.4) and this recipe's stage tensors; dtypes are torch's names as the notebook probe reports them.
 */
import type { HoverHint } from '../types';

export type { HoverHint };

export const hoverHints: readonly HoverHint[] = [
  {
    name: /(^|\.)l2_acts_sf$/,
    dtype: 'float32',
    rank: 2,
    text: 'MegaMoE L2 activation scales (pool_sf, IH/64): float32, MN-major (strides (1, pool_sf)), one scale per 64 columns — the post-SwiGLU group is 64, not 128 (docs/layouts-and-stages.md §7.4)',
  },
  {
    name: /(^|\.)l1_acts_sf$/,
    dtype: 'float32',
    rank: 2,
    text: 'MegaMoE L1 activation scales (pool_sf, H/128): float32, MN-major (strides (1, pool_sf)), one per 128 columns (docs/layouts-and-stages.md §7.4)',
  },
  { name: /(^|\.)l2_acts$/, dtype: 'float8_e4m3fn', rank: 2, text: 'MegaMoE L2 pool (pool, IH): FP8 post-SwiGLU activations, routing weight already applied, quantized per 64 columns' },
  { name: /(^|\.)l1_acts$/, dtype: 'float8_e4m3fn', rank: 2, text: "MegaMoE L1 pool (pool, H): FP8 token rows dispatched to this rank's experts" },
  {
    name: /(^|\.)(sym_)?x_sf$/,
    dtype: 'float32',
    rank: 2,
    text: 'MegaMoE staging scales (T_max, H/128): float32, K-major (row-major), per-token 1×128 — copied into the symmetric buffer before each call (per_token_cast_to_fp8, use_ue8m0=False)',
  },
  { name: /(^|\.)(sym_)?x$/, dtype: 'float8_e4m3fn', rank: 2, text: 'MegaMoE staged tokens (T_max, H): FP8 rows in the symmetric buffer; rows past num_tokens are not read' },
  { name: /(^|\.)(sym_)?topk_idx$/, dtype: 'int64', rank: 2, text: 'MegaMoE staged top-k expert ids (T_max, k), int64 (DeepSeek-V4 sqrtsoftplus routing, docs/layouts-and-stages.md §10.3)' },
  { name: /(^|\.)sym_topk_weights$/, dtype: 'float32', rank: 2, text: 'MegaMoE staged routing weights (T_max, k): applied inside the activation, not at the combine' },
  { name: /(^|\.)w13_interleave_map$/, dtype: 'int32', rank: 1, text: 'gate/up interleave map (2·IH): output row r of the interleaved w13 ← source row map[r] (granularity 8, docs/layouts-and-stages.md §7.5)' },
  {
    name: /(^|\.)(w13_interleaved|l1_weights?)$/,
    dtype: 'float8_e4m3fn',
    rank: 3,
    text: 'MegaMoE L1 weights (E_l, 2·IH, H), gate/up rows interleaved by 8 (g0..g7, u0..u7, g8..g15, …); on SM90 their block scales stay in natural order (docs/layouts-and-stages.md §7.5)',
  },
  { name: /(^|\.)combine_buffer$/, dtype: 'bfloat16', rank: 3, text: 'MegaMoE combine buffer (k, T_max, H), BF16: one row per (slot, token), summed unweighted into the output' },
];
