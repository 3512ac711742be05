/**
 * What the bundled CUDA addon can run, asked before a backend is chosen (auto falls back to the CPU with the reason;
 * cuda fails with it) and again before a layer is sent to the GPU worker.
 */
import type { LayerSpec } from '../spec';
import type { RecipeSpec } from '../recipes/types';
import { archById } from '../arch/index';
import { syntheticWeightsPaged } from '../expertPages';

/** Why the CUDA addon cannot run this recipe / spec, or undefined when it can. */
export function cudaRefusal(recipe?: RecipeSpec, spec?: LayerSpec): string | undefined {
  if (recipe && !recipe.cudaStages) return `the CUDA addon has no kernels for the ${recipe.id} recipe (${recipe.label})`;
  if (spec) {
    // the architecture decides the scale layout the addon produces; a format it cannot take is not silently replaced
    const arch = archById(spec.arch);
    if (!arch.scaleFormats.includes(spec.recipe.scaleFormat))
      return `the CUDA addon produces ${arch.label} scale layouts from ${arch.scaleFormats.join(' or ')} scales only, and the recipe has ${spec.recipe.scaleFormat}`;
    // synthetic weights past one array are made per expert (kernels/expertPages.ts); the addon takes whole tensors
    const ep = spec.expertParallel;
    const local = ep && ep.size > 1 ? Math.ceil(spec.experts / ep.size) : spec.experts;
    const w13 = local * 2 * spec.intermediate * spec.hidden;
    if (spec.source.kind === 'synthetic' && syntheticWeightsPaged(local, spec.intermediate, spec.hidden, 'cuda'))
      return `the CUDA addon takes each weight tensor whole, and this layer's w13_weight (${local} experts, ${(w13 / 2 ** 30).toFixed(1)} GiB) is made one expert at a time on the CPU; put one rank's experts on the GPU with --ep 8 --rank R`;
  }
  return undefined;
}
