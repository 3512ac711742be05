/**
 * The view's lazy layout math against the spec's worked examples, DeepGEMM's own layouts (golden dg_layouts, exact)
 * and the engine's transforms (kernels/layout), plus the bad inputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scaleLayout, storageOfLogical, logicalOfStorage, packedWord, slotOf, type ScaleTensor } from '../../../webview/model/scaleLayout';
import { SafetensorsFile } from '../../../kernels/io/safetensors';
import { toSm90ActScales, toSm100PackedUe8m0, broadcastWeightScaleRows } from '../../../kernels/layout/index';
import { Tensor } from '../../../kernels/tensor';
import { MoeError } from '../../../kernels/errors';
import { goldenFile } from '../../golden';
import { rng } from '../fixtures';

const act = (G: number, R: number, KB: number, values?: ArrayLike<number>): ScaleTensor => ({
  name: 'sf', kind: 'activation', groups: G, rows: R, kBlocks: KB, values: values ?? new Float32Array(G * R * KB).fill(0.25),
});

/** every storage slot value of the view's layout, as the kernel would hold it (f32 value or packed int32 word) */
function viewStorage(t: ScaleTensor, arch: 'sm90' | 'sm100'): { values: (number | undefined)[]; L: ReturnType<typeof scaleLayout> } {
  const L = scaleLayout(t, arch);
  const values: (number | undefined)[] = [];
  for (let s = 0; s < L.allocated; s++) {
    if (L.packed) values.push(packedWord(L, s));
    else {
      const r = logicalOfStorage(L, s);
      values.push(r.ref ? t.values[(r.ref.group * t.rows + r.ref.row) * t.kBlocks + r.ref.kBlock] : undefined);
    }
  }
  return { values, L };
}

test('spec §3 examples: SM90 strides and allocated extent', () => {
  const a = scaleLayout(act(1, 5, 2), 'sm90');
  assert.deepEqual([a.strides[1], a.strides[2]], [1, 8]);
  assert.equal(a.allocated, 13);
  assert.equal(a.addressed, 10);
  assert.equal(a.drawn, 16, 'the unallocated tail completes the last padded column');
  const b = scaleLayout(act(3, 33, 3), 'sm90');
  assert.deepEqual(b.strides, [108, 1, 36]);
});

test('spec §3/§4.4 examples: SM100 packed geometry and the worked word', () => {
  const a = scaleLayout(act(1, 130, 8), 'sm100');
  assert.deepEqual([a.storageCols, a.strides[2], a.allocated], [2, 132, 264]);
  const vals = [2 ** -7, 2 ** -8, 2 ** -6, 2 ** -7, 2 ** -5];
  const w = scaleLayout(act(1, 1, 5, vals), 'sm100');
  assert.equal(packedWord(w, 0) >>> 0, 0x78797778);
  assert.equal(packedWord(w, 4) >>> 0, 0x7a, 'word 1 holds K-block 4 in byte 0, zero bytes after');
  assert.equal(logicalOfStorage(w, 4, 1).kind, 'kpad');
  assert.equal(logicalOfStorage(w, 1).kind, 'pad');
  const ws: ScaleTensor = { name: 'w13_weight_scale_inv', kind: 'weight', groups: 4, rows: 6, kBlocks: 2, values: new Float32Array(48).fill(1) };
  const L = scaleLayout(ws, 'sm100');
  assert.deepEqual([L.storageRows, L.storageCols, ...L.strides], [768, 1, 768, 1, 768]);
  assert.equal(storageOfLogical(L, 1, 2, 1).length, 128, 'a weight block scale is broadcast to 128 rows');
});

