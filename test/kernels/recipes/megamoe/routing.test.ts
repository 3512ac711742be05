import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sqrtSoftplusRouting, softplusF32, DEEPSEEK_V4_ROUTING } from '../../../../kernels/recipes/megamoe/routing';
import { syntheticRouterLogits } from '../../../../kernels/recipes/megamoe/synthetic';
import { Rng } from '../../../../kernels/synthetic';
import { megaSpec } from './helpers';

const SEED = Number(process.env.MOE_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const score64 = (x: number): number => Math.sqrt(Math.log1p(Math.exp(x)));

test('sqrtsoftplus: top-k on the scores, weights = chosen scores normalised to 1 and scaled by 1.5 (§10.3)', () => {
  const logits = Float32Array.from([0, 1, -1, 2]);
  const r = sqrtSoftplusRouting(logits, 4, { topk: 2, ...DEEPSEEK_V4_ROUTING });
  assert.deepEqual([...r.topkIds], [3, 1]);
  const s3 = score64(2), s1 = score64(1);
  assert.ok(Math.abs(r.topkWeights[0]! - (1.5 * s3) / (s3 + s1)) < 1e-6);
  assert.ok(Math.abs(r.topkWeights[1]! - (1.5 * s1) / (s3 + s1)) < 1e-6);
  for (let e = 0; e < 4; e++) assert.equal(r.scores[e], Math.fround(Math.sqrt(Math.fround(Math.log1p(Math.exp(logits[e]!))))));
  const plain = sqrtSoftplusRouting(logits, 4, { topk: 2 });
  assert.equal(plain.topkWeights[0], Math.fround(s3));
});

test('the correction bias chooses but does not weight; ties go to the lower expert id', () => {
  const logits = Float32Array.from([0, 1, -1, 2]);
  const r = sqrtSoftplusRouting(logits, 4, { topk: 2, bias: Float32Array.from([0, 0, 10, 0]), ...DEEPSEEK_V4_ROUTING });
  assert.deepEqual([...r.topkIds], [2, 3]);
  const s2 = score64(-1), s3 = score64(2);
  assert.ok(Math.abs(r.topkWeights[0]! - (1.5 * s2) / (s2 + s3)) < 1e-6, 'weight uses the unbiased score');
  const tie = sqrtSoftplusRouting(Float32Array.from([0.5, 0.5, 0.5]), 3, { topk: 2 });
  assert.deepEqual([...tie.topkIds], [0, 1]);
});

test('hash layers take their experts from the table and still weight them with normalised, scaled scores', () => {
  const logits = Float32Array.from([0, 1, -1, 2, 3, 3, 3, 3]);
  const r = sqrtSoftplusRouting(logits, 4, { topk: 2, hashIds: Int32Array.from([2, 0, 1, 3]), ...DEEPSEEK_V4_ROUTING });
  assert.deepEqual([...r.topkIds], [2, 0, 1, 3]);
  const s2 = score64(-1), s0 = score64(0);
  assert.ok(Math.abs(r.topkWeights[0]! - (1.5 * s2) / (s2 + s0)) < 1e-6);
  assert.ok(Math.abs(r.topkWeights[2]! - 0.75) < 1e-6, 'equal scores split 1.5 evenly');
});

test('softplus passes large logits through (threshold 20), as torch does', () => {
  assert.equal(softplusF32(30), 30);
  assert.equal(softplusF32(-100), Math.fround(Math.log1p(Math.exp(-100))));
});

test(`weights sum to 1.5 and ids are distinct on random logits (seed ${SEED})`, () => {
  const rng = new Rng(SEED);
  for (let i = 0; i < 10; i++) {
    const E = 2 + Math.floor(rng.float() * 40);
    const k = 1 + Math.floor(rng.float() * Math.min(E, 8));
    const T = 1 + Math.floor(rng.float() * 20);
    const logits = Float32Array.from({ length: T * E }, () => 3 * rng.normal());
    const r = sqrtSoftplusRouting(logits, E, { topk: k, ...DEEPSEEK_V4_ROUTING });
    for (let t = 0; t < T; t++) {
      const ids = [...r.topkIds.subarray(t * k, (t + 1) * k)];
      assert.equal(new Set(ids).size, k, `seed ${SEED}: duplicate experts`);
      const sum = r.topkWeights.subarray(t * k, (t + 1) * k).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1.5) < 1e-5, `seed ${SEED}: Σ weights ${sum}`);
      // chosen scores are the k largest
      const chosenMin = Math.min(...ids.map((e) => r.scores[t * E + e]!));
      const others = [...Array(E).keys()].filter((e) => !ids.includes(e)).map((e) => r.scores[t * E + e]!);
      assert.ok(others.every((s) => s <= chosenMin), `seed ${SEED}: a better expert was left out`);
    }
  }
});

test('bad router inputs: one-line errors naming the tensor', () => {
  const l = Float32Array.from([0, 1, 2]);
  assert.throws(() => sqrtSoftplusRouting(l, 3, { topk: 4 }), /top-k must be between 1 and the number of experts \(3\), got 4/);
  assert.throws(() => sqrtSoftplusRouting(Float32Array.from([0, NaN, 1]), 3, { topk: 1 }), /router_logits\[0, 1\] = NaN/);
  assert.throws(() => sqrtSoftplusRouting(l, 3, { topk: 1, bias: new Float32Array(2) }), /e_score_correction_bias: expected shape \[3\], got \[2\]/);
  assert.throws(() => sqrtSoftplusRouting(l, 3, { topk: 1, hashIds: Int32Array.from([5]) }), /tid2eid: token 0 slot 0 names expert 5, outside 0…2/);
  assert.throws(() => sqrtSoftplusRouting(Float32Array.from([0, 1]), 3, { topk: 1 }), /router_logits: 2 values are not a whole number of rows of 3 experts/);
});

test('synthetic router logits are seeded: same spec, same logits; skew tilts popularity', () => {
  const a = syntheticRouterLogits(megaSpec());
  const b = syntheticRouterLogits(megaSpec());
  assert.deepEqual(a.logits, b.logits);
  assert.deepEqual(a.bias, b.bias);
  const spec = megaSpec({ tokens: 400, experts: 16, source: { kind: 'synthetic', seed: 1, skew: 2 } });
  const { logits, bias } = syntheticRouterLogits(spec);
  const r = sqrtSoftplusRouting(logits, 16, { topk: 2, bias, ...DEEPSEEK_V4_ROUTING });
  const counts = new Array(16).fill(0);
  for (const e of r.topkIds) counts[e]++;
  assert.ok(Math.max(...counts) > 4 * (800 / 16), `skewed router: busiest expert ${Math.max(...counts)} of 800 pairs`);
});
