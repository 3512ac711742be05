/** estimateRun: tensor sizes from the spec alone, checked against the sizes a real run allocates. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { estimateRun, maxTokens } from '../../kernels/estimate';
import { makeSpec } from '../../kernels/presets';
import { runLayer } from '../../kernels/pipeline';
import { shutdownGemmWorkers } from '../../kernels/ops/gemm';
import { PAGING } from '../../kernels/expertPages';

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
  // its weights are made per expert (7.5 GB of w13 is past one array): a batch buffer per GEMM, both counted
  const batch = (perExpert: number): number => Math.floor(PAGING.batchBytes / perExpert) * perExpert;
  assert.equal(ds.weightBytes, batch(2 * 2048 * 7168) + batch(7168 * 2048));
  const dsRank = estimateRun(makeSpec('deepseek-v3', { tokens: 64, ...ep8 }));
  assert.equal(dsRank.weightBytes, dsRank.activeExperts * 3 * 2048 * 7168);
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

test('a run of some stages is estimated by what it makes: the one-rank DeepSeek-V3 scales export holds no weight', async () => {
  const { guardRunSize } = await import('../../extension/cli/sizeGuard');
  const { stagesFor, tensorsTouched } = await import('../../kernels/neededStages');
  const { CONTIGUOUS_STAGES } = await import('../../kernels/recipes/contiguous/stages');
  const wanted = ['a1q_scale', 'a1q_scale_layout'];
  const scalesOnly = tensorsTouched(stagesFor(CONTIGUOUS_STAGES, wanted), wanted);
  const spec = makeSpec('deepseek-v3', { tokens: 64 });
  const full = estimateRun(spec);
  const part = estimateRun(spec, { tensors: scalesOnly });
  assert.ok(full.tensors.find((t) => t.name === 'w13_weight')!.paged, 'the whole layer\'s w13_weight is made per expert');
  assert.equal(part.weightBytes, 0);
  assert.equal(part.flops, 0);
  assert.equal(part.workspaceBytes, 0);
  assert.deepEqual(part.tensors.map((t) => t.name).sort(), ['a1q', 'a1q_scale', 'a1q_scale_layout', 'hidden_states', 'topk_ids', 'topk_weights', 'w13_weight_scale_inv', 'w2_weight_scale_inv']);
  // what it makes: 64 × 7168 activations, their FP8 codes and scales, the routing and the 256 experts' block scales
  const made = 64 * 7168 * (2 + 1) + 64 * 56 * 4 * 2 + 64 * 8 * 8 + 256 * (32 * 56 + 56 * 16) * 4;
  assert.equal(part.peakBytes - 300e6, made);
  assert.ok(part.cpuSeconds < 1, String(part.cpuSeconds));
  // the guard lets it through on a small machine, and still refuses the whole layer
  let said = '';
  const out = new (await import('node:stream')).Writable({ write: (c: Buffer, _e, cb) => void ((said += c.toString()), cb()) });
  const machine = { totalBytes: 4 * 2 ** 30, cores: 2 };
  assert.equal(guardRunSize(spec, out, 'export', machine, { tensors: scalesOnly })?.weightBytes, 0);
  assert.equal(said, '', 'nothing to warn about');
  // the whole layer needs its stage tensors and a GEMM batch of weights per GEMM: past a 2 GiB machine's 1.3 GiB allowance
  assert.throws(() => guardRunSize(spec, out, 'export', { ...machine, totalBytes: 2 * 2 ** 30 }), /needs ~1\.\d GiB at its peak .*use fewer tokens \(up to ~\d+ fit here\)/);
  assert.equal(guardRunSize(spec, out, 'export', { totalBytes: 16 * 2 ** 30, cores: 2 })?.activeExperts, full.activeExperts);
  // GEMM 1 alone (a picture of a2q_scale): w13 of the active experts and its work space, not w2
  const a2 = ['a2q_scale'];
  const gemm1 = estimateRun(makeSpec('deepseek-v3', { tokens: 64, ...ep8 }), { tensors: tensorsTouched(stagesFor(CONTIGUOUS_STAGES, a2), a2) });
  const rank = estimateRun(makeSpec('deepseek-v3', { tokens: 64, ...ep8 }));
  assert.equal(gemm1.weightBytes, rank.activeExperts * 2 * 2048 * 7168);
  assert.ok(gemm1.flops === (rank.flops * 2) / 3 && gemm1.workspaceBytes > 0);
});

test('a run of some stages makes no tensor past its estimate', async () => {
  const { stagesFor, tensorsTouched } = await import('../../kernels/neededStages');
  const { CONTIGUOUS_STAGES } = await import('../../kernels/recipes/contiguous/stages');
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 40, hidden: 256, intermediate: 256, experts: 16, topk: 4 });
  const wanted = ['a2q_scale'];
  const est = estimateRun(spec, { tensors: tensorsTouched(stagesFor(CONTIGUOUS_STAGES, wanted), wanted) });
  const { tensors } = await runLayer(spec, { backend: 'cpu', needs: wanted });
  const named = new Map(est.tensors.map((e) => [e.name, e.bytes]));
  for (const [name, t] of tensors) if (name !== 'expert_map') assert.ok(t.numel * t.itemBytes <= (named.get(name) ?? -1), `${name} is estimated`);
  assert.ok(!tensors.has('w2_weight') && !named.has('w2_weight') && !tensors.has('mm2_out'));
});

test('a layer file of one expert-parallel rank is estimated by the experts its weights hold, not by its expert_map\'s global count', async () => {
  const { assessRunSize, heldExperts } = await import('../../extension/cli/sizeGuard');
  // DeepSeek-V3 EP8 rank 0 as a layer file: expert_map over 256 experts, weights for 32; its spec has no EP setting
  const spec = makeSpec('deepseek-v3', { tokens: 4096, source: { kind: 'file', path: 'dsv3-ep8.safetensors' } });
  const machine = { totalBytes: 128 * 2 ** 30, cores: 16 };
  assert.throws(() => assessRunSize(spec, 'run', machine), /w13_weight would hold ~7\.52e\+9 elements/);
  const held = heldExperts({ w13_weight: { shape: [32, 4096, 7168] } });
  assert.deepEqual(held, { localExperts: 32 });
  const v = assessRunSize(spec, 'run', machine, undefined, held)!;
  assert.equal(v.estimate.localExperts, 32);
  assert.equal(v.estimate.tensors.find((t) => t.name === 'w13_weight')!.elements, 32 * 4096 * 7168);
  assert.deepEqual(heldExperts(undefined), {});
});
