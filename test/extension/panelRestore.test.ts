/**
 * A panel restored after a reload re-runs the spec its webview saved — only once that state passes the same rules
 * as the quick picks: every bad state is refused with the field that is wrong, nothing unchecked is passed on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { profileOnStages, restoredProfile, restoredSpec } from '../../extension/panelRestore';
import { makeSpec } from '../../kernels/presets';
import { DEFAULT_RECIPE, type LayerSpec } from '../../kernels/spec';
import { MoeError } from '../../kernels/errors';

const good = (): LayerSpec => makeSpec('Qwen3-30B-A3B', { tokens: 16 });
const state = (spec: unknown): unknown => ({ version: 2, view: 'scales', spec });
const dir = mkdtempSync(join(tmpdir(), 'moe-restore-'));

test('a good saved spec comes back field by field, unknown fields dropped', () => {
  const spec = good();
  assert.deepEqual(restoredSpec(state(spec)), spec);
  const extra = restoredSpec(state({ ...spec, evil: '$(rm -rf ~)', recipe: { ...spec.recipe, extra: 1 } })) as unknown as Record<string, unknown>;
  assert.equal(extra.evil, undefined);
  assert.equal((extra.recipe as Record<string, unknown>).extra, undefined);
  const masked = { ...spec, recipe: { ...DEFAULT_RECIPE, id: 'masked', options: { maxM: 64 } } };
  assert.deepEqual(restoredSpec(state(masked)).recipe.options, { maxM: 64 });
  const file = join(dir, 'layer.safetensors');
  writeFileSync(file, 'x');
  assert.deepEqual(restoredSpec(state({ ...spec, source: { kind: 'file', path: file } })).source, { kind: 'file', path: file });
  // a checkpoint layer: the folder, the layer, and a router dump or synthetic routing (seed/skew default to 0)
  mkdirSync(join(dir, 'ckpt'), { recursive: true });
  const ck = { kind: 'checkpoint', path: join(dir, 'ckpt'), layer: 3 };
  assert.deepEqual(restoredSpec(state({ ...spec, source: ck })).source, { ...ck, seed: 0, skew: 0 });
  assert.deepEqual(restoredSpec(state({ ...spec, source: { ...ck, seed: 5, skew: 1.2 } })).source, { ...ck, seed: 5, skew: 1.2 });
  assert.deepEqual(restoredSpec(state({ ...spec, source: { ...ck, inputs: file } })).source, { ...ck, inputs: file });
});

test('every bad saved state is refused with what is wrong, before anything runs', () => {
  const spec = good();
  mkdirSync(join(dir, 'folder'), { recursive: true });
  const bad: [unknown, RegExp][] = [
    [undefined, /saved without one/],
    [{ version: 2, view: 'scales' }, /saved without one/],
    [state('junk'), /spec must be an object/],
    [state({ ...spec, tokens: 1e12 }), /tokens must be an integer in 1…1048576, got 1000000000000/],
    [state({ ...spec, tokens: -3 }), /tokens must be an integer/],
    [state({ ...spec, tokens: '16' }), /tokens must be an integer/],
    [state({ ...spec, hidden: 2000 }), /hidden K must be a multiple of 128, got 2000/],
    [state({ ...spec, topk: 999 }), /top-k must be at most experts/],
    [state({ ...spec, arch: 'sm75' }), /arch must be one of sm90 \| sm100, got "sm75"/],
    [state({ ...spec, arch: 'sm100', recipe: { ...spec.recipe, scaleFormat: 'f32' } }), /recipe.scaleFormat on sm100 must be one of ue8m0/],
    [state({ ...spec, recipe: { ...spec.recipe, id: 'evil' } }), /recipe.id must be one of contiguous \| masked/],
    [state({ ...spec, recipe: { ...spec.recipe, options: { maxM: 64 } } }), /recipe.options.maxM is not an option of the contiguous recipe/],
    [state({ ...spec, recipe: { ...spec.recipe, id: 'masked', options: { maxM: 0 } } }), /recipe.options.maxM must be an integer in 1…/],
    [state({ ...spec, recipe: { ...spec.recipe, quant: 'fp4' } }), /recipe.quant must be one of vllm \| deepgemm/],
    [state({ ...spec, activation: { kind: 'gelu' } }), /activation.kind must be one of silu \| swiglu/],
    [state({ ...spec, routerWeight: 'x' }), /routerWeight must be one of/],
    [state({ ...spec, expertParallel: { size: 3, rank: 0, strategy: 'linear' } }), /expert-parallel size must divide experts/],
    [state({ ...spec, source: { kind: 'synthetic', seed: 0, skew: 99 } }), /source.skew must be a number in 0…4/],
    [state({ ...spec, source: { kind: 'url', path: 'http://x' } }), /source.kind must be synthetic, file or checkpoint/],
    [state({ ...spec, source: { kind: 'checkpoint', path: join(dir, 'no-such-ckpt'), layer: 1 } }), /the checkpoint folder .*no-such-ckpt no longer exists/],
    [state({ ...spec, source: { kind: 'checkpoint', path: join(dir, 'layer.safetensors'), layer: 1 } }), /layer.safetensors is not a folder/],
    [state({ ...spec, source: { kind: 'checkpoint', path: 'ckpt', layer: 1 } }), /source.path must be an absolute path/],
    [state({ ...spec, source: { kind: 'checkpoint', path: join(dir, 'folder'), layer: -1 } }), /source.layer must be an integer/],
    [state({ ...spec, source: { kind: 'checkpoint', path: join(dir, 'folder'), layer: 1, skew: 9 } }), /source.skew must be a number in 0…4/],
    [state({ ...spec, source: { kind: 'checkpoint', path: join(dir, 'folder'), layer: 1, inputs: join(dir, 'gone.safetensors') } }), /gone.safetensors no longer exists/],
    [state({ ...spec, source: { kind: 'file', path: 'relative/layer.safetensors' } }), /must be an absolute path/],
    [state({ ...spec, source: { kind: 'file', path: join(dir, 'missing.safetensors') } }), /no longer exists/],
    [state({ ...spec, source: { kind: 'file', path: join(dir, 'folder') } }), /is not a regular file/],
    [state({ ...spec, source: { kind: 'file', path: '/dev/null' } }), /is not a regular file/],
    [state({ ...spec, name: 'x'.repeat(5000) }), /name must be a non-empty string/],
  ];
  for (const [s, re] of bad)
    assert.throws(() => restoredSpec(s), (e: unknown) => e instanceof MoeError && e.code === 'E_SPEC' && re.test(e.message) && /run "Inspect MoE Layer" again/.test(e.message), JSON.stringify(s)?.slice(0, 120));
});

test('an imported profiler trace survives a reload: restored when it passes the protocol check, dropped with the reason when not', () => {
  const profile = {
    file: 'trace.json.gz', format: 'chrome-trace' as const, launches: 4,
    stages: [{ stage: 'gemm1', count: 2, totalUs: 14.5, wallUs: 12, kernels: [{ name: 'sm90_fp8_gemm', count: 2, totalUs: 14.5, rule: 'DeepGEMM grouped GEMM' }] }],
    outside: [{ stage: 'dispatch', count: 1, totalUs: 3, kernels: [{ name: 'deep_ep::dispatch', count: 1, totalUs: 3 }] }],
    unmatched: [{ name: 'mystery', count: 1, totalUs: 1 }], omitted: 0,
  };
  const withProfile = (p: unknown): unknown => ({ version: 2, view: 'timing', spec: good(), profile: p });
  assert.deepEqual(restoredProfile(withProfile(profile)), { profile });
  assert.deepEqual(restoredProfile(state(good())), {}, 'none saved: nothing to draw, nothing wrong');
  assert.deepEqual(restoredProfile('junk'), {});
  const bads: [unknown, RegExp][] = [
    [{ ...profile, format: 'perfetto' }, /format/],
    [{ ...profile, launches: 1.5 }, /launches/],
    [{ ...profile, stages: [{ ...profile.stages[0], totalUs: -1 }] }, /totalUs/],
    [{ ...profile, stages: [{ ...profile.stages[0], kernels: 'x' }] }, /kernels/],
    [{ ...profile, unmatched: Array.from({ length: 2000 }, () => ({ name: 'k', count: 1, totalUs: 1 })) }, /at most/],
    [{ ...profile, extra: '$(rm -rf ~)' }, /extra/],
    ['a string', /profile/],
  ];
  for (const [bad, re] of bads) {
    const r = restoredProfile(withProfile(bad));
    assert.equal(r.profile, undefined, JSON.stringify(bad).slice(0, 80));
    assert.match(r.problem!, re);
    assert.match(r.problem!, /import the profiler trace again/);
  }
  // the spec is restored whatever the profile was: a bad profile never blocks the re-run
  assert.deepEqual(restoredSpec(withProfile('a string')), good());
});

test('restored timings are placed on the stages of the run shown: its stages in its order, the rest apart', () => {
  const st = (stage: string, us: number) => ({ stage, count: 1, totalUs: us, kernels: [] });
  const t = { file: 'p.json', format: 'chrome-trace' as const, launches: 4, stages: [st('gemm2', 2), st('gemm1', 1)], outside: [st('dispatch', 3), st('quant1', 4)], unmatched: [], omitted: 0 };
  const placed = profileOnStages(t, ['quant1', 'gemm1', 'act', 'gemm2']);
  assert.deepEqual(placed.stages.map((s) => s.stage), ['quant1', 'gemm1', 'gemm2']);
  assert.deepEqual(placed.outside.map((s) => s.stage), ['dispatch']);
  assert.deepEqual(profileOnStages(t, []).stages, []);
  assert.equal(profileOnStages(t, []).outside.length, 4, 'nothing dropped');
});
