/**
 * A layer file (safetensors with vLLM FusedMoE names) → its recipe and validated inputs, read once. The recipe is
 * detected from the tensors present (kernels/recipes/index.ts `detectRecipe`) or forced by the caller
 * (`--dispatch masked|contiguous`, `--recipe`).
 */
import { SafetensorsFile } from './io/safetensors';
import { PAGING } from './expertPages';
import { expertPagedFromFile, needsExpertPages } from './io/expertPagesFile';
import { MoeError } from './errors';
import type { Tensor } from './tensor';
import { RECIPES, detectRecipe, recipeById, type LayerTensors, type RecipeSpec } from './recipes/index';

export interface LoadedLayer {
  recipe: RecipeSpec;
  inputs: LayerTensors;
}

const capList = (names: readonly string[], n = 20): string => (names.length > n ? `${names.slice(0, n).join(', ')}, … and ${names.length - n} more` : names.join(', '));

/** input records a recipe has validated (the pipeline does not scan a multi-GB layer twice) */
export const VALIDATED = new WeakSet<LayerTensors>();

export function loadLayer(path: string, opts: { recipe?: string } = {}): LoadedLayer {
  const f = SafetensorsFile.open(path);
  try {
    const shapes = new Map<string, readonly number[]>(f.names().map((n) => [n, f.entry(n).shape]));
    const recipe = opts.recipe ? recipeById(opts.recipe) : detectRecipe(shapes);
    if (!recipe)
      throw new MoeError(
        'E_FORMAT',
        `${path}: not a layer file of any recipe (tensors under vLLM FusedMoE names): ${RECIPES.map((r) => `${r.id} needs ${r.inputNames.join(', ')}`).join('; ')}; it has: ${capList(f.names()) || 'no tensors'}`,
      );
    const raw: Record<string, Tensor | undefined> = {};
    // a stacked FP8 weight past one array's 2^32 elements (a whole DeepSeek-V3 layer's w13) is read per expert
    for (const n of [...recipe.inputNames, ...(recipe.optionalInputNames ?? [])])
      if (f.has(n)) raw[n] = needsExpertPages(f.entry(n), PAGING.wholeTensorBytes) ? expertPagedFromFile(path, f.entry(n)) : f.read(n);
    const missing = recipe.inputNames.filter((n) => !raw[n]);
    if (missing.length)
      throw new MoeError('E_FORMAT', `${path}: missing ${missing.join(', ')} for the ${recipe.id} recipe (${recipe.label}); it has: ${capList(f.names()) || 'no tensors'}`, missing[0]);
    const inputs = recipe.inputsFromTensors(raw);
    VALIDATED.add(inputs);
    return { recipe, inputs };
  } finally {
    f.close();
  }
}
