/** runLayer's onStage: a partial Trace once the inputs are ready and after each finished stage, refs built once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLayer } from '../../kernels/pipeline';
import { makeSpec } from '../../kernels/presets';
import { type Trace } from '../../kernels/trace';
import { CONTIGUOUS_STAGES } from '../../kernels/recipes/contiguous/stages';

const STAGE_ORDER = CONTIGUOUS_STAGES.map((s) => s.id);

const small = () => makeSpec('qwen3-30b-a3b', { tokens: 20, hidden: 256, intermediate: 256, experts: 6, topk: 2, source: { kind: 'synthetic', seed: 1, skew: 0.5 } });

test('onStage: partial traces grow stage by stage, pending stages name their outputs, the final trace has none', async () => {
  const partials: Trace[] = [];
  const r = await runLayer(small(), { backend: 'cpu', onStage: (p) => void partials.push(JSON.parse(JSON.stringify(p)) as Trace) });
  // inputs ready (nothing done), then after stages 1..7; the last stage's result is the final trace itself
  assert.equal(partials.length, STAGE_ORDER.length);
  partials.forEach((p, i) => {
    assert.deepEqual(p.stages.map((s) => s.id), STAGE_ORDER.slice(0, i), `partial ${i}`);
    assert.deepEqual(p.pending!.map((s) => s.id), STAGE_ORDER.slice(i));
    for (const s of p.stages) for (const n of s.outputs) assert.ok(p.tensors[n], `${s.id} wrote ${n}`);
    for (const s of p.pending!) assert.ok(s.title.length > 0 && s.outputs.length > 0);
  });
  assert.ok(partials[0]!.tensors['hidden_states'] && !partials[0]!.tensors['a1q'], 'inputs only before stage 1');
  assert.ok(partials[2]!.tensors['a1q_scale']?.inline && partials[2]!.tensors['a1q_scale_layout'], 'scales after transform');
  assert.ok(!partials[3]!.tensors['mm1_out'] && partials[3]!.tensors['m_indices'], 'permutation before GEMM1');
  assert.equal(r.trace.pending, undefined);
  assert.deepEqual(r.trace.stages.map((s) => s.id), [...STAGE_ORDER]);
  // the partial refs are the final ones (built once): same summary for a tensor computed early
  assert.deepEqual(partials[1]!.tensors['a1q'], JSON.parse(JSON.stringify(r.trace.tensors['a1q'])));
});

test('without onStage the run is unchanged: the full trace, nothing pending', async () => {
  const r = await runLayer(small(), { backend: 'cpu' });
  assert.equal(r.trace.stages.length, STAGE_ORDER.length);
  assert.equal(r.trace.pending, undefined);
});

test('progressive runs give bit-identical tensors (synthetic weights written late, before GEMM1) and never show zero weights', async () => {
  const partials: Trace[] = [];
  const a = await runLayer(small(), { backend: 'cpu', onStage: (p) => void partials.push(p) });
  const b = await runLayer(small(), { backend: 'cpu' });
  for (const name of ['w13_weight', 'w2_weight', 'mm1_out', 'mm2_out', 'output']) {
    const x = a.tensors.get(name)!.contiguous().storage;
    const y = b.tensors.get(name)!.contiguous().storage;
    assert.deepEqual(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(y.buffer, y.byteOffset, y.byteLength), name);
  }
  assert.deepEqual(a.trace.tensors['w13_weight']!.summary, b.trace.tensors['w13_weight']!.summary);
  // until they are written (before GEMM1) the weights are left out of the partial traces
  assert.equal(partials[0]!.tensors['w13_weight'], undefined);
  assert.equal(partials[3]!.tensors['w13_weight'], undefined, 'the permute partial is posted before the weights are written');
  assert.ok(partials[4]!.tensors['w13_weight'], 'GEMM1 partial');
  assert.ok(partials[0]!.tensors['w13_weight_scale_inv'], 'weight scales are final from the start');
  assert.ok(partials.at(-1)!.tensors['w13_weight']!.summary.absMax > 0);
});

test('a promise returned by onStage holds the grouped GEMMs (not the cheap stages) until it resolves', async () => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const seen: string[] = [];
  const run = runLayer(small(), {
    backend: 'cpu',
    onProgress: (s) => void seen.push(s),
    onStage: (p) => {
      seen.push(`partial ${p.stages.length}`);
      return p.stages.length === 3 ? gate : undefined;
    },
  });
  while (!seen.includes('partial 3')) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(!seen.includes('gemm1'), `GEMM 1 waits for the first picture: ${seen.join(' ')}`);
  release();
  const r = await run;
  assert.ok(seen.includes('gemm1'));
  assert.equal(r.trace.stages.length, 8);
});
