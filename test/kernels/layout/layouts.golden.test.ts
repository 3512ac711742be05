/** Scale-factor layouts against what DeepGEMM 2.6.1 produced on an H100 (dg_layouts.safetensors). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SafetensorsFile } from '../../../kernels/io/safetensors';
import { isSm90Ready, toSm100PackedUe8m0, toSm90ActScales } from '../../../kernels/layout/index';
import { transformScalesFor } from '../../../kernels/arch/index';
import type { Tensor } from '../../../kernels/tensor';
import { goldenFile } from '../../golden';

interface StridedMeta {
  shape: number[];
  stride: number[];
  storage_elems: number;
}

const file = SafetensorsFile.open(goldenFile('dg_layouts.safetensors'));
const cases = file.names().filter((n) => n.endsWith('_f32_in')).map((n) => n.slice(0, -'_f32_in'.length));
const meta = (name: string): StridedMeta => JSON.parse(file.metadata[name]!) as StridedMeta;

test('dg_layouts has the five documented cases', () => {
  assert.deepEqual(cases.sort(), ['sf_mn130_k1024_g1', 'sf_mn1_k7168_g1', 'sf_mn33_k384_g3', 'sf_mn5_k256_g1', 'sf_mn7_k512_g1']);
});

for (const c of cases) {
  test(`${c}: SM90 MN-major TMA-aligned shape, strides, storage size and every addressed slot`, () => {
    const input = file.read(`${c}_f32_in`) as Tensor<'f32'>;
    const m = meta(`${c}_f32_mnmajor`);
    const out = toSm90ActScales(input);
    assert.deepEqual(out.shape, m.shape);
    assert.deepEqual(out.strides, m.stride);
    assert.equal(out.storage.length, m.storage_elems);
    assert.ok(isSm90Ready(out) && !isSm90Ready(input));
    const storage = file.read(`${c}_f32_mnmajor_storage`).storage as Float32Array;
    const logical = file.read(`${c}_f32_mnmajor`).storage as Float32Array;
    assert.equal(storage.length, m.storage_elems);
    // the addressed slots equal DeepGEMM's storage, and the logical values equal the input
    let addressed = 0;
    out.forEachIndex((s, lin) => {
      assert.equal(out.storage[s], storage[s], `slot ${s}`);
      assert.equal(out.storage[s], logical[lin]);
      addressed++;
    });
    assert.equal(addressed, input.numel);
    // the pad slots that exist are NaN, so an unwritten read shows
    const used = new Set<number>();
    out.forEachIndex((s) => used.add(s));
    for (let s = 0; s < out.storage.length; s++) if (!used.has(s)) assert.ok(Number.isNaN(out.storage[s]), `pad slot ${s}`);
    // already in the kernel's layout → returned as is
    const t = transformScalesFor('sm90', out, { kind: 'activation', mn: m.shape.at(-2)!, k: m.shape.at(-1)! * 128, ...(m.shape.length === 3 ? { groups: m.shape[0] } : {}) });
    assert.equal(t.tensor, out);
    assert.equal(t.relayout, false);
  });

  test(`${c}: SM100 packed UE8M0 equals DeepGEMM's reference, whole padded buffer`, () => {
    const input = file.read(`${c}_ue8m0_in`) as Tensor<'f32'>;
    const m = meta(`${c}_ue8m0_packed`);
    const out = toSm100PackedUe8m0(input);
    assert.deepEqual(out.shape, m.shape);
    assert.deepEqual(out.strides, m.stride);
    assert.equal(out.storage.length, m.storage_elems);
    assert.deepEqual([...out.storage], [...(file.read(`${c}_ue8m0_packed_storage`).storage as Int32Array)]);
    const logical = file.read(`${c}_ue8m0_packed`).storage as Int32Array;
    out.forEachIndex((s, lin) => assert.equal(out.storage[s], logical[lin]));
    // the transform entry point gives the same buffer and says the kernel would pack on every call
    const groups = m.shape.length === 3 ? { groups: m.shape[0] } : {};
    const k = input.shape.at(-1)! * 128;
    const t = transformScalesFor('sm100', input, { kind: 'activation', mn: input.shape.at(-2)!, k, ...groups });
    assert.equal(t.relayout, true);
    assert.deepEqual([...t.tensor.storage], [...out.storage]);
    const again = transformScalesFor('sm100', out, { kind: 'activation', mn: input.shape.at(-2)!, k, ...groups });
    assert.equal(again.tensor, out);
    assert.equal(again.relayout, false);
  });
}
