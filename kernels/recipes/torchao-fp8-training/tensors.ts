/**
 * Tensor ids of the torchao FP8 training recipe (docs/layouts-and-stages.md §8). The inputs and the three results use the names
 * of `moe-inspect grad`; the stage tensors are named after what torchao hands DeepGEMM.
 */
/** the recipe's id in the registry (here so the views can name it without importing the engine) */
export const RECIPE_ID = 'torchao-fp8-training';

export const TT = {
  // layer file (the op's inputs and the upstream gradient)
  input: 'input',
  grad_output: 'grad_output',
  weight: 'weight',
  group_sizes: 'group_sizes',
  // padding (pad_token_groups) and the M-grouped row map
  input_padded: 'input_padded',
  grouped_layout: 'grouped_layout',
  padded_group_sizes: 'padded_group_sizes',
  padded_group_starts: 'padded_group_starts',
  // forward
  input_fp8: 'input_fp8',
  input_scale: 'input_scale',
  weight_fp8: 'weight_fp8',
  weight_scale: 'weight_scale',
  output: 'output',
  // dgrad
  grad_output_padded: 'grad_output_padded',
  grad_output_fp8: 'grad_output_fp8',
  grad_output_scale: 'grad_output_scale',
  weight_t_fp8: 'weight_t_fp8',
  weight_t_scale: 'weight_t_scale',
  grad_input: 'grad_input',
  // wgrad (flat K-grouped operands)
  wgrad_lhs: 'wgrad_lhs',
  wgrad_lhs_scale: 'wgrad_lhs_scale',
  wgrad_lhs_scale_layout: 'wgrad_lhs_scale_layout',
  wgrad_rhs: 'wgrad_rhs',
  wgrad_rhs_scale: 'wgrad_rhs_scale',
  wgrad_rhs_scale_layout: 'wgrad_rhs_scale_layout',
  grad_weight: 'grad_weight',
} as const;

export type TorchaoTensorId = (typeof TT)[keyof typeof TT];

/** the tensors `moe-inspect grad` writes (G.safetensors) */
export const GRAD_FILE_TENSORS = [TT.output, TT.grad_input, TT.grad_weight, TT.grouped_layout, TT.wgrad_lhs, TT.wgrad_lhs_scale, TT.wgrad_rhs, TT.wgrad_rhs_scale] as const;
