/** .npy header dict parsing: decoy keys inside strings, unknown/duplicate/missing keys, value types, non-regular files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy } from '../../../kernels/io/npy';
import { MoeError } from '../../../kernels/errors';

const dir = mkdtempSync(join(tmpdir(), 'npy-hdr-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

/** a v1.0 file with `header` (padded with spaces and '\n' to a multiple of 64, as numpy writes) and `data` */
function npy(header: string, data: Uint8Array): string {
  const h = new TextEncoder().encode(header);
  const total = Math.ceil((10 + h.length + 1) / 64) * 64;
  const padded = new Uint8Array(total - 10).fill(0x20);
  padded.set(h);
  padded[padded.length - 1] = 0x0a;
  const out = new Uint8Array(total + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, padded.length, true);
  out.set(padded, 10);
  out.set(data, total);
  const p = join(dir, `f${seq++}.npy`);
  writeFileSync(p, out);
  return p;
}

const f32 = (v: number[]): Uint8Array => new Uint8Array(new Float32Array(v).buffer);
const bad = (re: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof MoeError, String(e));
  assert.equal(e.code, 'E_FORMAT', e.message);
  assert.match(e.message, re);
  return true;
};

test('a decoy key inside another value cannot change the dtype, order or shape', () => {
  // keys in any order; numpy accepts only the three keys, so a decoy can only hide inside a string, which is text
  const t = readNpy(npy("{'fortran_order': False, 'shape': (2,), 'descr': '<f4', }", f32([1, 2])));
  assert.deepEqual([...t.toFloat32()], [1, 2]);
  // a dtype string that itself contains a decoy dict text: refused as an unknown dtype, not read as '<i8'
  assert.throws(
    () => readNpy(npy("{'descr': \"<f4', 'descr': '<i8\", 'fortran_order': False, 'shape': (2,), }", f32([1, 2]))),
    (e: unknown) => e instanceof MoeError && e.code === 'E_DTYPE' && /\.npy dtype '<f4', 'descr': '<i8' is not supported/.test(e.message),
  );
  // the first regex match used to be this decoy in an (unknown) key's value
  assert.throws(() => readNpy(npy("{'note': \"'descr': '<i8'\", 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32([1, 2]))), bad(/unknown key 'note'/));
  // a decoy shape inside a string key name is refused, not parsed
  assert.throws(() => readNpy(npy("{\"'shape': (1,)\": 1, 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32([1, 2]))), bad(/unknown key ''shape': \(1,\)'/));
});

test('unknown, duplicate and missing keys are refused, as numpy refuses them', () => {
  assert.throws(() => readNpy(npy("{'descr': '<i8', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32([1, 2]))), bad(/key 'descr' appears twice/));
  assert.throws(() => readNpy(npy("{'descr': '<f4', 'fortran_order': False, }", f32([1, 2]))), bad(/missing 'shape'/));
  assert.throws(() => readNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", f32([1, 2]))), bad(/unknown key 'extra'/));
});

test('value types: bool order, integer tuple shapes (1-tuples need their comma), no trailing junk', () => {
  const t = readNpy(npy("{'descr':'<f4','fortran_order':True,'shape':(2,1)}", f32([1, 2])));
  assert.deepEqual(t.shape, [2, 1]);
  assert.deepEqual(readNpy(npy('{"descr": "<f4", "fortran_order": False, "shape": (2L,)}', f32([1, 2]))).shape, [2]);
  assert.deepEqual(readNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f32([5]))).shape, []);
  assert.throws(() => readNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", f32([1, 2]))), bad(/'shape' must be a tuple/));
  assert.throws(() => readNpy(npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", f32([1, 2]))), bad(/'fortran_order' must be True or False/));
  assert.throws(() => readNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", f32([1, 2]))), bad(/shape entries must be non-negative integers/));
  assert.throws(() => readNpy(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", f32([1, 2]))), bad(/structured dtypes are not supported/));
  assert.throws(() => readNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk", f32([1, 2]))), bad(/unexpected text after the dict/));
  assert.throws(() => readNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", f32([1, 2]))), bad(/the header ends inside the shape tuple/));
});

test('FIFOs and directories are refused without blocking', () => {
  const fifo = join(dir, 'p.npy');
  execFileSync('mkfifo', [fifo]);
  assert.throws(() => readNpy(fifo), (e: unknown) => e instanceof MoeError && e.code === 'E_IO' && /p\.npy: is a FIFO/.test(e.message));
  const sub = join(dir, 'd.npy');
  mkdirSync(sub);
  assert.throws(() => readNpy(sub), (e: unknown) => e instanceof MoeError && e.code === 'E_IO' && /d\.npy: is a directory/.test(e.message));
});
