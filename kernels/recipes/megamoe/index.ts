/**
 * DeepGEMM's Hopper FP8 MegaMoE for DeepSeek-V4 (fp8_mega_moe; docs/layouts-and-stages.md §7.4, §7.5, §10.2, §10.3): dispatch,
 * both expert GEMMs, the clamped SwiGLU with the routing weight and the combine fused in one kernel over a symmetric
 * buffer shared by the expert-parallel group. kernels/recipes/megamoe/README.md says what is modelled and what not.
 */
import type { RecipeSpec } from '../types';
import type { LayerInputs } from '../../backend/types';
import { inputsFromTensors, LAYER_TENSOR_NAMES } from '../../inputs';
import { T } from '../tensors';
import { MG } from './tensors';
import { megamoeSpecFromInputs } from './inputs';
import { megamoeChecks, MEGAMOE_BLOCKING } from './checks';
import { planMegamoe } from './stages';
import { syntheticMegamoe } from './synthetic';
import { maxTokensOption } from './options';
import { transformSm90 } from './transform';

const typed = (inputs: Record<string, unknown>): LayerInputs => inputs as unknown as LayerInputs;

export { megamoeSm100 } from './sm100';
import { hoverHints } from './hover';

export { hoverHints };

export const megamoeSm90: RecipeSpec = {
  hoverHints,
  id: 'megamoe-sm90',
  label: 'MegaMoE (Hopper FP8, DeepSeek-V4)',
  description: 'DeepGEMM fp8_mega_moe: symmetric-buffer staging, L1 GEMM over the gate/up-interleaved w13, clamped SwiGLU × routing weight, 1×64 L2 quantization, L2 GEMM, combine (expert parallel)',
  doc: 'kernels/recipes/megamoe/README.md',
  options: [maxTokensOption],
  inputNames: LAYER_TENSOR_NAMES,
  optionalInputNames: [T.expert_map],
  // the same tensors as the contiguous recipe: chosen with --recipe, never detected
  detect: () => false,
  inputsFromTensors: (raw) => inputsFromTensors(raw) as unknown as Record<string, never>,
  specFromInputs: (inputs, base) => megamoeSpecFromInputs(typed(inputs), base, 'megamoe-sm90'),
  synthetic: (spec, opts) => syntheticMegamoe(spec, opts),
  checks: (spec, inputs) => megamoeChecks(spec, inputs ? typed(inputs) : undefined),
  blocking: MEGAMOE_BLOCKING,
  plan: (spec, inputs, env) => planMegamoe(spec, typed(inputs), env),
  tolerances: {
    [MG.sym_x]: { kind: 'exact' },
    [MG.sym_x_sf]: { kind: 'exact' },
    [MG.w13_interleave_map]: { kind: 'exact' },
    [MG.w13_interleaved]: { kind: 'exact' },
    [MG.l1_out]: { kind: 'relL2', max: 1e-2 },
    [MG.swiglu_out]: { kind: 'relL2', max: 1e-2 },
    [MG.l2_out]: { kind: 'relL2', max: 1e-2 },
    [T.output]: { kind: 'relL2', max: 1e-2 },
  },
  transformLayer: (raw, opts) => transformSm90(raw, opts),
};
