/**
 * Tensor ids shared by the recipes (vLLM FusedMoE names, DESIGN.md "The engine's vocabulary"): a typo is a compile
 * error, not a silently empty picture. A recipe with tensors of its own declares them in its folder the same way.
 */
export const T = {
  hidden_states: 'hidden_states',
  topk_ids: 'topk_ids',
  topk_weights: 'topk_weights',
  w13_weight: 'w13_weight',
  w13_weight_scale_inv: 'w13_weight_scale_inv',
  w2_weight: 'w2_weight',
  w2_weight_scale_inv: 'w2_weight_scale_inv',
  expert_map: 'expert_map',
  a1q: 'a1q',
  a1q_scale: 'a1q_scale',
  a1q_scale_layout: 'a1q_scale_layout',
  a1q_permuted: 'a1q_permuted',
  a1q_scale_permuted: 'a1q_scale_permuted',
  m_indices: 'm_indices',
  inv_perm: 'inv_perm',
  mm1_out: 'mm1_out',
  act_out: 'act_out',
  a2q: 'a2q',
  a2q_scale: 'a2q_scale',
  a2q_scale_layout: 'a2q_scale_layout',
  mm2_out: 'mm2_out',
  output: 'output',
} as const;

export type SharedTensorId = (typeof T)[keyof typeof T];
