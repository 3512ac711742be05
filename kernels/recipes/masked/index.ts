/**
 * DeepEP's low-latency (masked) dispatch feeding DeepGEMM's masked grouped GEMM: one (max_m, K) buffer per local
 * expert with masked_m valid rows (docs/layouts-and-stages.md §"Masked").
 */
import type { RecipeSpec } from '../types';
import { estimateRun } from '../../estimate';
import { optionValue } from '../types';
import { T } from '../tensors';
import { MT } from './tensors';
import { MASKED_INPUT_NAMES, maskedInputsFromTensors, maskedSpecFromInputs, type MaskedInputs } from './inputs';
import { maskedChecks, MASKED_BLOCKING } from './checks';
import { MASKED_STAGES, planMasked } from './stages';
import { syntheticMasked } from './synthetic';
import { maxMOption } from './options';

const typed = (inputs: Record<string, unknown>): MaskedInputs => inputs as unknown as MaskedInputs;

export const masked: RecipeSpec = {
  id: 'masked',
  label: 'Masked (DeepEP low-latency)',
  description: 'one max_m-row buffer per local expert with masked_m valid rows; DeepGEMM m_grouped_fp8_gemm_nt_masked',
  doc: 'docs/layouts-and-stages.md#masked',
  options: [maxMOption],
  inputNames: [...MASKED_INPUT_NAMES],
  detect: (shapes) => shapes.has(MT.masked_m),
  inputsFromTensors: (raw) => maskedInputsFromTensors(raw) as unknown as Record<string, never>,
  specFromInputs: (inputs, base) => maskedSpecFromInputs(typed(inputs), base),
  synthetic: (spec, { lazy }) => ({ inputs: syntheticMasked(spec, optionValue(spec, maxMOption), { lazy: !!lazy }) as unknown as Record<string, never> }),
  checks: (spec, inputs) => maskedChecks(spec, inputs ? typed(inputs) : undefined),
  blocking: MASKED_BLOCKING,
  plan: (spec, inputs, env) => planMasked(spec, typed(inputs), env),
  stages: MASKED_STAGES,
  estimate: estimateRun,
  tolerances: {
    [T.a1q]: { kind: 'exact' },
    [T.a1q_scale]: { kind: 'exact' },
    [T.mm1_out]: { kind: 'relL2', max: 1e-2 },
    [T.output]: { kind: 'relL2', max: 1e-2 },
  },
  cudaStages: MASKED_STAGES.map((s) => s.id),
};
