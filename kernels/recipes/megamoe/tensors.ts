/**
 * Tensor ids of the MegaMoE recipes beyond the shared ones (kernels/recipes/tensors.ts). The symmetric-buffer and
 * pool names follow DeepGEMM's SymmBuffer fields (x, x_sf, topk_idx, topk_weights, l1_acts, l1_acts_sf, l2_acts,
 * l2_acts_sf; docs/layouts-and-stages.md §7.4) with a `sym_` prefix where the bare name would clash with a layer input.
 */
export const MG = {
  /** (2·IH,) i32: output row r of the interleaved w13 ← source row map[r] of the natural gate-then-up w13 (§7.5) */
  w13_interleave_map: 'w13_interleave_map',
  /** (E_l, 2·IH, H) fp8: w13 after the granularity-8 gate/up interleave (what the L1 GEMM reads) */
  w13_interleaved: 'w13_interleaved',
  /** (T_max, H) fp8: tokens staged in the symmetric buffer */
  sym_x: 'sym_x',
  /** (T_max, H/128) f32, K-major (row-major): their per-token 1×128 scales */
  sym_x_sf: 'sym_x_sf',
  /** (T_max, k) i64: global expert ids */
  sym_topk_idx: 'sym_topk_idx',
  /** (T_max, k) f32 */
  sym_topk_weights: 'sym_topk_weights',
  /** (pool,) i32: the (token, slot) pair t·k + s each pool row holds */
  pool_src: 'pool_src',
  /** (pool,) i32: local expert of each pool row */
  pool_expert: 'pool_expert',
  /** (pool, H) fp8: L1 activations dispatched to this rank's experts */
  l1_acts: 'l1_acts',
  /** (pool, H/128) f32, MN-major TMA-aligned */
  l1_acts_sf: 'l1_acts_sf',
  /** (pool,) f32: routing weight travelling with each pool row (applied in the L1 epilogue) */
  l1_topk_weights: 'l1_topk_weights',
  /** (pool, 2·IH) f32: L1 accumulators, columns in the interleaved order (never stored by the fused kernel) */
  l1_out: 'l1_out',
  /** (pool, IH) f32: clamped SwiGLU × routing weight, before the L2 quantization */
  swiglu_out: 'swiglu_out',
  /** (pool, IH) fp8: L2 activations */
  l2_acts: 'l2_acts',
  /** (pool, IH/64) f32, MN-major TMA-aligned: one scale per 64 columns */
  l2_acts_sf: 'l2_acts_sf',
  /** (pool, H) bf16: L2 GEMM output rows (written to the source rank's combine buffer) */
  l2_out: 'l2_out',
  /** (k, T_max, H) bf16: one row per (slot, token) of this rank's tokens */
  combine_buffer: 'combine_buffer',
} as const;
