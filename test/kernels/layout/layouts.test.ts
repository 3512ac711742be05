/** Layout rules on the spec's worked examples (docs/layouts-and-stages.md §2.4, §4.3, §4.4) and the decision table (§4.2). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  broadcastWeightScaleRows,
  describeLayout,
  isSm90Ready,
  tmaAlignedSize,
  toSm100PackedUe8m0,
  toSm90ActScales,
} from '../../../kernels/layout/index';
import { transformScalesFor } from '../../../kernels/arch/index';
import { MoeError } from '../../../kernels/errors';
import { Tensor } from '../../../kernels/tensor';

const err = (code: string, re: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof MoeError, `expected MoeError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  return true;
};
const seq = (shape: number[], f: (i: number) => number = (i) => i + 1, name = ''): Tensor<'f32'> =>
  new Tensor('f32', shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => f(i)), undefined, 0, name);

test('tmaAlignedSize = align(x, 16 / elemBytes)', () => {
  assert.equal(tmaAlignedSize(5, 4), 8);
  assert.equal(tmaAlignedSize(8, 4), 8);
  assert.equal(tmaAlignedSize(0, 4), 0);
  assert.equal(tmaAlignedSize(5, 2), 8);
  assert.equal(tmaAlignedSize(5, 1), 16);
  assert.throws(() => tmaAlignedSize(5, 3), err('E_VALUE', /divide 16/));
});

test('SM90 worked examples: T=5,K=256 → strides (1,8), 13 slots, (t,j) at 8j+t; M=33,K=384,G=3 → (108,1,36)', () => {
  const sf = seq([5, 2]);
  const out = toSm90ActScales(sf);
  assert.deepEqual(out.strides, [1, 8]);
  assert.equal(out.storage.length, 13);
  for (let t = 0; t < 5; t++) for (let j = 0; j < 2; j++) assert.equal(out.storage[8 * j + t], sf.get(t, j));
  assert.ok([5, 6, 7].every((s) => Number.isNaN(out.storage[s])));
  const g = toSm90ActScales(seq([3, 33, 3]));
  assert.deepEqual(g.strides, [108, 1, 36]);
  assert.equal(g.storage.length, 1 + 2 * 108 + 2 * 36 + 32);
  assert.equal(toSm90ActScales(out), out, 'already MN-major TMA-aligned → returned as is');
  // vLLM's plain column-major (1, 5) is not TMA-aligned: not accepted in place
  assert.equal(isSm90Ready(sf.transpose().contiguous().transpose() as Tensor<'f32'>), false);
});

test('SM100 worked example §4.4: K=640 scales [2^-7,2^-8,2^-6,2^-7,2^-5] → words 0x78797778, 0x7A', () => {
  const sf = new Tensor('f32', [1, 5], Float32Array.from([2 ** -7, 2 ** -8, 2 ** -6, 2 ** -7, 2 ** -5]));
  const p = toSm100PackedUe8m0(sf);
  assert.deepEqual(p.shape, [1, 2]);
  assert.deepEqual(p.strides, [1, 4]);
  assert.equal(p.storage.length, 8);
  assert.equal(p.get(0, 0), 0x78797778);
  assert.equal(p.get(0, 0), 2021226360);
  assert.equal(p.get(0, 1), 0x7a);
  assert.ok([1, 2, 3, 5, 6, 7].every((s) => p.storage[s] === 0), 'pads are zero');
  // bytes in memory, lowest K-block first
  assert.deepEqual([...new Uint8Array(p.storage.buffer, 0, 4)], [0x78, 0x77, 0x79, 0x78]);
  const act = toSm100PackedUe8m0(seq([5, 2], () => 0.5));
  assert.deepEqual([act.shape, act.strides], [[5, 1], [1, 8]]);
});

test('SM100 weights: w13 scales (4,6,2) broadcast to (4,768,2) then packed to (4,768,1) strides (768,1,768)', () => {
  const ws = seq([4, 6, 2], (i) => 2 ** -(i % 9), 'w13_weight_scale_inv');
  const b = broadcastWeightScaleRows(ws, 768);
  assert.deepEqual(b.shape, [4, 768, 2]);
  for (const [e, n, j] of [[0, 0, 0], [1, 127, 1], [1, 128, 1], [3, 767, 0]] as const) assert.equal(b.get(e, n, j), ws.get(e, Math.floor(n / 128), j));
  const t = transformScalesFor('sm100', ws, { kind: 'weight', mn: 768, k: 256, groups: 4 });
  assert.deepEqual([t.tensor.shape, t.tensor.strides], [[4, 768, 1], [768, 1, 768]]);
  assert.equal(t.relayout, true);
  assert.match(t.note, /one row per N/);
  const packed = t.tensor;
  // row 300 of expert 2 takes block row 2: byte 0 = exponent of K-block 0, byte 1 = of K-block 1
  const expByte = (v: number): number => Math.log2(v) + 127;
  assert.equal(packed.raw(2, 300, 0), expByte(ws.get(2, 2, 0)) | (expByte(ws.get(2, 2, 1)) << 8));
  // a packed weight tensor is accepted as it is
  const again = transformScalesFor('sm100', packed as Tensor<'i32'>, { kind: 'weight', mn: 768, k: 256, groups: 4 });
  assert.equal(again.tensor, packed);
  // ragged N: 130 rows need 2 block rows
  assert.deepEqual(broadcastWeightScaleRows(seq([2, 3]), 130).shape, [130, 3]);
  assert.throws(() => broadcastWeightScaleRows(seq([2, 3], undefined, 'w2_weight_scale_inv'), 300), err('E_SHAPE', /w2_weight_scale_inv: 300 rows need ⌈300\/128⌉ = 3 scale rows, got 2/));
});

test('decision table §4.2 on SM90: weights as they are, activations transposed, packed refused', () => {
  const ws = seq([4, 6, 2], undefined, 'w13_weight_scale_inv');
  const w = transformScalesFor('sm90', ws, { kind: 'weight', mn: 768, k: 256, groups: 4 });
  assert.equal(w.tensor, ws);
  assert.equal(w.relayout, false);
  const mnMajorWeights = ws.transpose().contiguous().transpose() as Tensor<'f32'>;
  assert.equal(transformScalesFor('sm90', mnMajorWeights, { kind: 'weight', mn: 768, k: 256, groups: 4 }).relayout, false);
  const strided = new Tensor('f32', [6, 2], new Float32Array(24), [4, 1], 0, 'w2_weight_scale_inv');
  assert.throws(() => transformScalesFor('sm90', strided, { kind: 'weight', mn: 768, k: 256 }), err('E_LAYOUT', /w2_weight_scale_inv.*neither/));
  const a = transformScalesFor('sm90', seq([5, 2], undefined, 'a1q_scale'), { kind: 'activation', mn: 5, k: 256 });
  assert.equal(a.relayout, true);
  assert.deepEqual(a.tensor.strides, [1, 8]);
  assert.match(a.note, /every GEMM call/);
  const packed = toSm100PackedUe8m0(seq([5, 4], () => 1, 'a1q_scale'));
  assert.throws(() => transformScalesFor('sm90', packed, { kind: 'activation', mn: 5, k: 512 }), err('E_LAYOUT', /a1q_scale.*SM100 layout/));
});

test('bad scale inputs: shape vs (mn, k), dtype, non-power-of-two for the packer, unaligned packed strides', () => {
  assert.throws(
    () => transformScalesFor('sm90', seq([5, 3], undefined, 'a1q_scale'), { kind: 'activation', mn: 5, k: 256 }),
    err('E_SHAPE', /a1q_scale: .*mn=5, k=256.*shape \[5, 2\].*got \[5, 3\]/),
  );
  assert.throws(() => transformScalesFor('sm90', seq([4, 5, 2]), { kind: 'activation', mn: 5, k: 256 }), err('E_SHAPE', /got \[4, 5, 2\]/));
  const bf = new Tensor('bf16', [5, 2], new Uint16Array(10), undefined, 0, 'sf');
  assert.throws(() => transformScalesFor('sm90', bf as unknown as Tensor<'f32'>, { kind: 'activation', mn: 5, k: 256 }), err('E_DTYPE', /sf: .*float32 or packed int32, got bf16/));
  assert.throws(() => toSm90ActScales(seq([10])), err('E_SHAPE', /\(mn, kBlocks\)/));
  const sf = seq([3, 4], (i) => (i === 6 ? 0.75 : 0.5), 'a2q_scale');
  assert.throws(() => toSm100PackedUe8m0(sf), err('E_VALUE', /a2q_scale\[1, 2\] = 0\.75 is not a positive power of two.*UE8M0 round-up/));
  assert.throws(() => toSm100PackedUe8m0(seq([1, 1], () => -0.5)), err('E_VALUE', /-0\.5/));
  assert.throws(() => transformScalesFor('sm100', sf, { kind: 'activation', mn: 3, k: 512 }), err('E_VALUE', /power of two/));
  const rowMajorPacked = new Tensor('i32', [5, 1], new Int32Array(5), undefined, 0, 'packed');
  assert.throws(() => transformScalesFor('sm100', rowMajorPacked, { kind: 'activation', mn: 5, k: 256 }), err('E_LAYOUT', /packed: .*strides \[1, 8\], got \[1, 1\]/));
});

test('empty scale tensors: M = 0 gives empty layouts', () => {
  const e = toSm90ActScales(new Tensor('f32', [0, 2], new Float32Array(0)));
  assert.deepEqual([e.shape, e.strides, e.storage.length], [[0, 2], [1, 0], 0]);
  const p = toSm100PackedUe8m0(new Tensor('f32', [0, 2], new Float32Array(0)));
  assert.deepEqual([p.shape, p.storage.length], [[0, 1], 0]);
});

test('describeLayout: order, padded MN, storage vs addressed, packing, one-line summary', () => {
  const rm = describeLayout(seq([5, 2]));
  assert.equal(rm.order, 'row-major');
  assert.equal(rm.paddedMN, undefined);
  const mn = describeLayout(toSm90ActScales(seq([5, 2])));
  assert.equal(mn.order, 'mn-major');
  assert.equal(mn.paddedMN, 8);
  assert.equal(mn.storageElems, 13);
  assert.equal(mn.addressedElems, 10);
  assert.equal(mn.itemBytes, 4);
  assert.match(mn.summary, /float32 \[5, 2\], MN-major, TMA-aligned \(MN padded 5→8\), 10 of 13 storage slots/);
  const colMajor = describeLayout(seq([5, 2]).transpose().contiguous().transpose());
  assert.equal(colMajor.order, 'mn-major');
  assert.equal(colMajor.paddedMN, undefined);
  const packed = toSm100PackedUe8m0(seq([130, 8], () => 1));
  const d = describeLayout(packed, { packing: { perWord: 4, alongDim: 1, byteOrder: 'little', logicalExtent: 8 } });
  assert.equal(d.order, 'mn-major');
  assert.equal(d.paddedMN, 132);
  assert.equal(d.storageElems, 264);
  assert.match(d.summary, /int32 \[130, 2\], packed 4 per word along dim 1 \(8 values → 2 words/);
  const strided = describeLayout(new Tensor('f32', [2, 2], new Float32Array(10), [5, 2]));
  assert.equal(strided.order, 'strided');
  assert.match(strided.summary, /strided \[5, 2\]/);
});
