import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantizeGroups, NonFiniteValue } from '../../../../kernels/recipes/megamoe/quantize';
import { quantizeRowGroups } from '../../../../kernels/ops/quantize';
import { decodeE4M3 } from '../../../../kernels/dtypes/fp8e4m3';
import { Rng } from '../../../../kernels/synthetic';

const SEED = Number(process.env.MOE_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));

function randomRow(rng: Rng, K: number): Float32Array {
  const row = Float32Array.from({ length: K }, () => rng.normal() * 10 ** (rng.float() * 4 - 2));
  if (rng.float() < 0.2) row.fill(0, 0, 64); // an all-zero group: the 1e−4 floor
  return row;
}

test(`group 128 is bit for bit quantizeRowGroups with the deepgemm convention and float32 scales (seed ${SEED})`, () => {
  const rng = new Rng(SEED);
  for (let i = 0; i < 50; i++) {
    const K = 128 * (1 + Math.floor(rng.float() * 4));
    const row = randomRow(rng, K);
    const q1 = new Uint8Array(K), q2 = new Uint8Array(K);
    const s1 = new Float32Array(K / 128), s2 = new Float32Array(K / 128);
    quantizeGroups(row, 0, K, 128, q1, 0, s1, 0, 1);
    quantizeRowGroups(row, 0, K, q2, 0, s2, 0, 1, { convention: 'deepgemm', scaleFormat: 'f32' });
    assert.deepEqual(q1, q2, `seed ${SEED}, case ${i}: codes`);
    assert.deepEqual(s1, s2, `seed ${SEED}, case ${i}: scales`);
  }
});

test(`group 64: one scale per 64 columns, s = fl(max(amax, 1e−4)/448), |q·s − x| within half an FP8 step (seed ${SEED})`, () => {
  const rng = new Rng(SEED + 1);
  const K = 256;
  const row = randomRow(rng, K);
  const q = new Uint8Array(K);
  const s = new Float32Array(2 * (K / 64)).fill(-1);
  quantizeGroups(row, 0, K, 64, q, 0, s, 1, 2); // strided scale output: slots 1, 3, 5, 7
  assert.deepEqual([s[0], s[2], s[4], s[6]], [-1, -1, -1, -1]);
  for (let j = 0; j < K / 64; j++) {
    let amax = 0;
    for (let c = 64 * j; c < 64 * j + 64; c++) amax = Math.max(amax, Math.abs(row[c]!));
    const sj = s[1 + 2 * j]!;
    assert.equal(sj, Math.fround(Math.max(amax, Math.fround(1e-4)) / 448), `seed ${SEED}: group ${j}`);
    for (let c = 64 * j; c < 64 * j + 64; c++) {
      const err = Math.abs(decodeE4M3(q[c]!) * sj - row[c]!);
      assert.ok(err <= amax / 16 + 1e-12, `seed ${SEED}: column ${c} error ${err}`);
    }
  }
});

test('a non-finite value is refused with its column; K not a multiple of the group is refused', () => {
  const row = new Float32Array(128);
  row[70] = Infinity;
  assert.throws(() => quantizeGroups(row, 0, 128, 64, new Uint8Array(128), 0, new Float32Array(2), 0, 1), (e: NonFiniteValue) => e instanceof NonFiniteValue && e.column === 70);
  assert.throws(() => quantizeGroups(row, 0, 96, 64, new Uint8Array(96), 0, new Float32Array(2), 0, 1), /K = 96 is not a multiple of the group 64/);
});
