/**
 * The recipe registry: adding a recipe is adding its folder and one line here. Quick picks, CLI choices
 * (`--recipe`, each recipe's option flags), the settings enum and layer-file detection derive from it.
 */
import type { RecipeSpec } from './types';
import { MoeError } from '../errors';
import { contiguous } from './contiguous/index';
import { masked } from './masked/index';

export type { RecipeSpec, RunPlan, PlannedStage, StageDescriptor, RecipeOption, LayerTensors, StageCost, Tolerance } from './types';
export { optionValue } from './types';

export const RECIPES: readonly RecipeSpec[] = [contiguous, masked];

export const RECIPE_IDS: readonly string[] = RECIPES.map((r) => r.id);

export function recipeById(id: string): RecipeSpec {
  const r = RECIPES.find((x) => x.id === id);
  if (!r) throw new MoeError('E_SPEC', `unknown recipe '${id}'; known: ${RECIPE_IDS.join(', ')}`);
  return r;
}

/** The recipe a layer file belongs to, from its tensor names and shapes (the first whose detect() says yes). */
export function detectRecipe(shapes: ReadonlyMap<string, readonly number[]>): RecipeSpec | undefined {
  return RECIPES.find((r) => r.detect(shapes));
}
