/**
 * SGLang's W4AFP8 MoE experts (docs/layouts-and-stages.md §9): int4 weights (two per byte, one BF16 scale per row and 128
 * K-elements) times FP8 activations with static per-tensor scales, through CUTLASS grouped GEMMs on SM90 — under
 * tensor parallelism (all experts, I/tp each: `--tp N`) or expert parallelism (E/ep experts, full I: `--ep N --rank R`).
 */
import type { RecipeSpec } from '../types';
import { T } from '../tensors';
import { WT } from './tensors';
import { W4_INPUT_NAMES, w4InputsFromTensors, w4SpecFromInputs, type W4Inputs } from './inputs';
import { w4Checks, W4_BLOCKING } from './checks';
import { planW4, W4_STAGES } from './stages';
import { syntheticW4 } from './synthetic';
import { tpOption } from './options';
import { w4TransformLayer } from './transform';

import { hoverHints } from './hover';

export { hoverHints };

const typed = (inputs: Record<string, unknown>): W4Inputs => inputs as unknown as W4Inputs;

export const w4afp8: RecipeSpec = {
  // its *_weight_scale_inv are int4 group scales (cast to BF16 by its loader), not DeepGEMM block scales
  blockScaleTensors: [],
  hoverHints,
  id: 'w4afp8',
  label: 'W4AFP8 (SGLang int4 × FP8)',
  description: 'int4 weights with group-128 BF16 scales × static per-tensor FP8 activations; SGLang cutlass_w4a8_moe, TP or EP',
  doc: 'docs/layouts-and-stages.md#9-sglang-w4afp8',
  options: [tpOption],
  inputNames: [...W4_INPUT_NAMES],
  optionalInputNames: [T.expert_map],
  // the static input scales exist only in W4AFP8 layers (an FP8 layer has neither them nor int8 weights)
  detect: (shapes) => shapes.has(WT.w13_input_scale) && shapes.has(WT.w2_input_scale) && shapes.get(T.hidden_states)?.length === 2,
  inputsFromTensors: (raw) => w4InputsFromTensors(raw) as unknown as Record<string, never>,
  specFromInputs: (inputs, base) => w4SpecFromInputs(typed(inputs), base),
  synthetic(spec, { defer }) {
    const s = syntheticW4(spec);
    if (!defer) {
      s.fillWeights!();
      return { inputs: s.inputs };
    }
    return s;
  },
  checks: (spec, inputs) => w4Checks(spec, inputs ? typed(inputs) : undefined),
  blocking: W4_BLOCKING,
  plan: (spec, inputs) => planW4(spec, typed(inputs)),
  tolerances: {
    [T.a1q_permuted]: { kind: 'exact' },
    [T.m_indices]: { kind: 'exact' },
    [T.mm1_out]: { kind: 'relL2', max: 1e-2 },
    [T.mm2_out]: { kind: 'relL2', max: 1e-2 },
    [T.output]: { kind: 'relL2', max: 1e-2 },
  },
  transformLayer: (raw, opts) => w4TransformLayer(raw, opts),
  // every stage runs in the addon (kernels/native/layer_w4afp8.cu); its int4 × FP8 GEMM is wgmma, sm_90 devices only
  cudaStages: W4_STAGES.map((s) => s.id),
};
