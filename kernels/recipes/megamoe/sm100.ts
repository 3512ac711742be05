/**
 * megamoe-sm100: the weight layout of DeepGEMM's Blackwell MegaMoE (transform_weights_for_mega_moe, docs/layouts-and-stages.md
 * §7.5) for `moe-inspect transform`. Its kernel (fp8_fp4_mega_moe) computes with FP4 weights and 32-wide UE8M0
 * scales, which this engine does not model: a run is refused with a one-line reason (a blocking check).
 */
import type { RecipeSpec } from '../types';
import type { LayerInputs } from '../../backend/types';
import { MoeError } from '../../errors';
import { inputsFromTensors, LAYER_TENSOR_NAMES } from '../../inputs';
import { T } from '../tensors';
import { megamoeSpecFromInputs } from './inputs';
import { syntheticMegamoe } from './synthetic';
import { transformSm100 } from './transform';

const RUN_REFUSED = 'megamoe-sm100.run';

export const megamoeSm100: RecipeSpec = {
  runnable: false,
  id: 'megamoe-sm100',
  label: 'MegaMoE weight layout (Blackwell)',
  description: 'transform only: w13 gate/up interleave, per-row packed UE8M0 scales interleaved and UTCCP-transposed (DeepGEMM transform_weights_for_mega_moe)',
  doc: 'kernels/recipes/megamoe/README.md',
  options: [],
  inputNames: LAYER_TENSOR_NAMES,
  optionalInputNames: [T.expert_map],
  // the same tensors as the contiguous recipe: chosen with --recipe, never detected
  detect: () => false,
  inputsFromTensors: (raw) => inputsFromTensors(raw) as unknown as Record<string, never>,
  specFromInputs: (inputs, base) => megamoeSpecFromInputs(inputs as unknown as LayerInputs, base, 'megamoe-sm100'),
  synthetic: (spec, opts) => syntheticMegamoe(spec, opts),
  checks: () => [
    {
      id: RUN_REFUSED,
      level: 'fail',
      message:
        "megamoe-sm100 lays weights out only (moe-inspect transform --recipe megamoe-sm100): Blackwell's fp8_fp4_mega_moe computes with FP4 weights and 32-wide UE8M0 scales, which this engine does not model; run --recipe megamoe-sm90 for the Hopper FP8 MegaMoE schedule",
    },
  ],
  blocking: new Set([RUN_REFUSED]),
  plan: () => {
    throw new MoeError('E_SPEC', 'megamoe-sm100 has no run plan: it is a weight layout (moe-inspect transform --recipe megamoe-sm100)');
  },
  tolerances: {},
  transformLayer: (raw) => transformSm100(raw),
};
