/**
 * Runs of some stages (runLayer's `needs`, what `moe-inspect export --view` asks for): the plan walked backwards
 * (kernels/neededStages.ts), synthetic weights made only when a running stage reads them (kernels/lazyTensor.ts),
 * and — for every registered recipe and every view — the stages that run and an exported file identical to the one
 * a full run gives.
 */
import { test, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runLayer } from '../../kernels/pipeline';
import { makeSpec } from '../../kernels/presets';
import { DEFAULT_RECIPE, type LayerSpec } from '../../kernels/spec';
import { RECIPES } from '../../kernels/recipes/index';
import { CONTIGUOUS_STAGES } from '../../kernels/recipes/contiguous/stages';
import { stagesFor, tensorsTouched } from '../../kernels/neededStages';
import { lazyTensor, isCreated } from '../../kernels/lazyTensor';
import { syntheticInputs, syntheticInputsLazy, weightWriter } from '../../kernels/synthetic';
import { Tensor } from '../../kernels/tensor';
import { shutdownGemmWorkers } from '../../kernels/ops/gemm';
import { VIEWS } from '../../webview/views/registry';
import { viewNeeds } from '../../webview/views/viewNeeds';
import { exportCommand, renderExport, runForView } from '../../extension/cli/commands/export';

after(() => shutdownGemmWorkers());

const ids = (stages: readonly { id: string }[]): string[] => stages.map((s) => s.id);
const bytesOf = (t: Tensor): Buffer => {
  const c = t.contiguous();
  const s = c.storage;
  return Buffer.from(s.buffer, s.byteOffset + c.offset * c.itemBytes, c.numel * c.itemBytes);
};

test('stagesFor walks the plan backwards: a stage runs when something wanted is among its writes, and then its reads are wanted', () => {
  const S = CONTIGUOUS_STAGES;
  assert.deepEqual(ids(stagesFor(S, ['a1q_scale_layout'])), ['quantize', 'transform_scales']);
  assert.deepEqual(ids(stagesFor(S, ['a1q_scale', 'a1q_scale_layout'])), ['quantize', 'transform_scales']);
  assert.deepEqual(ids(stagesFor(S, ['m_indices'])), ['quantize', 'permute']);
  assert.deepEqual(ids(stagesFor(S, ['a2q_scale'])), ['quantize', 'permute', 'gemm1', 'activation', 'requantize']);
  // the output never reads the kernel layout of the scales (a picture of them does)
  assert.deepEqual(ids(stagesFor(S, ['output'])), ids(S).filter((s) => s !== 'transform_scales'));
  assert.deepEqual(ids(stagesFor(S, ['output', 'a1q_scale_layout', 'a2q_scale_layout'])), ids(S));
  // inputs are read, never written: wanting them runs nothing; unknown names run nothing either
  assert.deepEqual(stagesFor(S, ['hidden_states', 'topk_ids', 'w13_weight']), []);
  assert.deepEqual(stagesFor(S, ['no_such_tensor']), []);
  assert.deepEqual(stagesFor(S, []), []);
  // what such a run touches: the scales picture never reads a weight
  const touched = tensorsTouched(stagesFor(S, ['a1q_scale', 'a1q_scale_layout']), ['a1q_scale', 'a1q_scale_layout']);
  assert.deepEqual([...touched].sort(), ['a1q', 'a1q_scale', 'a1q_scale_layout', 'hidden_states']);
});

test('a lazy tensor answers its metadata without being made, is made once on first read, and checks what its generator made', () => {
  let made = 0;
  const t = lazyTensor('f32', [2, 3], 'x', () => (made++, Tensor.fromF32([2, 3], [1, 2, 3, 4, 5, 6])));
  assert.ok(t instanceof Tensor);
  assert.deepEqual([t.dtype, t.shape, t.strides, t.offset, t.name, t.rank, t.numel, t.nbytes, t.isContiguous()], ['f32', [2, 3], [3, 1], 0, 'x', 2, 6, 24, true]);
  assert.equal(made, 0);
  assert.equal(isCreated(t), false);
  assert.equal(t.get(1, 2), 6);
  assert.equal(t.storage.length, 6);
  assert.equal(made, 1);
  assert.ok(isCreated(t));
  assert.equal(t.withName('y').name, 'y');
  assert.ok(isCreated(Tensor.fromF32([1], [0])), 'ordinary tensors exist');
  const bad = lazyTensor('f32', [2, 3], 'w13_weight', () => Tensor.fromF32([3, 2], [1, 2, 3, 4, 5, 6]));
  assert.throws(() => bad.storage, /w13_weight: its generator made a f32 \[3, 2\] tensor .*expected a contiguous f32 \[2, 3\]/);
});

