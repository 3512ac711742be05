/** runLayer and tile: the Trace's contents, edge cases (empty M, cancel, bad specs and inputs), tiles and bounds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLayer, tile } from '../../kernels/pipeline';
import { makeSpec } from '../../kernels/presets';
import { syntheticInputs } from '../../kernels/synthetic';
import { CONTIGUOUS_STAGES } from '../../kernels/recipes/contiguous/stages';

const STAGE_ORDER = CONTIGUOUS_STAGES.map((s) => s.id);
import { MoeError } from '../../kernels/errors';
import { Tensor } from '../../kernels/tensor';
import { encodeBf16 } from '../../kernels/dtypes/bf16';

const small = (over: Parameters<typeof makeSpec>[1] = {}) =>
  makeSpec('qwen3-30b-a3b', { tokens: 20, hidden: 256, intermediate: 256, experts: 6, topk: 2, source: { kind: 'synthetic', seed: 1, skew: 0.5 }, ...over });
const code = (c: string, re?: RegExp) => (e: unknown) => e instanceof MoeError && e.code === c && (!re || re.test(e.message));

test('trace: stages in order with tensors, time, bytes, FLOPs, roofline; checks; permutation; tensor refs', async () => {
  const progress: string[] = [];
  const r = await runLayer(small(), { backend: 'cpu', gpuModel: 'H200', onProgress: (s) => progress.push(s) });
  const t = r.trace;
  assert.deepEqual(t.stages.map((s) => s.id), [...STAGE_ORDER]);
  assert.equal(t.backend.name, 'cpu');
  assert.match(t.backend.reason, /CPU backend requested/);
  assert.equal(t.gpuModel, 'H200');
  for (const s of t.stages) {
    assert.ok(s.timeMs >= 0 && s.roofline.fraction >= 0 && s.roofline.fraction <= 1, s.id);
    for (const n of [...s.inputs, ...s.outputs]) assert.ok(t.tensors[n], `${s.id}: ${n} has a TensorRef`);
    assert.match(s.notes![0]!, /cpu: .* GB\/s/);
  }
  const g1 = t.stages.find((s) => s.id === 'gemm1')!;
  assert.equal(g1.usefulFlops, 2 * 40 * 512 * 256);
  assert.equal(g1.flops, 2 * t.permutation.mSum * 512 * 256);
  // a CPU run is measured against this CPU's own peaks; the floor on the chosen GPU model is reported beside it
  assert.equal(t.rooflineModel.id, 'cpu');
  assert.match(t.rooflineModel.source, /measured on this CPU/);
  assert.ok(g1.bytes > 0 && g1.gpuFloorMs !== undefined);
  assert.ok(Math.abs(g1.gpuFloorMs - Math.max(g1.bytes / 4.8e12, g1.flops / 1979e12) * 1e3) < 1e-12, 'GPU floor on the H200');
  assert.equal(t.permutation.routedRows, 40);
  assert.equal(t.permutation.counts.reduce((a, b) => a + b, 0), 40);
  assert.ok(t.permutation.paddingWaste > 0.9);
  assert.ok(t.checks.some((c) => c.id === 'tokens.deepgemm-min' && c.level === 'warn'));
  assert.equal(t.tensors.a1q_scale_layout!.layout.order, 'mn-major');
  assert.deepEqual(t.tensors.a1q_scale_layout!.layout.strides, [1, 20]);
  assert.equal(t.tensors.m_indices!.inline?.length, t.permutation.mSum);
  assert.equal(t.tensors.mm1_out!.inline, undefined);
  assert.ok(progress.includes('gemm1') && progress.includes('setup'));
  assert.ok(JSON.stringify(t).length > 0, 'trace serialises');
});

test('SM100 runs produce packed UE8M0 scale layouts; inlining follows inlineLimit', async () => {
  const r = await runLayer(small({ arch: 'sm100' }), { backend: 'cpu', inlineLimit: 64 });
  assert.equal(r.trace.spec.recipe.scaleFormat, 'ue8m0');
  const ref = r.trace.tensors.a1q_scale_layout!;
  assert.equal(ref.dtype, 'i32');
  assert.equal(ref.layout.packing?.perWord, 4);
  assert.ok(ref.inline && ref.inline.length === 20);
  assert.equal(r.trace.tensors.a1q!.inline, undefined);
});

test('tiles: values decoded, |error| against float64, bounds checked', async () => {
  const r = await runLayer(small(), { backend: 'cpu' });
  const out = r.tensors.get('output')!;
  const v = tile(r, 'output', [2, 4], [10, 13], 'value');
  assert.deepEqual(v.shape2d, [20, 256]);
  assert.deepEqual(Array.from(v.values), [out.get(2, 10), out.get(2, 11), out.get(2, 12), out.get(3, 10), out.get(3, 11), out.get(3, 12)]);
  const e = tile(r, 'output', [0, 20], [0, 256], 'error');
  const absMax = r.trace.tensors.output!.summary.absMax;
  assert.ok(e.values.every((x) => x >= 0 && x < absMax * 0.1), 'errors are small and non-negative');
  // FP8 E4M3 keeps 3 mantissa bits: |dequant − x| ≤ 2^-4 |x| (plus the subnormal step) for every element
  const q = tile(r, 'a1q', [0, 1], [0, 256], 'error');
  const x = r.inputs.hidden_states;
  q.values.forEach((err, c) => assert.ok(err <= Math.abs(x.get(0, c)) / 16 + r.tensors.get('a1q_scale')!.get(0, c >> 7) / 512, `a1q[0, ${c}]: ${err}`));
  const mm1 = tile(r, 'mm1_out', [0, 256], [0, 4], 'error');
  assert.ok(mm1.values.some(Number.isNaN), 'padding rows have no reference (NaN)');
  assert.throws(() => tile(r, 'output', [0, 21], [0, 1], 'value'), code('E_RANGE', /rows \[0, 21\) must lie inside \[0, 20\)/));
  assert.throws(() => tile(r, 'output', [3, 2], [0, 1], 'value'), code('E_RANGE'));
  assert.throws(() => tile(r, 'nope', [0, 1], [0, 1], 'value'), code('E_VALUE', /no tensor named 'nope'/));
  assert.throws(() => tile(r, 'm_indices', [0, 1], [0, 1], 'error'), code('E_VALUE', /no float64 reference/));
  const packed = tile(r, 'a1q_scale_layout', [0, 20], [0, 2], 'value');
  assert.equal(packed.values.length, 40);
});

test('empty M: every stage runs on zero rows and the output is [0, K]', async () => {
  const r = await runLayer(small({ tokens: 0 }), { backend: 'cpu' });
  assert.deepEqual(r.tensors.get('output')!.shape, [0, 256]);
  assert.equal(r.trace.permutation.mSum, 0);
  assert.ok(r.trace.checks.some((c) => c.id === 'tokens.empty'));
  assert.ok(r.trace.stages.every((s) => s.roofline.fraction >= 0));
});

test('bad specs and inputs are refused before any compute', async () => {
  await assert.rejects(runLayer(small({ hidden: 200 }), { backend: 'cpu' }), code('E_SPEC', /hidden K = 200 is not a multiple of 128/));
  await assert.rejects(runLayer(small({ intermediate: 96 }), { backend: 'cpu' }), code('E_SPEC', /intermediate N = 96/));
  await assert.rejects(runLayer(small({ topk: 7 }), { backend: 'cpu' }), code('E_SPEC', /top-k = 7/));
  const spec = small();
  const inputs = syntheticInputs(spec);
  const x = new Uint16Array(inputs.hidden_states.storage as Uint16Array);
  x[3 * 256 + 5] = encodeBf16(Infinity);
  await assert.rejects(runLayer(spec, { backend: 'cpu', inputs: { ...inputs, hidden_states: new Tensor('bf16', [20, 256], x) } }), code('E_VALUE', /hidden_states\[3, 5\] = Infinity/));
  const ids = new Int32Array(inputs.topk_ids.storage as Int32Array);
  ids[9] = 6;
  await assert.rejects(runLayer(spec, { backend: 'cpu', inputs: { ...inputs, topk_ids: new Tensor('i32', [20, 2], ids) } }), code('E_RANGE', /token 4, slot 1/));
  await assert.rejects(runLayer(small({ routerWeight: 'input' }), { backend: 'cpu' }), code('E_SPEC', /top-1/));
});

test('cancel: before the run and in the middle of it → E_CANCELLED', async () => {
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(runLayer(small(), { backend: 'cpu', signal: pre.signal }), code('E_CANCELLED'));
  const mid = new AbortController();
  await assert.rejects(
    runLayer(small({ tokens: 40, hidden: 384, intermediate: 384 }), {
      backend: 'cpu',
      signal: mid.signal,
      onProgress: (stage) => {
        if (stage === 'gemm1') setTimeout(() => mid.abort(), 1);
      },
    }),
    code('E_CANCELLED'),
  );
});

test('trace.tensors (the summaries) is built when first read, once, and travels in JSON and structured clones', async () => {
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 16, hidden: 256, intermediate: 128, experts: 4, topk: 2 });
  const { trace } = await runLayer(spec, { backend: 'cpu' });
  const d = Object.getOwnPropertyDescriptor(trace, 'tensors');
  assert.ok(d?.get && d.enumerable, 'an enumerable getter: nothing is summarised until something reads it');
  const refs = trace.tensors;
  assert.equal(trace.tensors, refs, 'built once');
  assert.ok(refs.w13_weight && refs.output, 'inputs and outputs');
  assert.deepEqual(JSON.parse(JSON.stringify(trace)).tensors, JSON.parse(JSON.stringify(refs)));
  assert.deepEqual(structuredClone(trace).tensors, refs);
  assert.deepEqual(Object.keys({ ...trace }).includes('tensors'), true);
});
