/** estimateRun: tensor sizes from the spec alone, checked against the sizes a real run allocates. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { estimateRun, maxTokens } from '../../kernels/estimate';
import { makeSpec } from '../../kernels/presets';
import { runLayer } from '../../kernels/pipeline';
import { shutdownGemmWorkers } from '../../kernels/ops/gemm';

after(() => shutdownGemmWorkers());

const ep8 = { expertParallel: { size: 8, rank: 0, strategy: 'linear' as const } };

test('every stage tensor of a real run is within the estimate (M_sum is an upper bound, names match)', async () => {
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 40, hidden: 256, intermediate: 256, experts: 16, topk: 4 });
  const est = estimateRun(spec);
  const { tensors, trace } = await runLayer(spec, { backend: 'cpu' });
  assert.ok(trace.permutation.mSum <= est.mSum, `M_sum ${trace.permutation.mSum} ≤ ${est.mSum}`);
  assert.equal(est.routedRows, 40 * 4);
  for (const e of est.tensors) {
    const t = tensors.get(e.name);
    assert.ok(t, `the run has ${e.name}`);
    if (e.name === 'w13_weight' || e.name === 'w2_weight') assert.equal(t.numel, e.elements, e.name);
    else assert.ok(t.numel * t.itemBytes <= e.bytes, `${e.name}: ${t.numel * t.itemBytes} ≤ ${e.bytes}`);
  }
});

test('expert parallelism: an eighth of the experts, rows and weights; active experts never exceed routed rows', () => {
  const full = estimateRun(makeSpec('deepseek-v3', { tokens: 4096 }));
  const rank = estimateRun(makeSpec('deepseek-v3', { tokens: 4096, ...ep8 }));
  assert.equal(full.localExperts, 256);
  assert.equal(rank.localExperts, 32);
  assert.equal(rank.routedRows, full.routedRows / 8);
  assert.equal(rank.activeExperts, 32);
  const one = estimateRun(makeSpec('deepseek-v3', { tokens: 1, ...ep8 }));
  assert.ok(one.activeExperts <= 1, String(one.activeExperts));
  // DeepSeek-V3 64 tokens, one rank: ~221 of 256 experts get tokens (1 − (1 − 8/256)^64 of them)
  const ds = estimateRun(makeSpec('deepseek-v3', { tokens: 64 }));
  assert.ok(Math.abs(ds.activeExperts - 256 * (1 - (1 - 8 / 256) ** 64)) <= 1, String(ds.activeExperts));
  assert.equal(ds.weightBytes, ds.activeExperts * 3 * 2048 * 7168);
});

test('absurd token counts are estimated in microseconds without overflow; maxTokens finds the boundary', () => {
  for (const tokens of [1e6, 1e7, 1e9, 1e12]) {
    const e = estimateRun(makeSpec('qwen3-30b-a3b', { tokens }));
    assert.ok(Number.isFinite(e.peakBytes) && e.peakBytes > tokens * 2048 * 2, String(e.peakBytes));
    assert.ok(e.cpuSeconds > 0 && Number.isFinite(e.cpuSeconds));
  }
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 1e9 });
  const budget = 16 * 2 ** 30;
  const m = maxTokens(spec, (e) => e.peakBytes <= budget);
  assert.ok(m > 1000 && m < 1e9, String(m));
  assert.ok(estimateRun({ ...spec, tokens: m }).peakBytes <= budget);
  assert.ok(estimateRun({ ...spec, tokens: m + 1 }).peakBytes > budget);
});
