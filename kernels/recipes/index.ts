/**
 * The recipe registry: adding a recipe is adding its folder and one line here. Quick picks, CLI choices
 * (`--recipe`, each recipe's option flags), the settings enum and layer-file detection derive from it.
 */
import type { RecipeSpec } from './types';
import { MoeError } from '../errors';
import { contiguous } from './contiguous/index';
import { masked } from './masked/index';
import { w4afp8 } from './w4afp8/index';
import { megamoeSm90, megamoeSm100 } from './megamoe/index';
import { torchaoFp8Training } from './torchao-fp8-training/index';

export type { RecipeSpec, RunPlan, PlannedStage, StageDescriptor, RecipeOption, LayerTensors, StageCost, Tolerance } from './types';
export { optionValue } from './types';

const registry: RecipeSpec[] = [contiguous, masked, w4afp8, megamoeSm90, megamoeSm100, torchaoFp8Training];

/** Every recipe, in the order quick picks and --help list them. */
export const RECIPES: readonly RecipeSpec[] = registry;

/** The recipe ids, in registry order (a recipe registered later is listed too). */
export const recipeIds = (): string[] => registry.map((r) => r.id);

/**
 * Adds a recipe at run time (plug-ins, and the tests' toy recipe): everything derived from the registry — CLI
 * flags and choices, quick picks, settings enums, layer-file detection — sees it from then on.
 */
export function registerRecipe(r: RecipeSpec): void {
  if (registry.some((x) => x.id === r.id)) throw new MoeError('E_SPEC', `a recipe '${r.id}' is registered already`);
  registry.push(r);
}

export function recipeById(id: string): RecipeSpec {
  const r = RECIPES.find((x) => x.id === id);
  if (!r) throw new MoeError('E_SPEC', `unknown recipe '${id}'; known: ${recipeIds().join(', ')}`);
  return r;
}

/**
 * The recipe a layer file belongs to, from its tensor names and shapes: of those whose detect() says yes, the most
 * specific — the one that names the most of the file's tensors (a W4AFP8 file also has everything the contiguous
 * recipe looks for); ties go to the first registered.
 */
export function detectRecipe(shapes: ReadonlyMap<string, readonly number[]>): RecipeSpec | undefined {
  let best: RecipeSpec | undefined;
  let bestNamed = -1;
  for (const r of RECIPES) {
    if (!r.detect(shapes)) continue;
    const named = [...r.inputNames, ...(r.optionalInputNames ?? [])].filter((n) => shapes.has(n)).length;
    if (named > bestNamed) [best, bestNamed] = [r, named];
  }
  return best;
}
