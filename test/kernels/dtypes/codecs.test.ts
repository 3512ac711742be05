/** Small exact cases for BF16 and int4 packing (no golden file covers these). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBf16, encodeBf16, roundBf16 } from '../../../kernels/dtypes/bf16';
import { packInt4, unpackInt4 } from '../../../kernels/dtypes/int4';

test('BF16 encode rounds to nearest even and keeps NaN/inf/−0', () => {
  assert.equal(encodeBf16(1), 0x3f80);
  assert.equal(encodeBf16(-2), 0xc000);
  // 1 + 2^-8 is the tie between 1 and 1 + 2^-7: goes to even (1)
  assert.equal(encodeBf16(1 + 2 ** -8), 0x3f80);
  // 1 + 3·2^-8 is the tie between 1+2^-7 (odd) and 1+2^-6 (even): goes up
  assert.equal(encodeBf16(1 + 3 * 2 ** -8), 0x3f82);
  assert.equal(encodeBf16(1 + 2 ** -8 + 2 ** -20), 0x3f81);
  assert.equal(encodeBf16(Infinity), 0x7f80);
  assert.equal(encodeBf16(-0), 0x8000);
  assert.ok(Number.isNaN(decodeBf16(encodeBf16(NaN))));
  assert.equal(roundBf16(3.4e38), Infinity, 'beyond the largest BF16 rounds to inf');
  assert.equal(decodeBf16(0x4049), 3.140625);
});

test('int4 pack/unpack round trip, low nibble first', () => {
  const v = [-8, 7, 0, -1, 3];
  const p = packInt4(v);
  assert.deepEqual([...p], [0x78, 0xf0, 0x03]);
  assert.deepEqual([...unpackInt4(p, 5)], v);
  assert.throws(() => packInt4([8]), RangeError);
});
