/** .npy reading against files written by numpy 2.4 (np.lib.format.write_array), embedded as base64. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy } from '../../../kernels/io/npy';
import { MoeError } from '../../../kernels/errors';
import type { Tensor } from '../../../kernels/tensor';

const FILES: Record<string, string> = {
  f4c: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAADAPwAAQEAAAJBAAADAQAAA8EA=',
  f4f: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACQQAAAwD8AAMBAAABAQAAA8EA=',
  f2: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDQsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAPADB/3sAfA==',
  f8: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqamZmZmZm5PwAAAAAAAABA',
  i4: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAr/////AgAAAAMAAAA=',
  i8: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDEpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAP///wcAAAAAAAAA',
  u1: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoB/wAH',
  u2: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPHUyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqAP///',
  v2: 'k05VTVBZAgB0AAAAeydkZXNjcic6ICc8aTQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAQAAAAIAAAADAAAA',
  v3: 'k05VTVBZAwB0AAAAeydkZXNjcic6ICc8aTQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAQAAAAIAAAADAAAA',
  scalar: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAEBA',
  b1: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfGIxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoB',
  be: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPmY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo/gAAA',
  f4f3: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMywgNCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAABAQQAAgEAAAIBBAAAAQQAAoEEAAIA/AABQQQAAoEAAAIhBAAAQQQAAqEEAAABAAABgQQAAwEAAAJBBAAAgQQAAsEEAAEBAAABwQQAA4EAAAJhBAAAwQQAAuEE=',
};

const dir = mkdtempSync(join(tmpdir(), 'npy-test-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
function file(name: string, bytes?: Uint8Array): string {
  const p = join(dir, `${name}.npy`);
  writeFileSync(p, bytes ?? Buffer.from(FILES[name]!, 'base64'));
  return p;
}
const values = (t: Tensor): number[] => [...t.toFloat32()];

test('C-order float32 and its Fortran-order twin give the same logical values; Fortran keeps column-major strides', () => {
  const c = readNpy(file('f4c'));
  const f = readNpy(file('f4f'));
  assert.equal(c.dtype, 'f32');
  assert.deepEqual(c.shape, [2, 3]);
  assert.deepEqual(c.strides, [3, 1]);
  assert.deepEqual(f.strides, [1, 2]);
  assert.deepEqual(values(c), [0, 1.5, 3, 4.5, 6, 7.5]);
  assert.deepEqual(values(f), values(c));
  const f3 = readNpy(file('f4f3'));
  assert.deepEqual(f3.strides, [1, 2, 6]);
  assert.deepEqual(values(f3), Array.from({ length: 24 }, (_, i) => i));
});

test('dtypes: f2 and f8 convert to f32, i4, i8, u1, u2 (widened or BF16 bits), scalars', () => {
  assert.deepEqual(values(readNpy(file('f2'))), [1, -2.5, 65504, Infinity]);
  assert.deepEqual(values(readNpy(file('f8'))), [Math.fround(0.1), 2]);
  const i4 = readNpy(file('i4'));
  assert.equal(i4.dtype, 'i32');
  assert.deepEqual(values(i4), [-1, 2, 3]);
  const i8 = readNpy(file('i8'));
  assert.equal(i8.dtype, 'i64');
  assert.deepEqual([i8.raw(0, 0), i8.raw(1, 0)], [-(2 ** 40), 7]);
  assert.deepEqual(values(readNpy(file('u1'))), [1, 255, 0, 7]);
  const u2 = readNpy(file('u2'));
  assert.equal(u2.dtype, 'i32');
  assert.deepEqual(values(u2), [0x3f80, 65535]);
  const bf = readNpy(file('u2'), { u2As: 'bf16' });
  assert.equal(bf.dtype, 'bf16');
  assert.equal(bf.get(0), 1);
  const s = readNpy(file('scalar'));
  assert.deepEqual(s.shape, []);
  assert.deepEqual(values(s), [3]);
});

test('format versions 2.0 and 3.0', () => {
  assert.deepEqual(values(readNpy(file('v2'))), [0, 1, 2, 3]);
  assert.deepEqual(values(readNpy(file('v3'))), [0, 1, 2, 3]);
});

test('bad .npy files: bool, big-endian, not npy, truncated data, missing file', () => {
  const err = (code: string, re: RegExp) => (e: unknown): boolean => e instanceof MoeError && e.code === code && re.test(e.message);
  assert.throws(() => readNpy(file('b1')), err('E_DTYPE', /'\|b1' is not supported/));
  assert.throws(() => readNpy(file('be')), err('E_DTYPE', /'>f4'/));
  assert.throws(() => readNpy(file('junk', new TextEncoder().encode('hello world, not numpy'))), err('E_FORMAT', /not a \.npy file/));
  const full = Buffer.from(FILES.f4c!, 'base64');
  assert.throws(() => readNpy(file('short', full.subarray(0, full.length - 4))), err('E_FORMAT', /needs 24 data bytes, the file has 20/));
  assert.throws(() => readNpy(file('hdr', full.subarray(0, 40))), err('E_FORMAT', /header length/));
  assert.throws(() => readNpy(join(dir, 'missing.npy')), err('E_IO', /missing\.npy/));
});