test('lazy synthetic inputs are the eager ones bit for bit, each weight tensor made on its own when read', () => {
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 24, hidden: 256, intermediate: 256, experts: 8, topk: 2, source: { kind: 'synthetic', seed: 3, skew: 1 } });
  const eager = syntheticInputs(spec);
  const alloc = mock.method(weightWriter, 'alloc');
  try {
    const lazy = syntheticInputsLazy(spec);
    assert.deepEqual(Object.keys(lazy), Object.keys(eager), 'same tensors, same order');
    assert.equal(alloc.mock.callCount(), 0, 'no weight allocated until read');
    assert.equal(isCreated(lazy.w2_weight), false);
    assert.deepEqual(bytesOf(lazy.w2_weight), bytesOf(eager.w2_weight), 'w2_weight');
    assert.deepEqual(alloc.mock.calls.map((c) => c.arguments[0]), ['w2_weight'], 'w2 made alone');
    for (const name of Object.keys(eager) as (keyof typeof eager)[]) assert.deepEqual(bytesOf(lazy[name]!), bytesOf(eager[name]!), name);
  } finally {
    alloc.mock.restore();
  }
});

// a small synthetic run of each registered, runnable recipe
const small = { hidden: 256, intermediate: 256, experts: 8, topk: 2, source: { kind: 'synthetic' as const, seed: 5, skew: 0 } };
const SPECS: Record<string, LayerSpec> = {
  contiguous: makeSpec('qwen3-30b-a3b', { ...small, tokens: 20 }),
  masked: makeSpec('qwen3-30b-a3b', { ...small, tokens: 20, recipe: { ...DEFAULT_RECIPE, id: 'masked', options: { maxM: 16 } } }),
  w4afp8: makeSpec('deepseek-r1', { ...small, tokens: 8, recipe: { ...DEFAULT_RECIPE, id: 'w4afp8' } }),
  'megamoe-sm90': makeSpec('deepseek-v4-flash', { ...small, tokens: 16, expertParallel: { size: 2, rank: 0, strategy: 'linear' }, recipe: { ...DEFAULT_RECIPE, id: 'megamoe-sm90' } }),
  'torchao-fp8-training': makeSpec('qwen3-30b-a3b', { ...small, experts: 4, tokens: 64, recipe: { ...DEFAULT_RECIPE, id: 'torchao-fp8-training' } }),
};

/** recipe → view → the stages a run for that view's picture runs ('all': the view needs the whole run) */
const EXPECTED: Record<string, Record<string, readonly string[] | 'all'>> = {
  contiguous: { scales: ['quantize', 'transform_scales'], permutation: [], heatmap: [], timing: 'all' },
  masked: { scales: ['quantize', 'transform_scales'], maskedBuffers: ['quantize'], heatmap: [], timing: 'all' },
  // its scale tensors: the weights' group scales and the static input scales (a1_scale, a2_scale: load_scales)
  w4afp8: { scales: ['load_scales'], permutation: [], heatmap: [], timing: 'all', w4afp8Parallel: 'all' },
  'megamoe-sm90': { scales: [], permutation: [], heatmap: [], timing: 'all', megamoeInterleave: 'all', megamoeStaging: 'all', megamoePools: 'all' },
  'torchao-fp8-training': {
    scales: ['pad', 'fwd_quantize', 'dgrad_quantize', 'wgrad_quantize'],
    heatmap: [],
    timing: 'all',
    torchaoPasses: 'all',
    torchaoLayout: 'all',
    torchaoKGrouped: 'all',
    torchaoExample: 'all',
  },
};

test('every runnable recipe has a small spec here, and every view that applies to its runs an expectation', () => {
  assert.deepEqual(Object.keys(SPECS).sort(), RECIPES.filter((r) => r.runnable !== false).map((r) => r.id).sort());
});

