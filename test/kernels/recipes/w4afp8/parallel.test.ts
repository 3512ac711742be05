/** TP vs EP (docs/layouts-and-stages.md §9, SGLang PR #8118): DeepSeek-R1 W4AFP8 EP8 / TP8 shapes exactly, GPU shares, refusals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parallelLayout, parallelPlanTensor, PLAN_COLUMNS } from '../../../../kernels/recipes/w4afp8/parallel';

const R1 = { experts: 256, hidden: 7168, intermediate: 2048 };

test('DeepSeek-R1 W4AFP8 EP8: w13 (32, 4096, 3584), scales (32, 14, 16384); w2 (32, 7168, 1024), scales (32, 4, 28672)', () => {
  const p = parallelLayout('ep', 8, R1);
  assert.equal(p.problem, undefined);
  assert.equal(p.localExperts, 32);
  assert.equal(p.intermediatePerGpu, 2048);
  assert.deepEqual(p.shapes.w13_weight, [32, 4096, 3584]);
  assert.deepEqual(p.shapes.w13_weight_scale_inv, [32, 4096, 56]);
  assert.deepEqual(p.shapes.w13_scale_interleaved, [32, 14, 16384]);
  assert.deepEqual(p.shapes.w2_weight, [32, 7168, 1024]);
  assert.deepEqual(p.shapes.w2_weight_scale_inv, [32, 7168, 16]);
  assert.deepEqual(p.shapes.w2_scale_interleaved, [32, 4, 28672]);
  assert.equal(p.alpha13, 4);
  assert.equal(p.alpha2, 4);
  assert.deepEqual(
    p.gpus.map((g) => [g.expertFirst, g.expertCount, g.iBegin, g.iEnd]),
    Array.from({ length: 8 }, (_, g) => [32 * g, 32, 0, 2048]),
  );
});

test('DeepSeek-R1 W4AFP8 TP8: w13 (256, 512, 3584), scales (256, 14, 2048); w2 (256, 7168, 128) with I_p/128 = 2 groups → α = 1, scales (256, 2, 7168)', () => {
  const p = parallelLayout('tp', 8, R1);
  assert.equal(p.problem, undefined);
  assert.equal(p.localExperts, 256);
  assert.equal(p.intermediatePerGpu, 256);
  assert.deepEqual(p.shapes.w13_weight, [256, 512, 3584]);
  assert.deepEqual(p.shapes.w13_scale_interleaved, [256, 14, 2048]);
  assert.deepEqual(p.shapes.w2_weight, [256, 7168, 128]);
  assert.equal(p.groups2, 2);
  assert.equal(p.alpha13, 4);
  assert.equal(p.alpha2, 1);
  assert.deepEqual(p.shapes.w2_scale_interleaved, [256, 2, 7168]);
  assert.deepEqual(
    p.gpus.map((g) => [g.expertFirst, g.expertCount, g.iBegin, g.iEnd]),
    Array.from({ length: 8 }, (_, g) => [0, 256, 256 * g, 256 * (g + 1)]),
  );
});

test('one GPU: both modes hold everything; round-robin EP strides the experts', () => {
  for (const mode of ['tp', 'ep'] as const) {
    const p = parallelLayout(mode, 1, R1);
    assert.deepEqual(p.shapes.w13_weight, [256, 4096, 3584], mode);
    assert.deepEqual(p.gpus, [{ gpu: 0, expertFirst: 0, expertCount: 256, expertStride: 1, iBegin: 0, iEnd: 2048 }], mode);
  }
  const rr = parallelLayout('ep', 4, { experts: 8, hidden: 256, intermediate: 256 }, 'round_robin');
  assert.deepEqual(rr.gpus.map((g) => [g.expertFirst, g.expertCount, g.expertStride]), [[0, 2, 4], [1, 2, 4], [2, 2, 4], [3, 2, 4]]);
});

test('splits SGLang would refuse carry the reason', () => {
  assert.match(parallelLayout('tp', 8, { experts: 128, hidden: 2048, intermediate: 768 }).problem!, /I_p = I\/8 = 96 is not a multiple of 128/);
  assert.match(parallelLayout('tp', 3, R1).problem!, /I = 2048 does not split into 3/);
  assert.match(parallelLayout('ep', 3, R1).problem!, /256 experts do not divide among 3 GPUs/);
  assert.match(parallelLayout('ep', 8, { experts: 4, hidden: 256, intermediate: 256 }).problem!, /4 experts do not divide among 8/);
  assert.match(parallelLayout('tp', 1, { experts: 4, hidden: 200, intermediate: 256 }).problem!, /H = 200 is not a multiple of 128/);
});

test('the plan tensor: both modes, TP rows first, nine columns', () => {
  const t = parallelPlanTensor(8, R1);
  assert.equal(PLAN_COLUMNS.length, 9);
  assert.deepEqual(t.shape, [16, 9]);
  assert.deepEqual(Array.from(t.storage.subarray(0, 9)), [0, 0, 0, 256, 1, 0, 256, 4, 1]);
  assert.deepEqual(Array.from(t.storage.subarray(9 * 11, 9 * 12)), [1, 3, 96, 32, 1, 0, 2048, 4, 4]);
});
