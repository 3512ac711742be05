/** The CUDA addon's arguments for a torchao training run (kernels/recipes/torchao-fp8-training/native.ts), without a GPU. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '../../../../kernels/tensor';
import { nativeArgs } from '../../../../kernels/native/layerArgs';
import { TORCHAO_STAGES } from '../../../../kernels/recipes/torchao-fp8-training/stages';
import { workedExampleInputs } from '../../../../kernels/recipes/torchao-fp8-training/synthetic';
import { torchaoSpecFromInputs } from '../../../../kernels/recipes/torchao-fp8-training/inputs';
import { recipeById } from '../../../../kernels/recipes/index';

const STAGES = TORCHAO_STAGES.map((s) => s.id);

test('torchao native args on the §8 worked example: sizes and the index maps of groups 100 and 30', () => {
  const inputs = workedExampleInputs();
  const spec = torchaoSpecFromInputs(inputs, { arch: 'sm90' });
  const { cfg, tensors } = nativeArgs(inputs as unknown as Record<string, Tensor>, spec, STAGES, 2);
  assert.deepEqual({ ...cfg, stages: [...cfg.stages] }, { recipe: 'torchao-fp8-training', stages: STAGES, M: 130, K: 256, N: 256, E: 2, Mbuf: 512, S: 256, arch: 90, repeats: 2 });
  const src = Array.from(tensors.row_source as Int32Array);
  const tok = Array.from(tensors.token_row as Int32Array);
  // expert 0: tokens 0…99 at rows 0…99; expert 1: tokens 100…129 at rows 128…157; every other row is padding
  for (let t = 0; t < 130; t++) assert.equal(src[tok[t]!], t, `token ${t} round-trips`);
  assert.equal(tok[100], 128);
  assert.equal(src.filter((s) => s >= 0).length, 130);
  assert.deepEqual(Array.from(tensors.padded_group_sizes as Int32Array), [128, 128]);
  assert.deepEqual(Array.from(tensors.padded_group_starts as Int32Array), [0, 128]);
  const layout = Array.from(tensors.grouped_layout as Int32Array);
  assert.deepEqual([layout[99], layout[100], layout[128], layout[157], layout[158], layout[511]], [0, -1, 1, 1, -1, -1]);
  assert.deepEqual(recipeById('torchao-fp8-training').cudaStages, STAGES);
});
