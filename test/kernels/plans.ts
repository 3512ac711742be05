/** Plans for tests that call a backend directly (the pipeline makes them in real runs). */
import type { LayerSpec } from '../../kernels/spec';
import type { Tensor } from '../../kernels/tensor';
import type { RunPlan, StageDescriptor } from '../../kernels/recipes/types';
import { recipeById } from '../../kernels/recipes/index';
import { permutationStats } from '../../kernels/recipes/common';
import { CONTIGUOUS_STAGES } from '../../kernels/recipes/contiguous/stages';

/** the recipe's real plan for these inputs (validates the routing, as the pipeline does) */
export function planFor(spec: LayerSpec, inputs: Record<string, Tensor>, backend: 'cpu' | 'cuda' = 'cpu'): RunPlan {
  return recipeById(spec.recipe.id).plan(spec, inputs, { backend });
}

/** stages without costs or CPU kernels (default: the contiguous recipe's): what the CUDA backend reads of a plan (its stage ids) */
export function stagesOnlyPlan(stages: readonly StageDescriptor[] = CONTIGUOUS_STAGES): RunPlan {
  const zero = { bytes: 0, flops: 0, usefulFlops: 0 };
  return { stages: stages.map((d) => ({ ...d, cost: zero, runCpu: () => undefined })), permutation: permutationStats([], 0, 'contiguous') };
}
