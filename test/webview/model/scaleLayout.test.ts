/**
 * The view's layout math reads the engine's layout descriptors only: checked against the spec's worked examples,
 * DeepGEMM's own layouts (golden dg_layouts, exact) and, slot by slot, the engine's storage map on random shapes —
 * SM90 float32, SM100 packed, 2-D and 3-D (the masked recipe's (E, max_m, G)) — plus the bad inputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  scaleLayout, scaleTensorOf, storageOfLogical, logicalOfStorage, packedWord, slotOf, slotInfo, logicalIndex, type ScaleTensor,
} from '../../../webview/model/scaleLayout';
import { SafetensorsFile } from '../../../kernels/io/safetensors';
import { toSm90ActScales, toSm100PackedUe8m0, storageMap } from '../../../kernels/layout/index';
import { tensorRef } from '../../../kernels/summary';
import { Tensor } from '../../../kernels/tensor';
import { MoeError } from '../../../kernels/errors';
import type { LayoutDescriptor } from '../../../kernels/layout/descriptor';
import { goldenFile } from '../../golden';
import { rng } from '../fixtures';

/** A ScaleTensor exactly as the webview gets it: the engine's TensorRef (descriptor + inline values) of `t`. */
function viewOf(t: Tensor, logicalK?: number): ScaleTensor {
  const packing = t.dtype === 'i32' ? { perWord: 4, alongDim: t.rank - 1, byteOrder: 'little' as const, logicalExtent: logicalK! } : undefined;
  const ref = tensorRef(t.name || 'sf', t, 1 << 24, packing);
  return scaleTensorOf(ref.name, 'activation', ref.layout, ref.inline!, { rows: 1, k: 128 });
}
const f32 = (shape: number[], values?: ArrayLike<number>): Tensor<'f32'> =>
  new Tensor('f32', shape, Float32Array.from(values ?? { length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (values ? values[i]! : 2 ** -((i % 9) + 1))), undefined, 0, 'sf');

/** every allocated slot as the view reconstructs it: the float32 value, or the packed word */
function viewStorage(v: ScaleTensor): number[] {
  const L = scaleLayout(v);
  const out: number[] = [];
  for (let s = 0; s < L.allocated; s++) {
    if (L.packed) out.push(packedWord(L, s));
    else {
      const r = logicalOfStorage(L, s);
      out.push(r.ref ? v.values[logicalIndex(v, r.ref.group, r.ref.row, r.ref.kBlock)]! : NaN);
    }
  }
  return out;
}

test('spec §3 examples: SM90 strides, allocated extent and the unallocated tail, from the descriptor', () => {
  const a = scaleLayout(viewOf(toSm90ActScales(f32([5, 2]))));
  assert.deepEqual([a.strides[1], a.strides[2]], [1, 8]);
  assert.equal(a.allocated, 13);
  assert.equal(a.addressed, 10);
  assert.equal(a.drawn, 16, 'the unallocated tail completes the last padded column');
  assert.equal(a.paddedRows, 8);
  assert.deepEqual([slotInfo(a, 5).kind, slotInfo(a, 5).overDim], ['pad', 1]);
  assert.equal(slotInfo(a, 14).kind, 'unalloc');
  const b = scaleLayout(viewOf(toSm90ActScales(f32([3, 33, 3]))));
  assert.deepEqual(b.strides, [108, 1, 36]);
  assert.equal(b.groupSlots, 108);
});

test('spec §3/§4.4 examples: SM100 packed geometry and the worked word, decoded from the engine’s words', () => {
  // one K-block word per row: the descriptor still says how far MN is padded (5 → 8), so the picture can name it
  const one = viewOf(toSm100PackedUe8m0(f32([5, 4])), 4);
  assert.deepEqual([one.layout.order, one.layout.paddedMN], ['mn-major', 8]);
  assert.equal(slotInfo(scaleLayout(one), 6).overDim, 1);
  const a = scaleLayout(viewOf(toSm100PackedUe8m0(f32([130, 8])), 8));
  assert.deepEqual([a.storageCols, a.strides[2], a.allocated, a.perWord], [2, 132, 264, 4]);
  const w = viewOf(toSm100PackedUe8m0(f32([1, 5], [2 ** -7, 2 ** -8, 2 ** -6, 2 ** -7, 2 ** -5])), 5);
  assert.deepEqual(Array.from(w.values), [2 ** -7, 2 ** -8, 2 ** -6, 2 ** -7, 2 ** -5], 'bytes decoded back to the scales');
  const L = scaleLayout(w);
  assert.equal(packedWord(L, 0) >>> 0, 0x78797778);
  assert.equal(packedWord(L, 4) >>> 0, 0x7a, 'word 1 holds K-block 4 in byte 0, zero bytes after');
  assert.equal(logicalOfStorage(L, 4, 1).kind, 'kpad');
  assert.equal(logicalOfStorage(L, 1).kind, 'pad');
  assert.deepEqual(storageOfLogical(L, 0, 0, 4), [{ slot: 4, byte: 0 }]);
});

test('golden dg_layouts: SM90 addressed slots and SM100 packed storage are exact', () => {
  const f = SafetensorsFile.open(goldenFile('dg_layouts.safetensors'));
  try {
    for (const [mn, k, g] of [[5, 256, 1], [7, 512, 1], [130, 1024, 1], [33, 384, 3], [1, 7168, 1]] as const) {
      const base = `sf_mn${mn}_k${k}_g${g}`;
      const KB = Math.ceil(k / 128);
      const shape = g > 1 ? [g, mn, KB] : [mn, KB];
      const v90 = viewOf(toSm90ActScales(f32(shape, f.read(`${base}_f32_in`).toFloat32())));
      const L = scaleLayout(v90);
      const meta = JSON.parse(f.metadata[`${base}_f32_mnmajor`]!) as { stride: number[]; storage_elems: number };
      assert.deepEqual(g > 1 ? L.strides : [L.strides[1], L.strides[2]], meta.stride, `${base} strides`);
      assert.equal(L.allocated, meta.storage_elems, `${base} storage elements`);
      const gold = f.read(`${base}_f32_mnmajor_storage`).toFloat32();
      viewStorage(v90).forEach((x, s) => Number.isNaN(x) || assert.equal(x, gold[s], `${base} slot ${s}`));
      const v100 = viewOf(toSm100PackedUe8m0(f32(shape, f.read(`${base}_ue8m0_in`).toFloat32())), KB);
      const goldP = f.read(`${base}_ue8m0_packed_storage`);
      assert.equal(scaleLayout(v100).allocated, goldP.numel, `${base} packed words`);
      assert.deepEqual(viewStorage(v100), Array.from(goldP.storage as Int32Array), `${base} packed storage`);
    }
  } finally {
    f.close();
  }
});

test('slot by slot the engine’s storage map, on random shapes: SM90 and SM100, 2-D and 3-D (E, max_m, G)', () => {
  const r = rng(3);
  for (let i = 0; i < 16; i++) {
    const G = 1 + Math.floor(r() * 3);
    const M = 1 + Math.floor(r() * 70);
    const KB = 1 + Math.floor(r() * 9);
    const shape = G > 1 ? [G, M, KB] : [M, KB];
    const vals = Float32Array.from({ length: G * M * KB }, () => 2 ** -Math.floor(r() * 20));
    for (const t of [toSm90ActScales(f32(shape, vals)), toSm100PackedUe8m0(f32(shape, vals)), f32(shape, vals)] as Tensor[]) {
      const v = viewOf(t, KB);
      const L = scaleLayout(v);
      const map = storageMap(t);
      const W = t.shape[t.rank - 1]!;
      for (let s = 0; s < L.drawn; s++) {
        const info = slotInfo(L, s);
        const want = s < map.length ? map[s]! : -2;
        if (want === -2) assert.equal(info.kind, 'unalloc', `${t.dtype} ${shape} slot ${s}`);
        else if (want < 0) assert.equal(info.kind, 'pad', `${t.dtype} ${shape} slot ${s}`);
        else {
          assert.equal(info.kind, 'data', `${t.dtype} ${shape} slot ${s}`);
          assert.equal((info.group * M + info.row) * W + info.col, want, `${t.dtype} ${shape} slot ${s}`);
        }
      }
      // and back: every logical scale's slot holds it
      for (let g = 0; g < G; g++) for (let m = 0; m < M; m++) for (let j = 0; j < KB; j++) {
        const [ref] = storageOfLogical(L, g, m, j);
        assert.deepEqual(logicalOfStorage(L, ref!.slot, ref!.byte ?? 0).ref, { group: g, row: m, kBlock: j });
      }
      if (G > 1 && L.order === 'mn-major') assert.equal(slotOf(L, 1, 0, 0), L.strides[0]);
    }
  }
});

test('bad descriptors and values: clear MoeErrors naming the tensor', () => {
  const d = (over: Partial<LayoutDescriptor>): LayoutDescriptor => ({
    order: 'row-major', shape: [2, 3], strides: [3, 1], offset: 0, storageElems: 6, addressedElems: 6, itemBytes: 4, summary: 'x', ...over,
  });
  const block = { rows: 1, k: 128 };
  assert.throws(() => scaleTensorOf('sf', 'activation', d({ shape: [6], strides: [1] }), new Array(6).fill(1), block), (e: unknown) => e instanceof MoeError && e.code === 'E_SHAPE' && /sf:/.test(e.message));
  assert.throws(() => scaleTensorOf('sf', 'activation', d({}), [1, 2, 3], block), /needs 6 values, got 3/);
  assert.throws(() => scaleTensorOf('sf', 'activation', d({ packing: { perWord: 4, alongDim: 0, byteOrder: 'little', logicalExtent: 8 } }), new Array(6).fill(0), block), /packed along dim 0/);
  assert.throws(() => scaleTensorOf('sf', 'activation', d({ packing: { perWord: 4, alongDim: 1, byteOrder: 'little', logicalExtent: 13 } }), new Array(6).fill(0), block), /13 packed values do not fit 3 words/);
  // strides that overlap (two logical elements in one slot) have no storage picture
  const overlap = scaleTensorOf('sf', 'activation', d({ order: 'strided', strides: [1, 1] }), new Array(6).fill(1), block);
  assert.throws(() => scaleLayout(overlap), (e: unknown) => e instanceof MoeError && e.code === 'E_LAYOUT' && /overlap/.test(e.message));
  // an offset into a larger allocation: the slots before it are allocated but not addressed
  const off = scaleLayout(scaleTensorOf('sf', 'activation', d({ offset: 2, storageElems: 8 }), new Array(6).fill(1), block));
  assert.deepEqual([slotInfo(off, 0).kind, slotInfo(off, 2).kind, slotOf(off, 0, 0, 0)], ['pad', 'data', 2]);
});
