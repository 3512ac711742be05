/**
 * Weights made one expert at a time (kernels/expertPages.ts): what lets a whole DeepSeek-V3 layer run on one rank
 * (w13 7.5 GB, past one array's 4 GiB) with one batch of experts resident. The limits are lowered here so a small
 * layer is paged, and every tensor it gives is compared, bit for bit, with the same layer held whole: the run's
 * stage tensors, the --out file, a tile; then the file written by the paged run is read back per expert
 * (kernels/io/expertPagesFile.ts) and run again.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLayer, type RunResult } from '../../kernels/pipeline';
import { makeSpec } from '../../kernels/presets';
import { PAGING, expertPagesOf, expertPagedTensor, expertSlice } from '../../kernels/expertPages';
import { syntheticInputs } from '../../kernels/synthetic';
import { writeSafetensors } from '../../kernels/io/safetensors';
import { loadLayer } from '../../kernels/layerFile';
import { checkFp8Codes } from '../../kernels/inputs';
import { tile } from '../../kernels/tiles';
import { estimateRun } from '../../kernels/estimate';
import { MoeError } from '../../kernels/errors';
import { type Tensor } from '../../kernels/tensor';
import { shutdownGemmWorkers } from '../../kernels/ops/gemm';
import { bytesOf, withPaging } from './pagingFixtures';

const dir = mkdtempSync(join(tmpdir(), 'moe-pages-'));
after(() => {
  shutdownGemmWorkers();
  rmSync(dir, { recursive: true, force: true });
});


// Qwen3-30B-A3B shapes with 12 experts: w13 is 12 × 1536 × 2048 = 37.7 MB, w2 half that; some experts get no token
const spec = makeSpec('qwen3-30b-a3b', { tokens: 6, experts: 12, source: { kind: 'synthetic', seed: 7, skew: 0 } });
const W13_BYTES = 12 * 1536 * 2048;
const PER_EXPERT_13 = 1536 * 2048;
// paged, and three experts per GEMM batch
const LIMITS = { wholeTensorBytes: W13_BYTES - 1, batchBytes: 3 * PER_EXPERT_13 };

function sameTensors(a: RunResult, b: RunResult): void {
  assert.deepEqual([...b.tensors.keys()].sort(), [...a.tensors.keys()].sort());
  for (const [name, t] of a.tensors) assert.ok(bytesOf(t).equals(bytesOf(b.tensors.get(name)!)), `${name} differs between the whole and the paged run`);
}

test('a layer past the limit gets weights made per expert: the same bytes per expert, and a whole-tensor read says what to do instead', async () => {
  const whole = syntheticInputs(spec);
  const pagedInputs = await withPaging(LIMITS, () => syntheticInputs(spec));
  const w13 = pagedInputs.w13_weight;
  assert.ok(expertPagesOf(w13) && expertPagesOf(pagedInputs.w2_weight));
  assert.equal(expertPagesOf(whole.w13_weight), undefined);
  assert.deepEqual([w13.dtype, w13.shape, w13.strides, w13.name, w13.numel, w13.isContiguous()], ['f8e4m3fn', [12, 1536, 2048], [1536 * 2048, 2048, 1], 'w13_weight', W13_BYTES, true]);
  for (const e of [0, 5, 11]) assert.ok(bytesOf(expertSlice(w13, e)).equals(bytesOf(expertSlice(whole.w13_weight, e))), `expert ${e}`);
  assert.ok(bytesOf(w13).equals(bytesOf(whole.w13_weight)));
  assert.throws(
    () => w13.storage,
    (e: unknown) => e instanceof MoeError && e.code === 'E_SPEC' && e.tensor === 'w13_weight' && /made one expert at a time/.test(e.message) && /--ep 8 --rank R/.test(e.message),
  );
  assert.throws(() => w13.get(0, 0, 0), /made one expert at a time/);
});

test('a paged layer runs bit-identically to the same layer held whole, in GEMM batches of a few experts', async () => {
  const whole = await runLayer(spec, { backend: 'cpu' });
  const pagedRun = await withPaging(LIMITS, () => runLayer(spec, { backend: 'cpu' }));
  assert.ok(expertPagesOf(pagedRun.inputs.w13_weight));
  sameTensors(whole, pagedRun);
  // a tile across two experts' rows reads each expert once
  const rows: [number, number] = [1536 - 2, 1536 + 2];
  assert.deepEqual(tile(pagedRun, 'w13_weight', rows, [0, 64], 'value').values, tile(whole, 'w13_weight', rows, [0, 64], 'value').values);
  // the float64 reference of an error tile reads its experts one at a time too
  for (const name of pagedRun.plan!.errorTensors ?? []) {
    const R = Math.min(16, pagedRun.tensors.get(name)!.shape[0]!);
    assert.deepEqual(tile(pagedRun, name, [0, R], [0, 64], 'error').values, tile(whole, name, [0, R], [0, 64], 'error').values, name);
  }
  // the summaries sample the same values as the whole tensors' (synthetic codes: the stream jumped to each sampled
  // code, never a whole expert made): the same figures
  for (const name of ['w13_weight', 'w2_weight']) assert.deepEqual(pagedRun.trace.tensors[name]!.summary, whole.trace.tensors[name]!.summary, name);
  assert.equal(pagedRun.trace.tensors.w13_weight!.summary.sampled?.how, 'even');
  assert.equal(pagedRun.trace.tensors.w13_weight!.layout.storageElems, W13_BYTES);

  // its file, written expert by expert, equals the whole run's; read back per expert it runs the same again
  const a = join(dir, 'whole.safetensors');
  const b = join(dir, 'paged.safetensors');
  writeSafetensors(a, Object.fromEntries(whole.tensors));
  writeSafetensors(b, Object.fromEntries(pagedRun.tensors));
  assert.ok(readFileSync(a).equals(readFileSync(b)));
  const again = await withPaging(LIMITS, async () => {
    const loaded = loadLayer(b);
    assert.ok(expertPagesOf(loaded.inputs.w13_weight as Tensor), 'w13_weight read per expert from the file');
    return runLayer({ ...spec, source: { kind: 'file', path: b } }, { backend: 'cpu' });
  });
  for (const name of ['mm1_out', 'mm2_out', 'output']) assert.ok(bytesOf(again.tensors.get(name)!).equals(bytesOf(whole.tensors.get(name)!)), name);
});

test('a NaN code in a paged tensor is found in its expert, at its position in the whole tensor', () => {
  const E = 3;
  const per = 8 * 128;
  const data = new Uint8Array(E * per).fill(0x38);
  data[2 * per + 130] = 0x7f;
  const t = expertPagedTensor([E, 8, 128], 'w2_weight', { perExpert: per, active: () => true, fill: (e, dst) => dst.set(data.subarray(e * per, e * per + dst.length)) });
  assert.throws(() => checkFp8Codes(t, 'w2_weight'), (e: unknown) => e instanceof MoeError && e.message === `w2_weight: byte ${2 * per + 130} (expert 2) is an FP8 E4M3FN NaN code 0x7f; weights must be finite`);
  data[2 * per + 130] = 0x38;
  checkFp8Codes(t, 'w2_weight');
});

test('a file whose weights shrank after its header was read is an error naming the file, the tensor and the expert', async () => {
  const path = join(dir, 'shrinks.safetensors');
  writeSafetensors(path, syntheticInputs(spec) as unknown as Record<string, Tensor>);
  const loaded = await withPaging(LIMITS, () => loadLayer(path));
  const full = readFileSync(path);
  writeFileSync(path, full.subarray(0, full.length - PER_EXPERT_13 * 12));
  assert.throws(() => expertSlice(loaded.inputs.w13_weight as Tensor<'f8e4m3fn'>, 11), (e: unknown) => e instanceof MoeError && e.code === 'E_IO' && e.message.includes(path) && /w13_weight/.test(e.message) && /expert 11/.test(e.message));
});

test('the estimate of a whole DeepSeek-V3 layer on one rank counts one GEMM batch of weights, not 7.5 GB, and no array past 2^32', () => {
  const e = estimateRun(makeSpec('deepseek-v3', { tokens: 64 }));
  const w13 = e.tensors.find((t) => t.name === 'w13_weight')!;
  assert.equal(w13.paged, true);
  assert.equal(w13.elements, 256 * 4096 * 7168);
  assert.ok(w13.bytes <= PAGING.batchBytes && e.weightBytes <= 2 * PAGING.batchBytes, `w13 resident ${w13.bytes}, weights ${e.weightBytes}`);
  assert.ok(e.largest.elements < 2 ** 32, `largest ${e.largest.name}`);
  assert.ok(e.peakBytes < 4 * 2 ** 30, `peak ${e.peakBytes}`);
  // with expert parallelism nothing is paged
  assert.equal(estimateRun(makeSpec('deepseek-v3', { tokens: 64, expertParallel: { size: 8, rank: 0, strategy: 'linear' } })).tensors.find((t) => t.name === 'w13_weight')!.paged, undefined);
});

test('an FP8 checkpoint layer past one array is read from its shards per expert, and runs as the same layer read whole', async () => {
  const { writeCheckpoint } = await import('./io/checkpoint/fixtures');
  const { loadCheckpointLayer } = await import('../../kernels/checkpointLayer');
  const ck = join(dir, 'ckpt');
  writeCheckpoint(ck, { family: 'qwen', hidden: 256, intermediate: 256, experts: 8, topk: 2, layers: 1, shards: 3 });
  const opts = { layer: 0, arch: 'sm90' as const, tokens: 24, seed: 3 };
  const whole = loadCheckpointLayer(ck, opts);
  // w13 for 8 experts is 8 × 512 × 256 bytes: page it, two experts per GEMM batch
  const perExpert = 512 * 256;
  const limits = { wholeTensorBytes: 8 * perExpert - 1, batchBytes: 2 * perExpert };
  const pagedLayer = await withPaging(limits, () => loadCheckpointLayer(ck, opts));
  assert.ok(expertPagesOf(pagedLayer.inputs.w13_weight as Tensor) && expertPagesOf(pagedLayer.inputs.w2_weight as Tensor));
  assert.ok(pagedLayer.notes.some((n) => /read from the shards one expert at a time/.test(n)), pagedLayer.notes.join('\n'));
  for (const name of ['w13_weight', 'w2_weight', 'w13_weight_scale_inv', 'w2_weight_scale_inv'])
    assert.ok(bytesOf(pagedLayer.inputs[name] as Tensor).equals(bytesOf(whole.inputs[name] as Tensor)), name);
  const a = await runLayer(whole.spec, { backend: 'cpu', inputs: whole.inputs });
  const b = await withPaging(limits, () => runLayer(pagedLayer.spec, { backend: 'cpu', inputs: pagedLayer.inputs }));
  sameTensors(a, b);
});
