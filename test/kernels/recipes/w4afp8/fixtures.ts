/** Small W4AFP8 layers for the tests: a spec, its synthetic tensors, and the same as a raw record (as a file holds). */
import type { LayerSpec } from '../../../../kernels/spec';
import type { Tensor } from '../../../../kernels/tensor';
import { makeSpec } from '../../../../kernels/presets';
import { syntheticW4Inputs } from '../../../../kernels/recipes/w4afp8/synthetic';
import type { W4Inputs } from '../../../../kernels/recipes/w4afp8/inputs';

export function w4Spec(over: Partial<LayerSpec> = {}, options?: Record<string, number>): LayerSpec {
  return makeSpec('deepseek-r1', {
    name: 'w4-test',
    tokens: 6,
    hidden: 256,
    intermediate: 256,
    experts: 4,
    topk: 2,
    recipe: { id: 'w4afp8', actGroup: 128, weightBlock: 128, scaleFormat: 'f32', quant: 'vllm', ...(options ? { options } : {}) },
    source: { kind: 'synthetic', seed: 5, skew: 0 },
    ...over,
  });
}

export function w4Inputs(spec: LayerSpec = w4Spec()): W4Inputs {
  return syntheticW4Inputs(spec);
}

export function w4Raw(spec: LayerSpec = w4Spec()): Record<string, Tensor> {
  const raw: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(w4Inputs(spec))) if (v) raw[k] = v as Tensor;
  return raw;
}
