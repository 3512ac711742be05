/**
 * Byte-range jobs on several threads (kernels/ops/byteRangeThreads.ts), with the limits lowered so a few MB are
 * split. Reads: the same bytes as one thread reads, into shared memory only, and a file that shrinks gives the same
 * one-line E_IO as the serial read, naming the file, the tensor and where each ends. The FP8 NaN-code scan: the
 * first code wherever it falls (any slice, a slice boundary, none), as the one-thread scan finds it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../../../kernels/io/safetensors';
import { SPLIT, firstNanCodeParallel, readParallel } from '../../../kernels/ops/byteRangeThreads';
import { firstNanCode } from '../../../kernels/inputs';
import { Tensor } from '../../../kernels/tensor';
import { MoeError } from '../../../kernels/errors';

const dir = mkdtempSync(join(tmpdir(), 'moe-parallel-read-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const saved = { ...SPLIT };
after(() => Object.assign(SPLIT, saved));
Object.assign(SPLIT, { minBytes: 1 << 20, minSliceBytes: 256 << 10 });

const bytes = new Uint8Array(3 * (1 << 20) + 12345);
for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
const path = join(dir, 'w.safetensors');
writeSafetensors(path, { small: new Tensor('f32', [3], Float32Array.from([1, 2, 3])), w: new Tensor('u8', [bytes.length], bytes) });

test('a split read gives the bytes one thread reads, in shared memory', () => {
  const split = SafetensorsFile.open(path);
  const serial = SafetensorsFile.open(path, { parallelRead: false });
  try {
    const a = split.read('w', 'f8e4m3fn');
    const b = serial.read('w', 'f8e4m3fn');
    assert.ok(a.storage.buffer instanceof SharedArrayBuffer);
    assert.deepEqual(Buffer.from(a.storage.buffer, a.storage.byteOffset, a.storage.byteLength), Buffer.from(bytes));
    assert.deepEqual(Buffer.from(b.storage.buffer, b.storage.byteOffset, b.storage.byteLength), Buffer.from(bytes));
    assert.deepEqual(Array.from(split.read('small').storage as Float32Array), [1, 2, 3]);
  } finally {
    split.close();
    serial.close();
  }
});

test('readParallel reads into shared memory only', () => {
  assert.throws(() => readParallel(0, new Uint8Array(8), 0), TypeError);
});

test('a file that shrinks after it was opened: the split read reports it as the serial read does', () => {
  const msgs: string[] = [];
  let size = 0;
  for (const parallelRead of [true, false]) {
    const cut = join(dir, `cut-${parallelRead}.safetensors`);
    writeSafetensors(cut, { w: new Tensor('u8', [bytes.length], bytes) });
    size = statSync(cut).size;
    const f = SafetensorsFile.open(cut, { parallelRead });
    truncateSync(cut, size - (1 << 20));
    try {
      assert.throws(
        () => f.read('w', 'f8e4m3fn'),
        (e: unknown) => e instanceof MoeError && e.code === 'E_IO' && (msgs.push(e.message), true),
      );
    } finally {
      f.close();
    }
  }
  assert.equal(msgs[0]!.replace('cut-true', 'cut-false'), msgs[1]);
  assert.match(msgs[0]!, new RegExp(`cut-true.safetensors: tensor 'w' ends at byte ${size} but the file ends at ${size - (1 << 20)} \\(file shrank\\?\\)`));
});

test('the NaN-code scan on several threads finds the first 0x7F/0xFF as one thread does', () => {
  const n = 3 * (1 << 20) + 777;
  const b = new Uint8Array(new SharedArrayBuffer(n + 5)).subarray(5);
  for (let i = 0; i < n; i++) b[i] = (i * 7) % 0x7f;
  for (let i = 0; i < n; i++) if (b[i] === 0x7f) b[i] = 0;
  const serialCalls: number[] = [];
  const serial = (s: Uint8Array): number => (serialCalls.push(s.length), -1);
  assert.equal(firstNanCodeParallel(b, serial), -1);
  for (const at of [n - 1, 2 * (1 << 20) + 3, 1 << 20, (1 << 20) - 1, 17, 0]) {
    b[at] = at % 2 ? 0xff : 0x7f;
    assert.equal(firstNanCodeParallel(b, serial), at, `a NaN code at ${at}`);
    assert.equal(firstNanCode(b), at, 'firstNanCode takes the split path for large shared bytes');
  }
  assert.deepEqual(serialCalls, [], 'every slice was scanned by its thread');
  assert.throws(() => firstNanCodeParallel(new Uint8Array(8), serial), TypeError);
});
