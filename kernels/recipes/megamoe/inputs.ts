/**
 * A MegaMoE layer file holds what vLLM's FusedMoE holds (kernels/inputs.ts: hidden_states, topk_ids, topk_weights,
 * w13_weight / w2_weight in the checkpoint's natural gate-then-up order with their 128×128 block scales, optional
 * expert_map). The run interleaves w13 itself (its first weight stage), as transform_weights_for_mega_moe_sm90 does
 * at load time. A file written by `moe-inspect transform --recipe megamoe-sm90` is already interleaved: it holds no
 * activations and is the kernel's weight input, not a layer to run.
 */
import { DEFAULT_RECIPE, type LayerSpec } from '../../spec';
import type { LayerInputs } from '../../backend/types';
import { specFromInputs } from '../../inputs';

/** DeepSeek-V4's activation (swiglu_limit 10, docs/layouts-and-stages.md §10.2): what a layer file for this kernel comes from */
export const V4_ACTIVATION = { kind: 'swiglu', clampLimit: 10 } as const;

/**
 * The expert-parallel placement an expert_map describes, when it is MegaMoE's: E % E_l == 0 and this rank owns the
 * contiguous block r·E_l … (r+1)·E_l − 1 in order (DeepGEMM: expert // (E / ranks) is the owning rank).
 */
export function placementOfMap(map: Int32Array): { size: number; rank: number } | undefined {
  let local = 0;
  let first = -1;
  for (let g = 0; g < map.length; g++)
    if (map[g]! >= 0) {
      if (first < 0) first = g;
      local++;
    }
  if (local === 0 || map.length % local !== 0 || first % local !== 0) return undefined;
  for (let g = 0; g < map.length; g++) {
    const want = g >= first && g < first + local ? g - first : -1;
    if (map[g] !== want) return undefined;
  }
  return { size: map.length / local, rank: first / local };
}

export function megamoeSpecFromInputs(inputs: LayerInputs, base: Partial<LayerSpec>, recipeId: string): LayerSpec {
  const map = inputs.expert_map?.contiguous().storage;
  const placed = map ? placementOfMap(map) : undefined;
  const spec = specFromInputs(inputs, {
    activation: { ...V4_ACTIVATION },
    routerWeight: 'activation',
    ...base,
    recipe: { ...DEFAULT_RECIPE, ...(base.recipe ?? {}), id: recipeId },
  });
  if (placed && placed.size > 1 && !spec.expertParallel) spec.expertParallel = { ...placed, strategy: 'linear' };
  return spec;
}
