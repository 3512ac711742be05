import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interleaveMap, interleaveSourceRow, interleaveW13, isGateRow, permuteRows, utccpSourceRow, utccpTranspose } from '../../../../kernels/recipes/megamoe/interleave';
import { Tensor } from '../../../../kernels/tensor';
import { MoeError } from '../../../../kernels/errors';
import { Rng } from '../../../../kernels/synthetic';

const SEED = Number(process.env.MOE_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

test('§7.5 worked map, IH = 16: out 0–7 ← 0–7, 8–15 ← 16–23, 16–23 ← 8–15, 24–31 ← 24–31', () => {
  assert.deepEqual([...interleaveMap(16)], [...range(0, 8), ...range(16, 24), ...range(8, 16), ...range(24, 32)]);
});

test('the map is g0..g7, u0..u7, g8..g15, u8..u15, … and a permutation (random IH, seed printed)', () => {
  const rng = new Rng(SEED);
  for (let i = 0; i < 20; i++) {
    const ih = 8 * (1 + Math.floor(rng.float() * 64));
    const m = interleaveMap(ih);
    assert.equal(new Set(m).size, 2 * ih, `seed ${SEED}, IH ${ih}: not a permutation`);
    for (let r = 0; r < 2 * ih; r++) {
      const b = Math.floor(r / 16);
      const w = r % 16;
      assert.equal(m[r], w < 8 ? 8 * b + w : ih + 8 * b + w - 8, `seed ${SEED}, IH ${ih}, row ${r}`);
      assert.equal(isGateRow(r), m[r]! < ih);
      assert.equal(interleaveSourceRow(r, ih), m[r]);
    }
  }
});

test('IH not a multiple of 8, or an odd row count: one-line error naming the tensor', () => {
  assert.throws(() => interleaveMap(12), (e: MoeError) => e instanceof MoeError && /IH = 12/.test(e.message) && /multiple of 8/.test(e.message));
  const odd = Tensor.zeros('u8', [1, 33, 4], 'w13_weight');
  assert.throws(() => interleaveW13(odd, 'w13_weight'), /w13_weight: expected an even number of rows .*\[1, 33, 4\]/);
  const twoD = Tensor.zeros('u8', [32, 4], 'w13_weight');
  assert.throws(() => interleaveW13(twoD, 'w13_weight'), /w13_weight: expected shape \[E, rows, cols\].*\[32, 4\]/);
});

test('interleaveW13 moves whole rows, per expert, any dtype; a subset of experts leaves the others zero', () => {
  const E = 2, ih = 16, C = 3;
  const v = new Float32Array(E * 2 * ih * C).map((_, i) => i + 1);
  const w = new Tensor('f32', [E, 2 * ih, C], v, undefined, 0, 'w');
  const { tensor, map } = interleaveW13(w, 'w');
  for (let e = 0; e < E; e++) for (let r = 0; r < 2 * ih; r++) for (let c = 0; c < C; c++) assert.equal(tensor.get(e, r, c), w.get(e, map[r]!, c));
  const only1 = interleaveW13(w, 'w', [1]).tensor;
  assert.equal(only1.get(0, 5, 1), 0);
  assert.equal(only1.get(1, 8, 0), w.get(1, 16, 0));
  assert.throws(() => interleaveW13(w, 'w', [2]), /expert 2 outside 0…1/);
});

test('permuteRows keeps an MN-major storage order (as torch.empty_like does)', () => {
  const E = 2, mn = 8, W = 3;
  const strides = [mn * W, 1, mn];
  const st = new Int32Array(E * mn * W).map((_, i) => 1000 + i);
  const t = new Tensor('i32', [E, mn, W], st, strides, 0, 'sf');
  const src = Int32Array.from([7, 6, 5, 4, 3, 2, 1, 0]);
  const p = permuteRows(t, src, 'sf');
  assert.deepEqual([...p.strides], strides);
  for (let e = 0; e < E; e++) for (let r = 0; r < mn; r++) for (let c = 0; c < W; c++) assert.equal(p.get(e, r, c), t.get(e, src[r]!, c));
});

test('UTCCP: new row 128c + 4b + a ← old row 128c + 32a + b, a permutation inside each 128-row chunk', () => {
  for (let c = 0; c < 2; c++)
    for (let a = 0; a < 4; a++) for (let b = 0; b < 32; b++) assert.equal(utccpSourceRow(128 * c + 4 * b + a), 128 * c + 32 * a + b);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map(utccpSourceRow), [0, 32, 64, 96, 1, 33]);
  const rows = new Set(range(128, 256).map(utccpSourceRow));
  assert.equal(rows.size, 128);
  assert.ok([...rows].every((r) => r >= 128 && r < 256));
  const t = new Tensor('i32', [1, 256, 1], Int32Array.from(range(0, 256)), undefined, 0, 'w2_weight_scale_inv');
  const u = utccpTranspose(t, 'w2_weight_scale_inv');
  for (let r = 0; r < 256; r++) assert.equal(u.get(0, r, 0), utccpSourceRow(r));
  assert.throws(() => utccpTranspose(Tensor.zeros('i32', [1, 192, 1], 'w13_weight_scale_inv'), 'w13_weight_scale_inv'), /w13_weight_scale_inv: .*whole 128-row chunks.*192 rows/);
});