for (const [recipe, spec] of Object.entries(SPECS)) {
  test(`${recipe}: each view runs only the stages its tensors take, and exports the same file as a full run`, async () => {
    const full = await runLayer(spec, { backend: 'cpu' });
    const allIds = [...Object.keys(full.inputs), ...full.trace.stages.flatMap((s) => s.outputs)];
    const applying = VIEWS.filter((v) => v.applies(full.trace)).map((v) => v.id);
    assert.deepEqual(applying.sort(), Object.keys(EXPECTED[recipe]!).sort(), 'the views of this recipe');
    for (const view of applying) {
      const want = EXPECTED[recipe]![view]!;
      const needs = viewNeeds(view, { tensors: allIds });
      if (want === 'all') {
        assert.equal(needs, 'all', `${view} needs the whole run`);
        continue;
      }
      assert.notEqual(needs, 'all', view);
      const part = await runForView(spec, { backend: 'cpu' }, view, undefined, () => assert.fail(`${view}: a run of its stages draws what a full run draws`));
      assert.deepEqual(ids(part.trace.stages), want, `${recipe} ${view}: stages run`);
      // every tensor the partial run holds is the full run's, bit for bit
      for (const [name, t] of part.tensors) assert.deepEqual(bytesOf(t), bytesOf(full.tensors.get(name)!), `${view}: ${name}`);
      for (const format of VIEWS.find((v) => v.id === view)!.exportFormats.filter((f) => f !== 'png')) {
        const a = await renderExport(part, view, format);
        const b = await renderExport(full, view, format);
        assert.ok(a.equals(b), `${recipe} ${view} ${format}: the exported file equals the full run's (${a.length} vs ${b.length} bytes)`);
      }
    }
  });
}

test('a tensor asked for (--tensor) runs the stages that make it; a later scale or a weight is read only then', async () => {
  const spec = SPECS.contiguous!;
  const full = await runLayer(spec, { backend: 'cpu' });
  const a2 = await runForView(spec, { backend: 'cpu' }, 'scales', 'a2q_scale_layout');
  assert.deepEqual(ids(a2.trace.stages), ['quantize', 'permute', 'gemm1', 'activation', 'requantize']);
  assert.ok(a2.tensors.has('w13_weight') && !a2.tensors.has('w2_weight'), 'GEMM 1 read w13_weight; nothing read w2_weight');
  assert.ok((await renderExport(a2, 'scales', 'tikz', 'a2q_scale_layout')).equals(await renderExport(full, 'scales', 'tikz', 'a2q_scale_layout')));
  const heat = await runForView(spec, { backend: 'cpu' }, 'heatmap', 'w2_weight');
  assert.deepEqual(ids(heat.trace.stages), []);
  assert.deepEqual(bytesOf(heat.tensors.get('w2_weight')!), bytesOf(full.tensors.get('w2_weight')!));
  await assert.rejects(runForView(spec, { backend: 'cpu' }, 'heatmap', 'bogus'), /--tensor bogus: no such tensor in this run \(has hidden_states, .*output\)/);
});

test('where the computed scales alone would not pick the full run\'s default tensor (none came out in a kernel layout), the whole layer runs', async () => {
  // SM100 packs 2 K-blocks into one word per row: a (20, 1) int32 tensor reads as row-major, so the default scale
  // tensor of a full run might be a later one
  const spec = makeSpec('qwen3-30b-a3b', { ...small, tokens: 20, arch: 'sm100' });
  let fullRuns = 0;
  const r = await runForView(spec, { backend: 'cpu' }, 'scales', undefined, () => void fullRuns++);
  assert.equal(fullRuns, 1);
  assert.equal(r.trace.stages.length, CONTIGUOUS_STAGES.length);
  const full = await runLayer(spec, { backend: 'cpu' });
  assert.ok((await renderExport(r, 'scales', 'tikz')).equals(await renderExport(full, 'scales', 'tikz')));
});

test('export --view scales of a whole DeepSeek-V3 layer on one rank never makes a weight (a spy on the weight writer)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-lazy-'));
  const alloc = mock.method(weightWriter, 'alloc');
  const fill = mock.method(weightWriter, 'fillExpert');
  try {
    let said = '';
    const sink = new Writable({ write: (c: Buffer, _e, cb) => void ((said += c.toString()), cb()) });
    const out = join(dir, 'scales.tex');
    const code = await exportCommand(['--preset', 'DeepSeek-V3', '--tokens', '64', '--view', 'scales', '--format', 'tikz', '--out', out], sink);
    assert.equal(code, 0);
    assert.match(said, /wrote scales view as TIKZ/);
    assert.doesNotMatch(said, /estimate:/, 'a small run: no estimate printed');
    assert.equal(alloc.mock.callCount(), 0, 'no weight buffer allocated');
    assert.equal(fill.mock.callCount(), 0, 'no weight code written');
    const tex = readFileSync(out, 'utf8');
    assert.match(tex, /^% a1q_scale_layout \(sm90\)/);
    assert.match(tex, /\\end\{tikzpicture\}/);
    // the spy sees weights when a stage reads them (the same spec's permuted GEMM input would)
    await runForView(SPECS.contiguous!, { backend: 'cpu' }, 'scales', 'a2q_scale');
    assert.ok(alloc.mock.callCount() > 0 && fill.mock.callCount() > 0);
  } finally {
    alloc.mock.restore();
    fill.mock.restore();
    rmSync(dir, { recursive: true, force: true });
  }
});
