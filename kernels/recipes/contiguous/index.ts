/**
 * vLLM's DeepGemmExperts path with DeepGEMM's contiguous M-grouped GEMM: quantize, permute into 128-row-aligned
 * expert segments, two grouped GEMMs around SiLU-and-mul, unpermute and weighted reduce
 * (docs/layouts-and-stages.md §"Contiguous").
 */
import type { RecipeSpec } from '../types';
import { estimateRun } from '../../estimate';
import type { LayerInputs } from '../../backend/types';
import { T } from '../tensors';
import { inputsFromTensors, specFromInputs, LAYER_TENSOR_NAMES } from '../../inputs';
import { syntheticInputs, syntheticInputsDeferred, syntheticInputsLazy } from '../../synthetic';
import { contiguousChecks, CONTIGUOUS_BLOCKING } from './checks';
import { CONTIGUOUS_STAGES, planContiguous } from './stages';

/** the recipe's own inputs, once validated by inputsFromTensors (the registry passes them as a plain record) */
const typed = (inputs: Record<string, unknown>): LayerInputs => inputs as unknown as LayerInputs;

export const contiguous: RecipeSpec = {
  id: 'contiguous',
  label: 'Contiguous (vLLM DeepGemmExperts)',
  description: 'tokens permuted into 128-row-aligned expert segments; DeepGEMM m_grouped_fp8_gemm_nt_contiguous',
  doc: 'docs/layouts-and-stages.md#contiguous',
  options: [],
  inputNames: LAYER_TENSOR_NAMES,
  optionalInputNames: [T.expert_map],
  // a file with masked_m is the masked recipe's, even with 2-D hidden_states (its loader says what is wrong)
  detect: (shapes) => shapes.has(T.topk_ids) && shapes.get(T.hidden_states)?.length === 2 && !shapes.has('masked_m'),
  inputsFromTensors: (raw) => inputsFromTensors(raw) as unknown as Record<string, never>,
  specFromInputs: (inputs, base) => specFromInputs(typed(inputs), { ...base, recipe: { ...(base.recipe ?? { actGroup: 128, weightBlock: 128, scaleFormat: 'f32', quant: 'vllm' }), id: 'contiguous' } }),
  synthetic(spec, { defer, lazy, backend }) {
    // a run of some stages: the weights are made only if a stage that runs reads them
    if (lazy) return { inputs: syntheticInputsLazy(spec, backend) as unknown as Record<string, never> };
    if (!defer) return { inputs: syntheticInputs(spec, backend) as unknown as Record<string, never> };
    const d = syntheticInputsDeferred(spec, backend);
    // weights made per GEMM batch are made when read: nothing to defer
    if (d.paged) return { inputs: d.inputs as unknown as Record<string, never> };
    return { inputs: d.inputs as unknown as Record<string, never>, fillWeights: d.fillWeights, fillWeightsAsync: d.fillWeightsAsync, deferred: new Set([T.w13_weight, T.w2_weight]) };
  },
  checks: (spec, inputs) => contiguousChecks(spec, inputs ? typed(inputs) : undefined),
  blocking: CONTIGUOUS_BLOCKING,
  plan: (spec, inputs, env) => planContiguous(spec, typed(inputs), env),
  stages: CONTIGUOUS_STAGES,
  estimate: estimateRun,
  tolerances: {
    a1q: { kind: 'exact' },
    a1q_scale: { kind: 'exact' },
    m_indices: { kind: 'exact' },
    mm1_out: { kind: 'relL2', max: 1e-2 },
    mm2_out: { kind: 'relL2', max: 1e-2 },
    output: { kind: 'relL2', max: 1e-2 },
  },
  cudaStages: CONTIGUOUS_STAGES.map((s) => s.id),
};
