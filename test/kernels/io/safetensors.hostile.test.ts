/**
 * safetensors reader against hostile and unusual files: nesting bombs, bad UTF-8, duplicate keys, giant name
 * lists, non-regular files, and offsets past 4 GiB (a sparse file: no disk is used).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_HEADER_DEPTH, MAX_TENSOR_ELEMENTS, SafetensorsFile, writeSafetensors } from '../../../kernels/io/safetensors';
import { MoeError } from '../../../kernels/errors';
import { Tensor } from '../../../kernels/tensor';

const dir = mkdtempSync(join(tmpdir(), 'st-hostile-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

/** a file from raw header bytes (or text) and data */
function craftBytes(header: Uint8Array | string, data: Uint8Array = new Uint8Array(0)): string {
  const h = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  const p = join(dir, `h${seq++}.safetensors`);
  writeFileSync(p, out);
  return p;
}

const err = (code: string, re: RegExp, maxLen = 600) => (e: unknown): boolean => {
  assert.ok(e instanceof MoeError, `expected MoeError, got ${String(e).slice(0, 300)}`);
  assert.equal(e.code, code, e.message.slice(0, 300));
  assert.match(e.message, re);
  assert.ok(e.message.length <= maxLen, `message is ${e.message.length} characters`);
  assert.doesNotMatch(e.message, /\n/);
  return true;
};

test('a 200 000-deep header is one error, not a stack overflow (at the top level and inside a shape)', () => {
  const deep = 200_000;
  const bomb = `{"t": ${'['.repeat(deep)}${']'.repeat(deep)}}`;
  assert.throws(() => SafetensorsFile.open(craftBytes(bomb)), err('E_FORMAT', new RegExp(`nests deeper than ${MAX_HEADER_DEPTH} levels`)));
  const inShape = `{"t": {"dtype": "F32", "shape": ${'['.repeat(deep)}${']'.repeat(deep)}, "data_offsets": [0, 0]}}`;
  assert.throws(() => SafetensorsFile.open(craftBytes(inShape)), err('E_FORMAT', /nests deeper/));
  // moderately nested junk (within the bound) is a plain validation error whose message stays short
  const shallow = `{"t": {"dtype": "F32", "shape": ${'['.repeat(40)}${']'.repeat(40)}, "data_offsets": [0, 0]}}`;
  assert.throws(() => SafetensorsFile.open(craftBytes(shallow)), err('E_FORMAT', /'t': shape must be an array of non-negative integers/));
});

test('invalid UTF-8 in the header is refused with its offset; valid multi-byte names are read', () => {
  const good = new TextEncoder().encode('{"t": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}');
  for (const bad of [[0xff], [0xc0, 0x80] /* overlong NUL */, [0xed, 0xa0, 0x80] /* surrogate */, [0xf4, 0x90, 0x80, 0x80] /* > U+10FFFF */, [0xe2, 0x82] /* cut short */]) {
    const h = new Uint8Array(good.length + bad.length);
    h.set(good.subarray(0, 2)); // `{"`
    h.set(bad, 2);
    h.set(good.subarray(2), 2 + bad.length); // the name becomes <bad>t
    assert.throws(() => SafetensorsFile.open(craftBytes(h, new Uint8Array(1))), err('E_FORMAT', new RegExp(`not valid UTF-8 \\(byte 0x${bad[0]!.toString(16)} at header offset 2\\)`)), bad.join(','));
  }
  const f = SafetensorsFile.open(craftBytes('{"é😀t": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}', new Uint8Array([7])));
  assert.deepEqual(f.names(), ['é😀t']);
  assert.deepEqual([...f.read('é😀t').storage], [7]);
  f.close();
});

test('duplicate keys are refused (tensor names, entry fields, metadata; escapes count), the same key in two objects is fine', () => {
  const e = '{"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}';
  const one = new Uint8Array(1);
  assert.throws(() => SafetensorsFile.open(craftBytes(`{"w": ${e}, "w": ${e}}`, one)), err('E_FORMAT', /duplicate tensor name: 'w' appears twice/));
  assert.throws(() => SafetensorsFile.open(craftBytes(`{"w": ${e}, "\\u0077": ${e}}`, one)), err('E_FORMAT', /duplicate tensor name: 'w'/));
  assert.throws(
    () => SafetensorsFile.open(craftBytes('{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "data_offsets": [0, 0]}}', one)),
    err('E_FORMAT', /duplicate key in 'w': 'data_offsets' appears twice/),
  );
  assert.throws(() => SafetensorsFile.open(craftBytes(`{"__metadata__": {"a": "1", "a": "2"}, "w": ${e}}`, one)), err('E_FORMAT', /duplicate key in '__metadata__': 'a'/));
  const f = SafetensorsFile.open(craftBytes(`{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "b": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}`, new Uint8Array(2)));
  assert.deepEqual(f.names(), ['a', 'b']);
  f.close();
});

