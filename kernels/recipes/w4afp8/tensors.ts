/** Tensor ids of the W4AFP8 recipe beyond the shared ones (kernels/recipes/tensors.ts), under SGLang's names. */
export const WT = {
  /** (E_l, 2) BF16: static FP8 input scale of GEMM1 per expert (gate, up); the kernel uses the max of all */
  w13_input_scale: 'w13_input_scale',
  /** (E_l,) BF16: static FP8 input scale of GEMM2 per expert; the kernel uses the max of all */
  w2_input_scale: 'w2_input_scale',
  /** (1,) F32: max(w13_input_scale), the per-tensor scale of the GEMM1 activations (SGLang's layer.w13_input_scale after load) */
  a1_scale: 'a1_scale',
  /** (1,) F32: max(w2_input_scale) */
  a2_scale: 'a2_scale',
  /** (E_l, (H/128)/α, 2·I_p·α) BF16: w13's group scales as the CUTLASS kernel reads them */
  w13_scale_interleaved: 'w13_weight_scale_interleaved',
  /** (E_l, (I_p/128)/α, H·α) BF16 */
  w2_scale_interleaved: 'w2_weight_scale_interleaved',
  /** (E_l + 1,) I32: first row of each local expert's rows in the permuted buffer (SGLang's expert_offsets) */
  expert_offsets: 'expert_offsets',
  /** (rows, 8) I32: which GPU holds which experts and which slice of I, under TP and under EP (parallel.ts) */
  parallel_plan: 'w4afp8_parallel_plan',
} as const;
