/** Small MegaMoE layers for the tests: DeepSeek-V4-Flash's activation and routing placement at toy sizes. */
import type { LayerSpec } from '../../../../kernels/spec';
import type { Tensor } from '../../../../kernels/tensor';
import { makeSpec } from '../../../../kernels/presets';
import { syntheticInputs } from '../../../../kernels/synthetic';

export function megaSpec(over: Partial<LayerSpec> = {}): LayerSpec {
  return makeSpec('deepseek-v4-flash', {
    tokens: 12,
    hidden: 256,
    intermediate: 128,
    experts: 8,
    topk: 2,
    expertParallel: { size: 2, rank: 1, strategy: 'linear' },
    recipe: { id: 'megamoe-sm90', actGroup: 128, weightBlock: 128, scaleFormat: 'f32', quant: 'deepgemm' },
    source: { kind: 'synthetic', seed: 7, skew: 0 },
    ...over,
  });
}

/** a layer's tensors in the checkpoint's natural order (the shared synthetic generator, contiguous routing) */
export function naturalLayer(over: Partial<LayerSpec> = {}): Record<string, Tensor> {
  const spec = megaSpec({ ...over, recipe: { id: 'contiguous', actGroup: 128, weightBlock: 128, scaleFormat: over.recipe?.scaleFormat ?? 'f32', quant: 'vllm' } });
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(syntheticInputs(spec))) if (v) out[k] = (v as Tensor).withName(k);
  return out;
}
