/**
 * Synthetic weights made per GEMM batch on the CPU backend (kernels/expertPages.ts syntheticWeightsPaged with the
 * 'cpu' reader): a Qwen3-30B-A3B layer's 600 MB of weights are never one fresh tensor (whose first-touch page faults
 * cost seconds), each GEMM batch's experts are made into one reused buffer. The CPU limit is lowered here so a small
 * layer is paged, and everything that reads its weights is compared, bit for bit, with the same layer held whole:
 * stage tensors, the --out file, tiles, error tiles, the trace's summaries, a progressive run and a run of some
 * stages. The CUDA addon, which takes whole tensors, keeps them whole below one array's 4 GiB.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLayer, type RunResult } from '../../kernels/pipeline';
import { makeSpec } from '../../kernels/presets';
import { PAGING, expertPagesOf, syntheticWeightsPaged } from '../../kernels/expertPages';
import { syntheticInputs } from '../../kernels/synthetic';
import { recipeById } from '../../kernels/recipes/index';
import { cudaRefusal } from '../../kernels/backend/cudaSupport';
import { writeSafetensors } from '../../kernels/io/safetensors';
import { tile } from '../../kernels/tiles';
import { summarize } from '../../kernels/summary';
import { estimateRun } from '../../kernels/estimate';
import { assessRunSize } from '../../extension/cli/sizeGuard';
import type { Trace } from '../../kernels/trace';
import { shutdownGemmWorkers } from '../../kernels/ops/gemm';
import { bytesOf, withPaging } from './pagingFixtures';

const dir = mkdtempSync(join(tmpdir(), 'moe-cpu-pages-'));
after(() => {
  shutdownGemmWorkers();
  rmSync(dir, { recursive: true, force: true });
});


// Qwen3-30B-A3B shapes with 12 experts: w13 is 12 × 1536 × 2048 = 37.7 MB, w2 half that; some experts get no token
const spec = makeSpec('qwen3-30b-a3b', { tokens: 6, experts: 12, source: { kind: 'synthetic', seed: 7, skew: 0 } });
const PER_EXPERT_13 = 1536 * 2048;
// on the CPU, paged above 16 MB (w13 and w2 both), three experts of w13 per GEMM batch
const CPU_PAGED = { cpuTensorBytes: 16 * 2 ** 20, batchBytes: 3 * PER_EXPERT_13 };
// the same layer held whole on the CPU
const CPU_WHOLE = { cpuTensorBytes: 2 ** 32 - 1 };

const cpuRun = (limits: Partial<typeof PAGING>, opts: Parameters<typeof runLayer>[1] = {}): Promise<RunResult> => withPaging(limits, () => runLayer(spec, { backend: 'cpu', ...opts }));

function sameRun(whole: RunResult, paged: RunResult): void {
  assert.ok(expertPagesOf(paged.inputs.w13_weight) && expertPagesOf(paged.inputs.w2_weight), 'weights made per expert');
  assert.equal(expertPagesOf(whole.inputs.w13_weight), undefined);
  assert.deepEqual([...paged.tensors.keys()].sort(), [...whole.tensors.keys()].sort());
  for (const [name, t] of whole.tensors) assert.ok(bytesOf(t).equals(bytesOf(paged.tensors.get(name)!)), `${name} differs between the whole and the paged run`);
  // every summary (the weights' sampled ones included) and layout descriptor, as the trace carries them
  assert.deepEqual(JSON.parse(JSON.stringify(paged.trace.tensors)), JSON.parse(JSON.stringify(whole.trace.tensors)));
}

test('one predicate: the CPU engine pages a large synthetic layer, the CUDA addon keeps it whole up to one array', () => {
  // Qwen3-30B-A3B (w13 403 MB), DeepSeek-V3 on one EP8 rank (940 MB) and whole (7.5 GB)
  assert.deepEqual([syntheticWeightsPaged(128, 768, 2048, 'cpu'), syntheticWeightsPaged(128, 768, 2048, 'cuda')], [true, false]);
  assert.deepEqual([syntheticWeightsPaged(32, 2048, 7168, 'cpu'), syntheticWeightsPaged(32, 2048, 7168, 'cuda')], [true, false]);
  assert.deepEqual([syntheticWeightsPaged(256, 2048, 7168, 'cpu'), syntheticWeightsPaged(256, 2048, 7168, 'cuda')], [true, true]);
  // a small layer stays whole on both
  assert.deepEqual([syntheticWeightsPaged(4, 256, 256, 'cpu'), syntheticWeightsPaged(4, 256, 256, 'cuda')], [false, false]);
  // the addon runs the Qwen3 preset (its weights whole), and refuses only the layer past one array
  const contiguous = recipeById('contiguous');
  assert.equal(cudaRefusal(contiguous, makeSpec('qwen3-30b-a3b', { tokens: 128 })), undefined);
  assert.match(cudaRefusal(contiguous, makeSpec('deepseek-v3', { tokens: 8 })) ?? '', /one expert at a time/);
});

test('the synthetic mode decides: backend cpu gets per-expert weights (nothing deferred), backend cuda and plain syntheticInputs whole ones', async () => {
  const contiguous = recipeById('contiguous');
  await withPaging(CPU_PAGED, () => {
    for (const mode of [{ defer: false }, { defer: true }, { defer: false, lazy: true }]) {
      const cpu = contiguous.synthetic(spec, { ...mode, backend: 'cpu' });
      assert.ok(expertPagesOf(cpu.inputs.w13_weight!) && expertPagesOf(cpu.inputs.w2_weight!), `cpu ${JSON.stringify(mode)}`);
      // made when read: nothing for a progressive run to write late or leave out of its partial traces
      assert.deepEqual([cpu.fillWeights, cpu.fillWeightsAsync, cpu.deferred], [undefined, undefined, undefined]);
      const cuda = contiguous.synthetic(spec, { ...mode, backend: 'cuda' });
      assert.equal(expertPagesOf(cuda.inputs.w13_weight!), undefined, `cuda ${JSON.stringify(mode)}`);
      assert.equal(expertPagesOf(cuda.inputs.w2_weight!), undefined);
    }
    // the default of every other caller (file writers, the CUDA worker's seed regeneration): whole tensors
    assert.equal(expertPagesOf(syntheticInputs(spec).w13_weight), undefined);
    assert.ok(expertPagesOf(syntheticInputs(spec, 'cpu').w13_weight));
  });
});

test('a CPU-paged layer runs bit-identically to the same layer held whole: stage tensors, summaries, --out bytes, tiles, error tiles', async () => {
  const whole = await cpuRun(CPU_WHOLE);
  const paged = await cpuRun(CPU_PAGED);
  sameRun(whole, paged);
  // the weights' summaries are the whole tensors' even samples (37.7M elements, above WEIGHT_SAMPLE), value for value
  assert.deepEqual(paged.trace.tensors.w13_weight!.summary.sampled, { values: Math.ceil((12 * PER_EXPERT_13) / Math.ceil((12 * PER_EXPERT_13) / 2 ** 22)), how: 'even' });
  // tiles across two experts' rows, of both weights; error tiles against the float64 reference
  for (const [name, rows] of [['w13_weight', [1536 - 3, 1536 + 5]], ['w2_weight', [2 * 2048 - 1, 2 * 2048 + 1]]] as const)
    assert.deepEqual(tile(paged, name, [...rows], [0, 128], 'value').values, tile(whole, name, [...rows], [0, 128], 'value').values, name);
  for (const name of paged.plan!.errorTensors ?? []) {
    const R = Math.min(16, paged.tensors.get(name)!.shape[0]!);
    assert.deepEqual(tile(paged, name, [0, R], [0, 64], 'error').values, tile(whole, name, [0, R], [0, 64], 'error').values, name);
  }
  const a = join(dir, 'whole.safetensors');
  const b = join(dir, 'paged.safetensors');
  writeSafetensors(a, Object.fromEntries(whole.tensors));
  writeSafetensors(b, Object.fromEntries(paged.tensors));
  assert.ok(readFileSync(a).equals(readFileSync(b)), '--out bytes');
  // making the weights inside the GEMMs is left out of their times, and said on each; the whole layer has no such note
  for (const id of ['gemm1', 'gemm2']) {
    const note = paged.trace.stages.find((s) => s.id === id)!.notes?.find((n) => n.includes('making this stage'));
    assert.match(note ?? '', /^\d+ ms more went to making this stage's FP8 weights one GEMM batch at a time \(per-expert inputs, not the layer's compute\); left out of its time$/, id);
    assert.ok(!whole.trace.stages.find((s) => s.id === id)!.notes?.some((n) => n.includes('making this stage')), id);
  }
});

test("a CPU-paged layer's progressive run shows its weights from the first partial trace, with the whole layer's summaries, and the same tensors", async () => {
  const wholePartials: Trace[] = [];
  const pagedPartials: Trace[] = [];
  const whole = await cpuRun(CPU_WHOLE, { onStage: (p) => void wholePartials.push(JSON.parse(JSON.stringify(p)) as Trace) });
  const paged = await cpuRun(CPU_PAGED, { onStage: (p) => void pagedPartials.push(JSON.parse(JSON.stringify(p)) as Trace) });
  sameRun(whole, paged);
  assert.equal(pagedPartials.length, wholePartials.length);
  // whole weights are written late and left out until then; paged ones need no deferral
  assert.equal(wholePartials[0]!.tensors.w13_weight, undefined);
  assert.deepEqual(pagedPartials[0]!.tensors.w13_weight?.summary, whole.trace.tensors.w13_weight!.summary);
  assert.deepEqual(pagedPartials[0]!.tensors.w2_weight?.summary, whole.trace.tensors.w2_weight!.summary);
  assert.deepEqual(pagedPartials.at(-1)!.tensors, wholePartials.at(-1)!.tensors);
});

test('a run of some stages (export --view) of a CPU-paged layer gives the tensors of the whole layer', async () => {
  for (const needs of [['w13_weight'], ['mm1_out'], ['output']]) {
    const whole = await cpuRun(CPU_WHOLE, { needs });
    const paged = await cpuRun(CPU_PAGED, { needs });
    assert.deepEqual([...paged.tensors.keys()], [...whole.tensors.keys()], needs[0]);
    for (const [name, t] of whole.tensors) assert.ok(bytesOf(t).equals(bytesOf(paged.tensors.get(name)!)), `${needs[0]}: ${name}`);
    assert.deepEqual(JSON.parse(JSON.stringify(paged.trace.tensors)), JSON.parse(JSON.stringify(whole.trace.tensors)), needs[0]);
  }
});

test("a paged tensor's summary is the whole tensor's at any sample size (every step-th value, odd steps included)", async () => {
  const whole = syntheticInputs(spec);
  const paged = await withPaging(CPU_PAGED, () => syntheticInputs(spec, 'cpu'));
  for (const name of ['w13_weight', 'w2_weight'] as const)
    for (const sampleAbove of [1000, 65537, 2 ** 22, 2 ** 26]) assert.deepEqual(summarize(paged[name], sampleAbove), summarize(whole[name], sampleAbove), `${name} sampled above ${sampleAbove}`);
});

test('the estimate counts what the CPU backend holds: a GEMM batch of weights, not the whole 600 MB; CUDA and an unchosen backend count them whole', () => {
  const qwen = makeSpec('qwen3-30b-a3b', { tokens: 128 });
  const w13 = 128 * 1536 * 2048;
  const cpu = estimateRun(qwen, { backend: 'cpu' });
  const t = cpu.tensors.find((x) => x.name === 'w13_weight')!;
  assert.equal(t.paged, true);
  assert.equal(t.elements, w13);
  assert.ok(t.bytes <= Math.max(PAGING.batchBytes, PER_EXPERT_13) && cpu.weightBytes <= 2 * Math.max(PAGING.batchBytes, PER_EXPERT_13), `w13 resident ${t.bytes}, weights ${cpu.weightBytes}`);
  for (const backend of ['cuda', 'auto', undefined] as const) {
    const e = estimateRun(qwen, backend ? { backend } : {});
    assert.equal(e.tensors.find((x) => x.name === 'w13_weight')!.paged, undefined, String(backend));
    assert.equal(e.weightBytes, (w13 * 3) / 2, String(backend));
    assert.ok(e.peakBytes - cpu.peakBytes > 500e6, `${backend}: ${e.peakBytes} vs ${cpu.peakBytes}`);
  }
  // the CLI's and the panel's size guard pass the backend asked for
  assert.equal(assessRunSize(qwen, 'run', { totalBytes: 16 * 2 ** 30, cores: 2 }, undefined, { backend: 'cpu' })!.estimate.weightBytes, cpu.weightBytes);
});
