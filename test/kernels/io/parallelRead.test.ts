/**
 * Large reads on several threads (kernels/io/parallelRead.ts), with the limits lowered so a few MB are split:
 * the same bytes as one thread reads, into shared memory only, and a file shorter than its header says gives the
 * same one-line E_IO as the serial read, naming the file, the tensor and where each ends.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../../../kernels/io/safetensors';
import { PARALLEL_READ, readParallel } from '../../../kernels/io/parallelRead';
import { Tensor } from '../../../kernels/tensor';
import { MoeError } from '../../../kernels/errors';

const dir = mkdtempSync(join(tmpdir(), 'moe-parallel-read-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const saved = { ...PARALLEL_READ };
after(() => Object.assign(PARALLEL_READ, saved));
Object.assign(PARALLEL_READ, { minBytes: 1 << 20, minSliceBytes: 256 << 10 });

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
    assert.deepEqual(Array.from(split.read('small').storage), [1, 2, 3]);
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
