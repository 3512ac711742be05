/** SGLang's interleave_scales (docs/layouts-and-stages.md §9): the worked example exactly, α = 1 cases, the BF16 cast, random shapes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../../../kernels/tensor';
import { encodeBf16, roundBf16 } from '../../../../kernels/dtypes/bf16';
import { Rng } from '../../../../kernels/synthetic';
import { MoeError } from '../../../../kernels/errors';
import { interleaveAlpha, interleaveScales, interleaveSource, interleavedOffset, interleavedShape } from '../../../../kernels/recipes/w4afp8/interleave';

/** s[e, r, k] = 1000·e + 10·r + k: every value names its source, and all are exact in BF16 */
function labelled(E: number, R: number, Kg: number): Tensor<'f32'> {
  const v = new Float32Array(E * R * Kg);
  for (let e = 0; e < E; e++) for (let r = 0; r < R; r++) for (let k = 0; k < Kg; k++) v[(e * R + r) * Kg + k] = 100 * e + 10 * r + k;
  return new Tensor('f32', [E, R, Kg], v);
}

test('§9 example: Kg = 8 (K = 1024), R = 3 → α = 4, out[e,0,:] = s(r0,0..3), s(r1,0..3), s(r2,0..3); out[e,1,:] = the groups 4..7', () => {
  const { tensor, alpha } = interleaveScales(labelled(2, 3, 8), 'w13_weight_scale_inv');
  assert.equal(alpha, 4);
  assert.deepEqual(tensor.shape, [2, 2, 12]);
  assert.equal(tensor.dtype, 'bf16');
  assert.equal(tensor.name, 'w13_weight_scale_inv');
  const row = (e: number, j: number): number[] => Array.from({ length: 12 }, (_, c) => tensor.get(e, j, c));
  for (const e of [0, 1]) {
    assert.deepEqual(row(e, 0), [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23].map((v) => 100 * e + v));
    assert.deepEqual(row(e, 1), [4, 5, 6, 7, 14, 15, 16, 17, 24, 25, 26, 27].map((v) => 100 * e + v));
  }
});

test('α = 1 when the K-group count is not a multiple of 4: a plain transpose to (E, Kg, R)', () => {
  for (const Kg of [1, 2, 3, 6, 10]) {
    assert.equal(interleaveAlpha(Kg), 1, `Kg = ${Kg}`);
    const { tensor, alpha } = interleaveScales(labelled(2, 5, Kg), 's');
    assert.equal(alpha, 1);
    assert.deepEqual(tensor.shape, [2, Kg, 5]);
    for (let e = 0; e < 2; e++) for (let j = 0; j < Kg; j++) for (let r = 0; r < 5; r++) assert.equal(tensor.get(e, j, r), 100 * e + 10 * r + j);
  }
  assert.equal(interleaveAlpha(4), 4);
  assert.equal(interleaveAlpha(56), 4);
});

test('the cast to BF16 rounds to nearest even (torch .to(bfloat16)), bit for bit', () => {
  const vals = [1 / 3, 0.0123456, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.0e-5, 7.77e-3];
  const { tensor } = interleaveScales(new Tensor('f32', [1, 1, vals.length], Float32Array.from(vals)), 's');
  assert.deepEqual(Array.from(tensor.storage), vals.map((v) => encodeBf16(v)));
  assert.equal(tensor.storage[0], 0x3eab, '1/3 → 0x3EAB');
  assert.equal(tensor.storage[2], 0x3f80, '1 + 2^-8 is a tie → even (1.0)');
  assert.equal(tensor.storage[3], 0x3f82, '1 + 3·2^-8 is a tie → even (1 + 2^-6)');
});

test('random shapes: the map equals reshape → permute(0, 2, 1, 3) → flatten, written independently; the inverse map agrees', () => {
  const seed = Number(process.env.MOE_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const rng = new Rng(seed);
  for (let c = 0; c < 20; c++) {
    const E = 1 + Math.floor(rng.float() * 3);
    const R = 1 + Math.floor(rng.float() * 9);
    const Kg = 1 + Math.floor(rng.float() * 17);
    const v = new Float32Array(E * R * Kg);
    for (let i = 0; i < v.length; i++) v[i] = rng.float() * 0.01;
    const { tensor, alpha } = interleaveScales(new Tensor('f32', [E, R, Kg], v), 's');
    const where = `seed ${seed}, case ${c}: E=${E} R=${R} Kg=${Kg}`;
    assert.deepEqual(tensor.shape, interleavedShape(E, R, Kg), where);
    // torch: view (E, R, Kg/α, α) → permute (E, Kg/α, R, α) → contiguous: walk the output in row-major order
    const want: number[] = [];
    for (let e = 0; e < E; e++) for (let j = 0; j < Kg / alpha; j++) for (let r = 0; r < R; r++) for (let i = 0; i < alpha; i++) want.push(encodeBf16(v[(e * R + r) * Kg + j * alpha + i]!));
    assert.deepEqual(Array.from(tensor.storage), want, where);
    for (let e = 0; e < E; e++)
      for (let j = 0; j < Kg / alpha; j++)
        for (let col = 0; col < R * alpha; col++) {
          const { row, group } = interleaveSource(alpha, j, col);
          assert.equal(tensor.get(e, j, col), roundBf16(v[(e * R + row) * Kg + group]!), where);
          assert.equal(interleavedOffset(R, Kg, alpha, e, row, group), (e * (Kg / alpha) + j) * R * alpha + col, where);
        }
  }
});

test('bad scale tensors: one-line errors naming the tensor', () => {
  const bad = (t: Tensor, re: RegExp): void =>
    assert.throws(() => interleaveScales(t, 'w2_weight_scale_inv'), (e: unknown) => e instanceof MoeError && e.tensor === 'w2_weight_scale_inv' && re.test(e.message) && !e.message.includes('\n'));
  bad(new Tensor('i32', [1, 2, 4], new Int32Array(8)), /float32 or bf16 .* got i32/);
  bad(Tensor.fromF32([2, 4], new Float32Array(8)), /\[E, rows, K\/128\].*got \[2, 4\]/);
  bad(Tensor.fromF32([1, 2, 0], new Float32Array(0)), /at least one K-group/);
});
