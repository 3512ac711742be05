/** Permutation: the spec's worked example (§5.6, incl. EP=2), vLLM's expert maps, the layouts, bad routing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../../kernels/tensor';
import { MoeError } from '../../../kernels/errors';
import { expertMapFor, maskedLayout, planPermutation, permuteRows } from '../../../kernels/ops/permute';

const ids = (rows: number[][], dtype: 'i32' | 'i64' = 'i32'): Tensor<'i32'> | Tensor<'i64'> =>
  dtype === 'i32'
    ? new Tensor('i32', [rows.length, rows[0]!.length], Int32Array.from(rows.flat()))
    : new Tensor('i64', [rows.length, rows[0]!.length], BigInt64Array.from(rows.flat().map(BigInt)));

const EXAMPLE = [[0, 2], [1, 0], [3, 1], [0, 3], [2, 0]];

function expectedMIndices(segments: [number, number, number][], total: number): number[] {
  const m = new Array<number>(total).fill(-1);
  for (const [e, start, count] of segments) for (let i = 0; i < count; i++) m[start + i] = e;
  return m;
}

test('spec §5.6 worked example: counts, segments, m_indices, inv_perm (T=5, k=2, E=4)', () => {
  for (const dtype of ['i32', 'i64'] as const) {
    const plan = planPermutation(ids(EXAMPLE, dtype), 4, { blockM: 128 });
    assert.deepEqual(Array.from(plan.counts), [4, 2, 2, 2]);
    assert.deepEqual(Array.from(plan.segmentStart), [0, 128, 256, 384]);
    assert.equal(plan.mSum, 512);
    assert.deepEqual(Array.from(plan.mIndices.storage), expectedMIndices([[0, 0, 4], [1, 128, 2], [2, 256, 2], [3, 384, 2]], 512));
    assert.deepEqual(Array.from(plan.invPerm.storage), [0, 256, 128, 1, 384, 129, 2, 385, 257, 3]);
    assert.deepEqual(plan.invPerm.shape, [5, 2]);
    // row → pair is the inverse of inv_perm
    plan.invPerm.storage.forEach((row, p) => assert.equal(plan.rowPair[row], p));
    assert.equal(plan.rowPair[4], -1);
  }
});

test('spec §5.6 worked example with EP=2, rank 0 (expert_map [0, 1, −1, −1])', () => {
  const map = expertMapFor(4, { size: 2, rank: 0, strategy: 'linear' });
  assert.deepEqual(Array.from(map), [0, 1, -1, -1]);
  const plan = planPermutation(ids(EXAMPLE), 4, { expertMap: map, blockM: 128 });
  assert.equal(plan.numLocal, 2);
  assert.deepEqual(Array.from(plan.counts), [4, 2]);
  assert.equal(plan.mSum, 256);
  assert.deepEqual(Array.from(plan.invPerm.storage), [0, -1, 128, 1, -1, 129, 2, -1, -1, 3]);
  assert.deepEqual(Array.from(plan.mIndices.storage), expectedMIndices([[0, 0, 4], [1, 128, 2]], 256));
});

test('expertMapFor follows vLLM determine_expert_map: remainder to the first ranks; round-robin', () => {
  // E=10 over 4 ranks: base 2, rem 2 → ranks own 3, 3, 2, 2 experts starting at 0, 3, 6, 8
  const owned = [0, 1, 2, 3].map((r) => Array.from(expertMapFor(10, { size: 4, rank: r, strategy: 'linear' })));
  assert.deepEqual(owned[0], [0, 1, 2, -1, -1, -1, -1, -1, -1, -1]);
  assert.deepEqual(owned[1], [-1, -1, -1, 0, 1, 2, -1, -1, -1, -1]);
  assert.deepEqual(owned[3], [-1, -1, -1, -1, -1, -1, -1, -1, 0, 1]);
  assert.deepEqual(Array.from(expertMapFor(10, { size: 4, rank: 1, strategy: 'round_robin' })), [-1, 0, -1, -1, -1, 1, -1, -1, -1, 2]);
  // every expert belongs to exactly one rank
  for (const strategy of ['linear', 'round_robin'] as const) {
    const hits = new Array<number>(10).fill(0);
    for (let r = 0; r < 4; r++) expertMapFor(10, { size: 4, rank: r, strategy }).forEach((l, g) => l >= 0 && hits[g]!++);
    assert.deepEqual(hits, new Array(10).fill(1));
  }
  assert.throws(() => expertMapFor(4, { size: 2, rank: 2, strategy: 'linear' }), (e: unknown) => e instanceof MoeError && e.code === 'E_SPEC');
});

test('topk ids out of range → MoeError naming token and slot; −1 means no expert', () => {
  assert.throws(
    () => planPermutation(ids([[0, 1], [2, 4]]), 4, { blockM: 128 }),
    (e: unknown) => e instanceof MoeError && e.code === 'E_RANGE' && /token 1, slot 1/.test(e.message) && /expert 4/.test(e.message),
  );
  assert.throws(() => planPermutation(ids([[0, -3]]), 4, { blockM: 128 }), /token 0, slot 1/);
  const plan = planPermutation(ids([[0, -1]]), 4, { blockM: 128 });
  assert.deepEqual(Array.from(plan.invPerm.storage), [0, -1]);
  assert.throws(() => planPermutation(ids([[0, 1]]), 4, { blockM: 128, expertMap: Int32Array.from([0, 0, -1, -1]) }), /assigned to two/);
});

test('permuteRows copies rows and scales; padding rows are zero data and zero scales; maskedLayout groups rows', () => {
  const K = 256;
  const M = 5;
  const q = new Uint8Array(M * K).map((_, i) => (Math.floor(i / K) + 1) * 8);
  const aq = new Tensor('f8e4m3fn', [M, K], q);
  const sc = Tensor.fromF32([M, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const plan = planPermutation(ids(EXAMPLE), 4, { blockM: 128 });
  const { a1, a1Scale } = permuteRows(aq, sc, plan);
  assert.deepEqual(a1.shape, [512, K]);
  assert.equal(a1.raw(0, 0), 8); // row 0 ← pair 0 = token 0
  assert.equal(a1.raw(1, 5), 16); // row 1 ← pair 3 = token 1
  assert.equal(a1.raw(4, 0), 0); // padding
  assert.deepEqual([a1Scale.get(1, 0), a1Scale.get(1, 1), a1Scale.get(4, 0)], [3, 4, 0]);
  // MN-major input scales give the same result
  const mn = new Tensor('f32', [M, 2], Float32Array.from([1, 3, 5, 7, 9, 0, 0, 0, 2, 4, 6, 8, 10]), [1, 8]);
  assert.deepEqual(Array.from(permuteRows(aq, mn, plan).a1Scale.storage), Array.from(a1Scale.storage));

  const masked = maskedLayout(aq, sc, plan);
  assert.deepEqual(masked.a.shape, [4, 5, K]);
  assert.deepEqual(Array.from(masked.maskedM), [4, 2, 2, 2]);
  assert.deepEqual(masked.scale.strides, [10, 1, 5]);
  assert.equal(masked.a.raw(2, 1, 0), 5 * 8); // expert 2's second row is token 4
  assert.equal(masked.scale.get(2, 1, 1), 10);
  assert.throws(() => maskedLayout(aq, sc, plan, { maxM: 3 }), /maxM/);
  assert.throws(() => permuteRows(aq, Tensor.fromF32([M, 3], new Array(15).fill(1)), plan), (e: unknown) => e instanceof MoeError && e.code === 'E_SHAPE');
});