test('messages listing tensor names are capped; a megabyte-long name is cut', () => {
  const n = 100_000;
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(`"tensor_${i}": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}`);
  const f = SafetensorsFile.open(craftBytes(`{${parts.join(', ')}}`));
  assert.equal(f.names().length, n);
  assert.throws(() => f.read('nope'), err('E_FORMAT', /no tensor named 'nope' \(has: tensor_0, tensor_1, .*tensor_19, … and 99980 more\)/));
  f.close();
  const long = 'x'.repeat(1_000_000);
  assert.throws(() => SafetensorsFile.open(craftBytes(`{"${long}": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}`, new Uint8Array(8))), err('E_FORMAT', /tensor 'x{80}…': unsupported dtype C64/));
  assert.throws(() => SafetensorsFile.open(craftBytes(`{"t": {"dtype": "F32", "shape": [${'1, '.repeat(100_000)}1], "data_offsets": [0, 8]}}`, new Uint8Array(8))), err('E_FORMAT', /'t': shape \[1,1,1[1,]*… × 4 bytes/));
});

test('FIFOs, directories and devices are refused before any read (the FIFO open does not block)', () => {
  const fifo = join(dir, 'pipe.safetensors');
  execFileSync('mkfifo', [fifo]);
  assert.throws(() => SafetensorsFile.open(fifo), err('E_IO', /pipe\.safetensors: is a FIFO \(named pipe\), not a regular file/));
  const sub = join(dir, 'folder.safetensors');
  mkdirSync(sub);
  assert.throws(() => SafetensorsFile.open(sub), err('E_IO', /folder\.safetensors: is a directory/));
  assert.throws(() => SafetensorsFile.open('/dev/zero'), err('E_IO', /\/dev\/zero: is a character device/));
});

test('reads go in chunks: a small chunk size gives the same bytes, for plain and converted (F64) tensors', () => {
  const n = 100_003;
  const x = new Float32Array(n).map((_, i) => Math.fround(Math.sin(i)));
  const p = join(dir, 'chunks.safetensors');
  writeSafetensors(p, { x: new Tensor('f32', [n], x) });
  const f = SafetensorsFile.open(p, { readChunkBytes: 4093 });
  assert.deepEqual(f.read('x').storage, x);
  assert.deepEqual(f.readRows('x', 77, 5000).storage, x.subarray(77, 5000));
  f.close();
  const f64 = new Float64Array(n).map((_, i) => i / 3);
  const g = SafetensorsFile.open(craftBytes(JSON.stringify({ d: { dtype: 'F64', shape: [n], data_offsets: [0, 8 * n] } }), new Uint8Array(f64.buffer)), { readChunkBytes: 1000 });
  assert.deepEqual(g.read('d').storage, Float32Array.from(f64));
  g.close();
});

test('offsets past 4 GiB (sparse file): a small tensor there reads back; a tensor past 2^32 elements is refused by name and size', () => {
  const big = 2 ** 32 + 16; // U8 elements: more than one typed array holds
  const smallAt = big; // data offset of the small tensor: past 4 GiB
  const header = JSON.stringify({ big: { dtype: 'U8', shape: [big], data_offsets: [0, big] }, small: { dtype: 'F32', shape: [4], data_offsets: [smallAt, smallAt + 16] } });
  const h = new TextEncoder().encode(header);
  const p = join(dir, 'sparse.safetensors');
  const fd = openSync(p, 'w');
  try {
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(h.length), true);
    writeSync(fd, len, 0, 8, 0);
    writeSync(fd, h, 0, h.length, 8);
    const dataStart = 8 + h.length;
    ftruncateSync(fd, dataStart + smallAt + 16); // a hole: costs no disk
    const vals = new Float32Array([1.5, -2, 3e-3, 65504]);
    writeSync(fd, new Uint8Array(vals.buffer), 0, 16, dataStart + smallAt);
    writeSync(fd, new Uint8Array([0xab, 0xcd]), 0, 2, dataStart + big - 2); // the last bytes of 'big'
  } finally {
    closeSync(fd);
  }
  const f = SafetensorsFile.open(p);
  try {
    assert.deepEqual([...f.read('small').storage], [...new Float32Array([1.5, -2, 3e-3, 65504])]);
    assert.ok(big > MAX_TENSOR_ELEMENTS);
    assert.throws(() => f.read('big'), err('E_RANGE', /tensor 'big' \[4294967312\] U8 has 4294967312 elements \(4\.00 GiB\), more than the 4294967296 \(2\^32\).*readRows/));
    // row ranges of it are fine, at any offset
    assert.deepEqual([...f.readRows('big', big - 4, big).storage], [0, 0, 0xab, 0xcd]);
  } finally {
    f.close();
  }
});
