/** A recipe is files plus one registry line: the toy recipe runs everywhere the registry reaches. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerRecipe, recipeById } from '../../../../kernels/recipes/index';
import { runLayer } from '../../../../kernels/pipeline';
import { makeSpec } from '../../../../kernels/presets';
import { DEFAULT_RECIPE, type LayerSpec } from '../../../../kernels/spec';
import type { Trace } from '../../../../kernels/trace';
import { cli } from '../../../extension/cliInProcess';
import { checkSpec } from '../../../../extension/inspect/choices';
import { settingsEnums } from '../../../../extension/manifest';
import { toy } from './index';

registerRecipe(toy); // the one registry line


test('toy recipe: the pipeline runs its stages, with partial traces and roofline, from the registry alone', async () => {
  const spec: LayerSpec = makeSpec('qwen3-30b-a3b', { tokens: 3, hidden: 4, recipe: { ...DEFAULT_RECIPE, id: 'toy', options: { factor: 5 } } });
  const partials: Trace[] = [];
  const r = await runLayer(spec, { backend: 'cpu', onStage: (p) => void partials.push(p) });
  assert.deepEqual(r.trace.stages.map((s) => s.id), ['scale', 'rowsum']);
  assert.equal(r.trace.recipe.id, 'toy');
  assert.deepEqual(partials.map((p) => p.pending!.map((s) => s.id)), [['scale', 'rowsum'], ['rowsum']]);
  // rows of (i % 7) − 3 over 4 columns, × 5
  const x = [-3, -2, -1, 0, 1, 2, 3, -3, -2, -1, 0, 1];
  assert.deepEqual(Array.from(r.tensors.get('output')!.toFloat32()), [0, 1, 2].map((row) => 5 * x.slice(row * 4, row * 4 + 4).reduce((a, b) => a + b, 0)));
  assert.ok(r.trace.stages.every((s) => s.roofline.floorMs > 0));
});

test('toy recipe: CLI --recipe choice and its option flag, quick-pick checks and settings enums derive from the registry', async () => {
  const ok = await cli('run', '--preset', 'qwen3-30b-a3b', '--tokens', '2', '--recipe', 'toy', '--toy-factor', '3', '--backend', 'cpu');
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /Scale by the factor[\s\S]*Row sums/);
  const help = await cli('--help');
  assert.match(help.out, /--recipe contiguous\|masked\|(?:[\w-]+\|)*toy\b/);
  assert.match(help.out, /--toy-factor N \(toy\)/);
  const bad = await cli('run', '--preset', 'qwen3-30b-a3b', '--tokens', '2', '--recipe', 'toy', '--toy-factor', '0', '--backend', 'cpu');
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--toy-factor: expected an integer ≥ 1, got '0'/);
  assert.throws(() => checkSpec({ ...makeSpec('qwen3-30b-a3b', {}), recipe: { ...DEFAULT_RECIPE, id: 'toy', options: { nope: 1 } } }), /the toy recipe has no option 'nope'/);
  assert.ok(settingsEnums()['moeInspector.recipe']!.enum.includes('toy'));
  assert.equal(recipeById('toy'), toy);
  assert.throws(() => registerRecipe(toy), /registered already/);
});
