/** The CUDA addon's arguments for a W4AFP8 run (kernels/recipes/w4afp8/native.ts), checked without a GPU. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeArgs } from '../../../../kernels/native/layerArgs';
import { W4_STAGES } from '../../../../kernels/recipes/w4afp8/stages';
import { recipeById } from '../../../../kernels/recipes/index';
import { w4Raw, w4Spec } from './fixtures';

const STAGES = W4_STAGES.map((s) => s.id);

test('w4afp8 native args: sizes, SGLang names, packed int4 as bytes, the plan tensor, every stage on the GPU', () => {
  const spec = w4Spec({ tokens: 5, hidden: 512, intermediate: 256, experts: 4, topk: 2 });
  const { cfg, tensors } = nativeArgs(w4Raw(spec), spec, STAGES, 3);
  assert.equal(cfg.recipe, 'w4afp8');
  assert.deepEqual({ ...cfg, stages: [...cfg.stages] }, { recipe: 'w4afp8', stages: STAGES, arch: 90, M: 5, H: 512, Ip: 256, E: 4, eGlobal: 4, topk: 2, planRows: 2, planCols: 9, repeats: 3 });
  assert.ok(tensors.w13_weight instanceof Uint8Array && tensors.w13_weight.length === 4 * 512 * 256);
  assert.ok(tensors.w13_input_scale instanceof Uint16Array && tensors.w13_input_scale.length === 8);
  assert.ok(tensors.w4afp8_parallel_plan instanceof Int32Array && tensors.w4afp8_parallel_plan.length === 18);
  assert.deepEqual(recipeById('w4afp8').cudaStages, STAGES);
});
