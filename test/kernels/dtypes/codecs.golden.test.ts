/** The dtype codecs against PyTorch's own casts (fp8_golden.safetensors, produced on an H100): all exact. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SafetensorsFile } from '../../../kernels/io/safetensors';
import { decodeE4M3, encodeE4M3, encodeE4M3Sat } from '../../../kernels/dtypes/fp8e4m3';
import { castToUe8m0, ceilScaleToUe8m0 } from '../../../kernels/dtypes/ue8m0';
import { encodeE4M3Bits } from '../../../kernels/ops/quantize';
import { goldenFile } from '../../golden';

const file = SafetensorsFile.open(goldenFile('fp8_golden.safetensors'));
const f32 = (name: string): Float32Array => file.read(name).storage as Float32Array;
const u8 = (name: string): Uint8Array => file.read(name).storage as Uint8Array;

const sameFloat = (a: number, b: number): boolean => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

test('E4M3FN decode table equals torch (NaN ↔ NaN, −0 kept)', () => {
  const table = f32('decode_table_f32');
  assert.equal(table.length, 256);
  const bad: number[] = [];
  for (let b = 0; b < 256; b++) if (!sameFloat(decodeE4M3(b), table[b]!)) bad.push(b);
  assert.deepEqual(bad, []);
  assert.ok(Number.isNaN(decodeE4M3(0x7f)) && Number.isNaN(decodeE4M3(0xff)));
});

test('E4M3FN encode of all 201037 inputs equals torch CPU and CUDA casts', () => {
  const inp = f32('encode_in_f32');
  const cpu = u8('encode_cpu_u8');
  const cuda = u8('encode_cuda_u8');
  assert.equal(inp.length, 201037);
  const bits = new Uint32Array(inp.buffer, inp.byteOffset, inp.length);
  let bad = 0;
  let badTable = 0;
  let badCuda = 0;
  let first = -1;
  for (let i = 0; i < inp.length; i++) {
    const e = encodeE4M3(inp[i]!);
    if (e !== cpu[i]) {
      bad++;
      if (first < 0) first = i;
    }
    if (encodeE4M3Bits(bits[i]!) !== cpu[i]) badTable++;
    if (cpu[i] !== cuda[i]) badCuda++;
  }
  assert.equal(bad, 0, `first mismatch at ${first}: ${inp[first]}`);
  assert.equal(badTable, 0, 'table-driven encode must equal the exact one');
  assert.equal(badCuda, 0, 'golden CPU and CUDA casts agree');
});

test('saturating E4M3 cast: same rounding, overflow → ±448, NaN stays NaN', () => {
  assert.equal(encodeE4M3Sat(449), 0x7e);
  assert.equal(encodeE4M3Sat(480), 0x7e);
  assert.equal(encodeE4M3Sat(Infinity), 0x7e);
  assert.equal(encodeE4M3Sat(-1e6), 0xfe);
  assert.equal(encodeE4M3Sat(NaN), 0x7f);
  assert.equal(encodeE4M3Sat(17), encodeE4M3(17));
  // PyTorch semantics on the same inputs
  assert.equal(encodeE4M3(464), 0x7e);
  assert.equal(encodeE4M3(464.01), 0x7f);
  assert.equal(encodeE4M3(-Infinity), 0xff);
});

test('UE8M0 cast equals torch.float8_e8m0fnu (round to nearest power of two, halves up)', () => {
  const inp = f32('e8m0_in_f32');
  const out = u8('e8m0_cast_u8');
  const bad: string[] = [];
  for (let i = 0; i < inp.length; i++) if (castToUe8m0(inp[i]!) !== out[i]) bad.push(`${inp[i]}→${out[i]} (got ${castToUe8m0(inp[i]!)})`);
  assert.deepEqual(bad.slice(0, 5), []);
  // documented points: 0.75→1, 1.5→2, 3→4 (halves up), 2.83→2 (not a round-up)
  assert.deepEqual([0.75, 1, 1.5, 3, 2.83, 0].map(castToUe8m0), [127, 127, 128, 129, 128, 0]);
  assert.equal(castToUe8m0(NaN), 0xff);
});

test('UE8M0 scale round-up (quantizer rule) is a ceiling, clamped to bytes 1…254', () => {
  assert.deepEqual(ceilScaleToUe8m0(0.75), { byte: 127, scale: 1 });
  assert.deepEqual(ceilScaleToUe8m0(1), { byte: 127, scale: 1 });
  assert.deepEqual(ceilScaleToUe8m0(2.83), { byte: 129, scale: 4 });
  const oneUlpAbove = new Float32Array(new Uint32Array([0x3f800001]).buffer)[0]!;
  assert.deepEqual(ceilScaleToUe8m0(oneUlpAbove), { byte: 128, scale: 2 });
  assert.equal(ceilScaleToUe8m0(0).byte, 1);
});