test('golden dg_layouts: SM90 addressed slots and SM100 packed storage are exact', () => {
  const f = SafetensorsFile.open(goldenFile('dg_layouts.safetensors'));
  try {
    for (const [mn, k, g] of [[5, 256, 1], [7, 512, 1], [130, 1024, 1], [33, 384, 3], [1, 7168, 1]] as const) {
      const base = `sf_mn${mn}_k${k}_g${g}`;
      const KB = Math.ceil(k / 128);
      const f32In = Array.from(f.read(`${base}_f32_in`).toFloat32());
      const { values, L } = viewStorage(act(g, mn, KB, f32In), 'sm90');
      const meta = JSON.parse(f.metadata[`${base}_f32_mnmajor`]!) as { stride: number[]; storage_elems: number };
      assert.deepEqual(g > 1 ? L.strides : [L.strides[1], L.strides[2]], meta.stride, `${base} strides`);
      assert.equal(L.allocated, meta.storage_elems, `${base} storage elements`);
      const gold = f.read(`${base}_f32_mnmajor_storage`).toFloat32();
      values.forEach((v, s) => v !== undefined && assert.equal(v, gold[s], `${base} slot ${s}`));
      const ue = Array.from(f.read(`${base}_ue8m0_in`).toFloat32());
      const packed = viewStorage(act(g, mn, KB, ue), 'sm100');
      const goldP = f.read(`${base}_ue8m0_packed_storage`);
      assert.equal(packed.L.allocated, goldP.numel, `${base} packed words`);
      assert.deepEqual(packed.values, Array.from(goldP.storage as Int32Array), `${base} packed storage`);
    }
  } finally {
    f.close();
  }
});

test('agrees with the engine transforms (kernels/layout) on random shapes, activations and weights', () => {
  const r = rng(3);
  for (let i = 0; i < 12; i++) {
    const G = 1 + Math.floor(r() * 3);
    const M = 1 + Math.floor(r() * 70);
    const KB = 1 + Math.floor(r() * 9);
    const vals = Float32Array.from({ length: G * M * KB }, () => 2 ** -Math.floor(r() * 20));
    const shape = G > 1 ? [G, M, KB] : [M, KB];
    const sf = new Tensor('f32', shape, vals, undefined, 0, 'sf');
    const e90 = toSm90ActScales(sf);
    const v90 = viewStorage(act(G, M, KB, vals), 'sm90');
    assert.deepEqual(G > 1 ? v90.L.strides : [v90.L.strides[1], v90.L.strides[2]], [...e90.strides]);
    assert.equal(v90.L.allocated, e90.storage.length);
    const e100 = toSm100PackedUe8m0(sf);
    const v100 = viewStorage(act(G, M, KB, vals), 'sm100');
    assert.deepEqual(v100.values, Array.from(e100.storage as Int32Array), `packed ${shape}`);
  }
  // weights: broadcast then pack, compared word by word
  const ws = new Tensor('f32', [2, 3, 5], Float32Array.from({ length: 30 }, (_, i) => 2 ** -(i % 11)), undefined, 0, 'w13_weight_scale_inv');
  const e = toSm100PackedUe8m0(broadcastWeightScaleRows(ws, 384));
  const L = scaleLayout({ name: 'w', kind: 'weight', groups: 2, rows: 3, kBlocks: 5, values: ws.storage }, 'sm100');
  assert.equal(L.allocated, e.storage.length);
  for (let s = 0; s < L.allocated; s += 7) assert.equal(packedWord(L, s), (e.storage as Int32Array)[s], `weight word ${s}`);
  assert.equal(slotOf(L, 1, 200, 1), e.index(1, 200, 1));
});

test('bad inputs: clear MoeErrors naming the tensor', () => {
  assert.throws(() => scaleLayout(act(1, 0, 2), 'sm90'), (e: unknown) => e instanceof MoeError && e.code === 'E_SHAPE' && /sf:/.test(e.message));
  assert.throws(() => scaleLayout({ ...act(1, 2, 2), values: [1, 2, 3] }, 'sm100'), (e: unknown) => e instanceof MoeError && /needs 4 values, got 3/.test(e.message));
  assert.throws(() => scaleLayout(act(1.5, 2, 2), 'sm90'), MoeError);
  const L = scaleLayout(act(1, 3, 5, [1, 3, 0.3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), 'sm100');
  assert.equal(L.roundedUp, 2, 'non powers of two are counted so the view can warn');
});
