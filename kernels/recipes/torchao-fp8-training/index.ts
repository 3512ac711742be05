/**
 * torchao's FP8 blockwise MoE training op with the DeepGEMM backend (docs/layouts-and-stages.md §8): the forward grouped GEMM
 * and its two gradients — dgrad through the same M-grouped kernel, wgrad through DeepGEMM's K-grouped kernel on flat
 * per-expert buffers — computed bit for bit on the CPU. Everything of the recipe lives in this folder; the views
 * (views/) are imported by the webview only, never from here (the engine bundle carries no D3).
 */
import type { RecipeSpec } from '../types';
import type { TorchaoInputs } from './inputs';
import { RECIPE_ID, TORCHAO_INPUT_NAMES, torchaoInputsFromTensors, torchaoSpecFromInputs } from './inputs';
import { TT } from './tensors';
import { torchaoChecks, TORCHAO_BLOCKING } from './checks';
import { planTorchao, TORCHAO_STAGES } from './stages';
import { syntheticTorchao } from './synthetic';

import { hoverHints } from './hover';

export { hoverHints };

const typed = (inputs: Record<string, unknown>): TorchaoInputs => inputs as unknown as TorchaoInputs;

export const torchaoFp8Training: RecipeSpec = {
  hoverHints,
  id: RECIPE_ID,
  label: 'torchao FP8 training (DeepGEMM backend)',
  description: 'forward, dgrad and wgrad of an FP8 blockwise MoE grouped GEMM: groups padded to 128, M-grouped GEMMs, K-grouped wgrad',
  doc: 'docs/layouts-and-stages.md#8-torchao-fp8-training-deepgemm-backend',
  options: [],
  inputNames: [...TORCHAO_INPUT_NAMES],
  detect: (shapes) => shapes.has(TT.group_sizes) && shapes.has(TT.grad_output) && shapes.has(TT.weight) && shapes.has(TT.input),
  inputsFromTensors: (raw) => torchaoInputsFromTensors(raw) as unknown as Record<string, never>,
  specFromInputs: (inputs, base) => torchaoSpecFromInputs(typed(inputs), base),
  synthetic: (spec) => ({ inputs: syntheticTorchao(spec) as unknown as Record<string, never> }),
  checks: (spec, inputs) => torchaoChecks(spec, inputs ? typed(inputs) : undefined),
  blocking: TORCHAO_BLOCKING,
  plan: (spec, inputs) => planTorchao(spec, typed(inputs)),
  tolerances: {
    [TT.grouped_layout]: { kind: 'exact' },
    [TT.input_fp8]: { kind: 'exact' },
    [TT.input_scale]: { kind: 'exact' },
    [TT.weight_fp8]: { kind: 'exact' },
    [TT.weight_scale]: { kind: 'exact' },
    [TT.wgrad_lhs]: { kind: 'exact' },
    [TT.wgrad_lhs_scale]: { kind: 'exact' },
    [TT.wgrad_rhs]: { kind: 'exact' },
    [TT.wgrad_rhs_scale]: { kind: 'exact' },
    [TT.output]: { kind: 'relL2', max: 1e-2 },
    [TT.grad_input]: { kind: 'relL2', max: 1e-2 },
    [TT.grad_weight]: { kind: 'relL2', max: 1e-2 },
  },
  // every stage runs in the addon (kernels/native/layer_torchao.cu): SM90 specs on an sm_90 device
  cudaStages: TORCHAO_STAGES.map((s) => s.id),
};
