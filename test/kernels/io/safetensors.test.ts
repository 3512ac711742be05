/** safetensors: golden files read by byte range, strict header validation, write → read round trips. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, safetensorsDtype, writeSafetensors } from '../../../kernels/io/safetensors';
import { MoeError } from '../../../kernels/errors';
import { allocStorage, type DType } from '../../../kernels/dtypes/index';
import { Tensor } from '../../../kernels/tensor';
import { goldenFile } from '../../golden';

const dir = mkdtempSync(join(tmpdir(), 'st-test-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

/** a hand-made file: header (object or raw text), data bytes, optional lying length prefix */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), lenOverride?: bigint): string {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  const p = join(dir, `crafted${seq++}.safetensors`);
  writeFileSync(p, out);
  return p;
}

const err = (code: string, re: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof MoeError, `expected MoeError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  return true;
};

test('golden file: names, entries, metadata, U8 read as f8e4m3fn, readRows equals a slice of read', () => {
  const f = SafetensorsFile.open(goldenFile('e2e_small_f32.safetensors'));
  assert.ok(f.has('x_bf16') && !f.has('nope'));
  assert.equal(f.names().length, 17);
  assert.equal(f.metadata.M, '37');
  const e = f.entry('a1_scale_f32');
  assert.deepEqual(e, { name: 'a1_scale_f32', dtype: 'F32', shape: [37, 4], begin: 8 + 1544, end: 8 + 1544 + 592 });
  const w = f.read('w13_fp8_u8', 'f8e4m3fn');
  assert.equal(w.dtype, 'f8e4m3fn');
  assert.deepEqual(w.shape, [4, 1024, 512]);
  const rows = f.readRows('w13_fp8_u8', 2, 3, 'f8e4m3fn');
  assert.deepEqual(rows.shape, [1, 1024, 512]);
  assert.deepEqual(rows.storage, w.storage.subarray(2 * 1024 * 512, 3 * 1024 * 512));
  const x = f.read('x_bf16');
  const xr = f.readRows('x_bf16', 36, 37);
  assert.equal(x.dtype, 'bf16');
  assert.deepEqual([...xr.storage], [...x.storage.subarray(36 * 512)]);
  assert.deepEqual(f.readRows('x_bf16', 5, 5).shape, [0, 512]);
  const ids = f.read('topk_ids_i32');
  assert.equal(ids.dtype, 'i32');
  assert.ok([...ids.storage].every((v) => Number(v) >= 0 && Number(v) < 4));
  f.close();
  assert.throws(() => f.read('x_bf16'), err('E_IO', /closed/));
});

test('golden metadata values are JSON strings (dg_layouts)', () => {
  const f = SafetensorsFile.open(goldenFile('dg_layouts.safetensors'));
  const m = JSON.parse(f.metadata.sf_mn5_k256_g1_f32_mnmajor!) as { stride: number[]; storage_elems: number };
  assert.deepEqual(m.stride, [1, 8]);
  assert.equal(m.storage_elems, 13);
  f.close();
});

test('round trip write → read for every dtype, metadata, non-contiguous and empty tensors', () => {
  const dtypes: DType[] = ['f32', 'bf16', 'f8e4m3fn', 'ue8m0', 'i32', 'i64', 'u8', 'i4x2'];
  const tensors: Record<string, Tensor> = {};
  for (const d of dtypes) {
    const st = allocStorage(d, 6);
    for (let i = 0; i < 6; i++) {
      if (st instanceof BigInt64Array) st[i] = BigInt(i * 1e12 - 3);
      else st[i] = d === 'f32' ? i * 0.25 - 1 : i * 37 + 1;
    }
    tensors[`t_${d}`] = new Tensor(d, [2, 3], st);
  }
  tensors.transposed = Tensor.fromF32([2, 3], [1, 2, 3, 4, 5, 6]).transpose();
  tensors.empty = new Tensor('f32', [0, 4], new Float32Array(0));
  tensors.scalar = new Tensor('i32', [], new Int32Array([42]));
  const p = join(dir, 'roundtrip.safetensors');
  writeSafetensors(p, tensors, { note: 'hello', n: '3' });
  const raw = readFileSync(p);
  const hlen = Number(raw.readBigUInt64LE(0));
  assert.equal(hlen % 8, 0, 'header padded to 8 bytes');
  const f = SafetensorsFile.open(p);
  assert.deepEqual(f.metadata, { note: 'hello', n: '3' });
  for (const d of dtypes) {
    const name = `t_${d}`;
    assert.equal(f.entry(name).dtype, safetensorsDtype(d));
    // i4x2 is stored as plain bytes (U8): read it back by asking for it
    const back = f.read(name, d);
    assert.equal(back.dtype, d, name);
    assert.deepEqual(back.shape, [2, 3]);
    assert.deepEqual([...back.storage], [...tensors[name]!.storage], name);
  }
  assert.deepEqual([...f.read('transposed').toFloat32()], [1, 4, 2, 5, 3, 6]);
  assert.deepEqual(f.read('empty').shape, [0, 4]);
  assert.deepEqual([...f.read('scalar').storage], [42]);
  // every tensor starts aligned to its item size (writer orders by alignment)
  for (const n of f.names()) {
    const e = f.entry(n);
    assert.equal((e.begin - 8 - hlen) % tensors[n]!.itemBytes, 0, n);
  }
  f.close();
});

test('F16 and F64 tensors read as float32', () => {
  const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x0001]).buffer);
  const f64 = new Uint8Array(new Float64Array([0.1, -3]).buffer);
  const data = new Uint8Array(24);
  data.set(f64, 0);
  data.set(f16, 16);
  const p = craft({ a: { dtype: 'F64', shape: [2], data_offsets: [0, 16] }, b: { dtype: 'F16', shape: [2, 2], data_offsets: [16, 24] } }, data);
  const f = SafetensorsFile.open(p);
  assert.deepEqual([...f.read('a').storage], [Math.fround(0.1), -3]);
  assert.deepEqual([...f.read('b').storage], [1, -2.5, 65504, 2 ** -24]);
  assert.deepEqual([...f.readRows('b', 1, 2).storage], [65504, 2 ** -24]);
  f.close();
});

test('I8 tensors read as signed bytes (int8); the W4AFP8 recipe may take the same bytes as packed int4', () => {
  const p = craft({ q: { dtype: 'I8', shape: [4], data_offsets: [0, 4] } }, new Uint8Array([0x00, 0x7f, 0x80, 0xff]));
  const f = SafetensorsFile.open(p);
  const t = f.read('q');
  assert.equal(t.dtype, 'i8');
  assert.deepEqual([...t.toFloat32()], [0, 127, -128, -1]);
  assert.equal(f.read('q', 'i4x2').dtype, 'i4x2');
  f.close();
});

test('bad files: each a MoeError naming the file and the tensor', () => {
  const ok = { t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const data8 = new Uint8Array(8);
  const short = join(dir, 'short.safetensors');
  writeFileSync(short, new Uint8Array([1, 2, 3]));
  assert.throws(() => SafetensorsFile.open(short), err('E_FORMAT', /short\.safetensors.*truncated.*3 bytes/));
  assert.throws(() => SafetensorsFile.open(craft(ok, data8, 1000n)), err('E_FORMAT', /header length 1000 exceeds the file/));
  assert.throws(() => SafetensorsFile.open(craft(ok, data8, 2n ** 63n)), err('E_FORMAT', /exceeds the file/));
  assert.throws(() => SafetensorsFile.open(craft('{"t": {"dtype": ', data8)), err('E_FORMAT', /not valid JSON/));
  assert.throws(() => SafetensorsFile.open(craft('[1, 2]')), err('E_FORMAT', /must be a JSON object/));
  assert.throws(() => SafetensorsFile.open(craft({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data8)), err('E_FORMAT', /'t'.*shape \[3\].*12 bytes.*span 8/));
  assert.throws(() => SafetensorsFile.open(craft({ t: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, data8)), err('E_FORMAT', /'t'.*run past the end of the data \(8 bytes\)/));
  assert.throws(() => SafetensorsFile.open(craft({ t: { dtype: 'F32', shape: [2], data_offsets: [-8, 0] } }, data8)), err('E_FORMAT', /'t'.*non-negative/));
  assert.throws(() => SafetensorsFile.open(craft({ t: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data8)), err('E_FORMAT', /'t'.*shape must be/));
  assert.throws(() => SafetensorsFile.open(craft({ t: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, data8)), err('E_FORMAT', /end before they begin/));
  assert.throws(
    () => SafetensorsFile.open(craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'U8', shape: [4], data_offsets: [4, 8] } }, data8)),
    err('E_FORMAT', /'b'.*overlaps 'a'/),
  );
  assert.throws(() => SafetensorsFile.open(craft({ t: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, data8)), err('E_FORMAT', /'t'.*unsupported dtype C64/));
  assert.throws(() => SafetensorsFile.open(craft({ __metadata__: { a: 1 }, ...ok }, data8)), err('E_FORMAT', /__metadata__\['a'\] must be a string/));
  assert.throws(() => SafetensorsFile.open(join(dir, 'does-not-exist.safetensors')), err('E_IO', /does-not-exist/));
  const f = SafetensorsFile.open(craft(ok, data8));
  assert.throws(() => f.read('t', 'i32'), err('E_DTYPE', /'t' is stored as F32.*cannot be read as i32/));
  assert.throws(() => f.read('t', 'f8e4m3fn'), err('E_DTYPE', /cannot be read as f8e4m3fn/));
  assert.throws(() => f.read('missing'), err('E_FORMAT', /no tensor named 'missing' \(has: t\)/));
  assert.throws(() => f.readRows('t', 1, 3), err('E_RANGE', /'t'.*rows \[1, 3\)/));
  f.close();
  // a file that was cut after its header was written: the offsets now point past the end
  const whole = readFileSync(goldenFile('dg_layouts.safetensors'));
  const cut = join(dir, 'cut.safetensors');
  writeFileSync(cut, whole.subarray(0, whole.length - 100));
  assert.throws(() => SafetensorsFile.open(cut), err('E_FORMAT', /cut\.safetensors: tensor 'sf_mn\w+'.*past the end of the data/));
});
