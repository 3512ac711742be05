import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MoeError } from '../../../kernels/errors';
import { makeSpec } from '../../../extension/engine';
import { buildSpec, checkSpec, DEFAULT_CHOICES, recipeChoices, reviveChoices, transformOnlyMessage, type InspectChoices } from '../../../extension/inspect/choices';
import { RECIPES, recipeById } from '../../../kernels/recipes/index';

const choices = (over: Partial<InspectChoices> = {}): InspectChoices => ({ ...DEFAULT_CHOICES, ep: { size: 1, rank: 0 }, ...over });

test('a preset with overrides becomes the spec the user picked', () => {
  const spec = buildSpec(choices({ preset: 'Qwen3-30B-A3B', tokens: 32, topk: 4, quant: 'deepgemm', skew: 1.2, seed: 7 }), makeSpec);
  assert.equal(spec.name, 'Qwen3-30B-A3B');
  assert.equal(spec.hidden, 2048);
  assert.equal(spec.intermediate, 768);
  assert.equal(spec.experts, 128);
  assert.equal(spec.tokens, 32);
  assert.equal(spec.topk, 4);
  assert.equal(spec.recipe.quant, 'deepgemm');
  assert.deepEqual(spec.source, { kind: 'synthetic', seed: 7, skew: 1.2 });
  assert.equal(spec.expertParallel, undefined);
});

test('expert parallel is kept with a linear strategy', () => {
  const spec = buildSpec(choices({ ep: { size: 8, rank: 3 } }), makeSpec);
  assert.deepEqual(spec.expertParallel, { size: 8, rank: 3, strategy: 'linear' });
});

test('SM100 gets UE8M0 scales even when float32 was remembered', () => {
  const spec = buildSpec(choices({ arch: 'sm100', scaleFormat: 'f32' }), makeSpec);
  assert.equal(spec.arch, 'sm100');
  assert.equal(spec.recipe.scaleFormat, 'ue8m0');
});

test('custom shapes', () => {
  const spec = buildSpec(choices({ preset: 'custom', custom: { hidden: 512, intermediate: 256, experts: 4 }, topk: 2 }), makeSpec);
  assert.equal(spec.name, 'custom');
  assert.deepEqual([spec.hidden, spec.intermediate, spec.experts, spec.topk, spec.blockM], [512, 256, 4, 2, 128]);
  assert.equal(spec.activation.kind, 'silu');
});

test('bad specs are refused with E_SPEC naming the field', () => {
  const bad: [Partial<InspectChoices>, RegExp][] = [
    [{ preset: 'custom', custom: { hidden: 500, intermediate: 256, experts: 4 }, topk: 2 }, /hidden K must be a multiple of 128, got 500/],
    [{ preset: 'custom', custom: { hidden: 512, intermediate: 200, experts: 4 }, topk: 2 }, /intermediate N must be a multiple of 128, got 200/],
    [{ preset: 'custom', custom: { hidden: 512, intermediate: 256, experts: 4 }, topk: 5 }, /top-k must be at most experts \(4\), got 5/],
    [{ preset: 'custom' }, /custom layer: hidden, intermediate and experts were not given/],
    [{ tokens: 0 }, /tokens must be a positive integer, got 0/],
    [{ tokens: 1.5 }, /tokens must be a positive integer/],
    [{ ep: { size: 3, rank: 0 } }, /expert-parallel size must divide experts \(128\), got 3/],
    [{ ep: { size: 8, rank: 8 } }, /expert-parallel rank must be in 0…7, got 8/],
    [{ skew: Number.NaN }, /router skew must be a finite number/],
    [{ preset: 'no-such-model' }, /unknown preset/],
  ];
  for (const [over, re] of bad) {
    assert.throws(() => buildSpec(choices(over), makeSpec), (e: unknown) => e instanceof MoeError && (e.code === 'E_SPEC') && re.test(e.message), JSON.stringify(over));
  }
  assert.throws(() => checkSpec({ ...makeSpec('Qwen3-30B-A3B', {}), arch: 'sm80' as 'sm90' }), /arch must be one of sm90, sm100, got sm80/);
});

test('remembered choices: malformed state falls back field by field', () => {
  assert.deepEqual(reviveChoices(undefined), DEFAULT_CHOICES);
  assert.deepEqual(reviveChoices('garbage'), DEFAULT_CHOICES);
  const r = reviveChoices({ preset: 'DeepSeek-V3', tokens: -4, topk: 6, arch: 'sm80', backend: 'cpu', ep: { size: 4, rank: 9 }, skew: 'x', custom: { hidden: 1 } });
  assert.equal(r.preset, 'DeepSeek-V3');
  assert.equal(r.tokens, DEFAULT_CHOICES.tokens);
  assert.equal(r.topk, 6);
  assert.equal(r.arch, 'sm90');
  assert.equal(r.backend, 'cpu');
  assert.deepEqual(r.ep, { size: 1, rank: 0 });
  assert.equal(r.skew, 0);
  assert.equal(r.custom, undefined);
});

test('the recipe step lists every registered recipe: the preset\'s own first, transform-only ones last', () => {
  const listed = recipeChoices(['megamoe-sm90', 'contiguous']);
  assert.deepEqual(listed.map((x) => x.recipe.id).sort(), RECIPES.map((r) => r.id).sort());
  assert.deepEqual(listed.slice(0, 2).map((x) => [x.recipe.id, x.ownModel]), [['megamoe-sm90', true], ['contiguous', true]]);
  const firstTransformOnly = listed.findIndex((x) => x.transformOnly);
  assert.ok(firstTransformOnly > 0, 'megamoe-sm100 is listed');
  assert.ok(listed.slice(firstTransformOnly).every((x) => x.transformOnly && x.recipe.runnable === false));
  assert.deepEqual(recipeChoices([]).filter((x) => x.ownModel), []);
});

test('picking a transform-only recipe says so and names the moe-inspect transform command', () => {
  const msg = transformOnlyMessage(recipeById('megamoe-sm100'));
  assert.match(msg, /megamoe-sm100\) is transform-only/);
  assert.match(msg, /moe-inspect transform --recipe megamoe-sm100 --layer IN\.safetensors --out OUT\.safetensors/);
});
