/**
 * The guards of a layer (docs/layouts-and-stages.md §7, docs/layouts-and-stages.md §7): the recipe's own (kernels/recipes/<id>/checks.ts) plus the
 * architecture's (kernels/arch/), and the shared pieces recipes build theirs from. Each result says what was checked
 * and, when it is not a pass, what to change.
 */
import type { LayerSpec } from './spec';
import type { CheckResult } from './trace';
import type { LayerTensors } from './recipes/types';
import { MoeError } from './errors';
import { archById } from './arch/index';
import { recipeById } from './recipes/index';
import { expertMapOf } from './synthetic';
import type { Tensor } from './tensor';

export const pass = (id: string, message: string): CheckResult => ({ id, level: 'pass', message });

/** integer sizes and the 128-multiples every FP8 block-scaled recipe needs */
export function sizeChecks(spec: LayerSpec): CheckResult[] {
  const out: CheckResult[] = [];
  const { tokens: M, hidden: K, intermediate: N, experts: E, topk } = spec;
  const sizesOk = [M >= 0, K > 0, N > 0, E > 0, topk > 0].every(Boolean) && [M, K, N, E, topk].every(Number.isInteger);
  out.push(
    sizesOk
      ? pass('spec.sizes', `sizes: M=${M}, K=${K}, N=${N}, E=${E}, top-${topk}`)
      : { id: 'spec.sizes', level: 'fail', message: `sizes must be integers (tokens ≥ 0, the rest ≥ 1): got M=${M}, K=${K}, N=${N}, E=${E}, topk=${topk}` },
  );

  out.push(
    K % 128 === 0
      ? pass('shape.hidden-multiple-128', `hidden K = ${K} is a multiple of 128`)
      : { id: 'shape.hidden-multiple-128', level: 'fail', tensor: 'hidden_states', message: `hidden K = ${K} is not a multiple of 128: DeepGEMM's 128-wide blocks and the 1×128 activation groups need it (pad K to ${Math.ceil(K / 128) * 128})` },
  );
  out.push(
    N % 128 === 0
      ? pass('shape.intermediate-multiple-128', `intermediate N = ${N} is a multiple of 128`)
      : { id: 'shape.intermediate-multiple-128', level: 'fail', tensor: 'w2_weight', message: `intermediate N = ${N} is not a multiple of 128: the re-quantization groups and DeepGEMM's blocks need it (vLLM falls back to Triton); pad N to ${Math.ceil(N / 128) * 128}` },
  );
  return out;
}

/**
 * The expert map against the spec's EP placement and the local expert count of the weights (`El`, their first dim):
 * from the spec alone when the inputs are not known yet (`map` null), else the file's map or its absence.
 */
export function expertMapCheck(spec: LayerSpec, map: Tensor<'i32'> | undefined | null, El: number): CheckResult | undefined {
  const specMap = expertMapOf(spec);
  const E = spec.experts;
  if (map === null) {
    return specMap ? pass('inputs.expert-map', `expert map from EP${spec.expertParallel!.size} rank ${spec.expertParallel!.rank} (${spec.expertParallel!.strategy}): ${specMap.filter((x) => x >= 0).length} local experts`) : undefined;
  }
  if (map) {
    const m = map.contiguous().storage;
    let local = 0;
    for (const v of m) if (v >= 0) local++;
    const mism = specMap && (specMap.length !== m.length || specMap.some((v, i) => v !== m[i]));
    if (map.numel !== E || local !== El)
      return { id: 'inputs.expert-map', level: 'fail', tensor: 'expert_map', message: `expert_map has ${map.numel} entries with ${local} local experts; expected ${E} entries (global experts) and ${El} local (w13_weight's first dim)` };
    if (mism)
      return { id: 'inputs.expert-map', level: 'warn', tensor: 'expert_map', message: `expert_map differs from EP${spec.expertParallel!.size} rank ${spec.expertParallel!.rank} ${spec.expertParallel!.strategy} placement: the file's map is used` };
    return pass('inputs.expert-map', `expert_map: ${local} of ${E} experts local`);
  }
  if (El !== E)
    return { id: 'inputs.expert-map', level: 'fail', tensor: 'expert_map', message: `w13_weight holds ${El} experts but the spec has ${E} and there is no expert_map to say which are local; add expert_map [${E}] (global → local, −1 elsewhere)` };
  return undefined;
}

/** The recipe's and the architecture's guards for a spec and (when known) its inputs. */
export function runChecks(spec: LayerSpec, inputs?: LayerTensors): CheckResult[] {
  const recipe = recipeById(spec.recipe.id);
  const arch = archById(spec.arch);
  const weightScales: Record<string, LayerTensors[string]> = {};
  if (inputs) for (const n of recipe.blockScaleTensors ?? ['w13_weight_scale_inv', 'w2_weight_scale_inv']) if (inputs[n]) weightScales[n] = inputs[n];
  return [...recipe.checks(spec, inputs), ...arch.checks({ scaleFormat: spec.recipe.scaleFormat, ...(inputs ? { weightScales } : {}) })];
}

/** Throws E_SPEC with every blocking failure: the layer cannot be computed at all. */
export function refuseBlocking(spec: LayerSpec, checks: readonly CheckResult[]): void {
  const blocking = recipeById(spec.recipe.id).blocking;
  const bad = checks.filter((c) => c.level === 'fail' && blocking.has(c.id));
  if (bad.length) throw new MoeError('E_SPEC', `cannot run this layer: ${bad.map((c) => c.message).join(' · ')}`, bad[0]!.tensor);
}
