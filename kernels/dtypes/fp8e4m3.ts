/**
 * FP8 E4M3FN: sign, 4 exponent bits (bias 7), 3 mantissa bits, no infinities, 0x7F/0xFF NaN, max finite 448.
 * `encodeE4M3` is PyTorch's cast (the reference): round to nearest even; |x| ≤ 464 rounds to at most 448 (464 is
 * the tie between 448 and 480 and goes to even 448); |x| > 464, ±inf and NaN give NaN with the sign kept.
 * `encodeE4M3Sat` is CUDA's __NV_SATFINITE / Triton cast: the same rounding, but overflow saturates to ±448.
 * Inputs are float32 values (any JS number is first rounded to float32, as a cast from a float32 tensor would be).
 */
import { fround } from './float32';

export const E4M3_MAX = 448;
export const E4M3_NAN = 0x7f;

/** value of every byte; NaN for 0x7F and 0xFF */
export const E4M3_DECODE: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) {
    const sign = b & 0x80 ? -1 : 1;
    const e = (b >> 3) & 0xf;
    const m = b & 7;
    if ((b & 0x7f) === 0x7f) t[b] = NaN;
    else if (e === 0) t[b] = sign * (m / 8) * 2 ** -6;
    else t[b] = sign * (1 + m / 8) * 2 ** (e - 7);
  }
  return t;
})();

export const decodeE4M3 = (b: number): number => E4M3_DECODE[b & 0xff]!;

/** Rounds a non-negative value (exactly representable in a double) to the nearest integer, ties to even. */
function rne(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5 || (d === 0.5 && (f & 1) === 1)) return f + 1;
  return f;
}

/** magnitude bits (0..0x7E) of a finite |x| ≤ 464 */
function encodeMagnitude(a: number): number {
  if (a < 2 ** -6) return rne(a * 512); // subnormal step 2^-9; a result of 8 is the smallest normal, 0x08
  let e = Math.floor(Math.log2(a));
  // log2 can be off by one ulp near powers of two; fix the exponent exactly
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = rne((a / 2 ** e - 1) * 8);
  if (m === 8) {
    m = 0;
    e++;
  }
  return ((e + 7) << 3) | m;
}

export function encodeE4M3(x: number): number {
  const v = fround(x);
  if (Number.isNaN(v)) return E4M3_NAN;
  const sign = v < 0 || Object.is(v, -0) ? 0x80 : 0;
  const a = Math.abs(v);
  if (a > 464) return sign | E4M3_NAN; // includes ±inf
  return sign | encodeMagnitude(a);
}

export function encodeE4M3Sat(x: number): number {
  const v = fround(x);
  if (Number.isNaN(v)) return E4M3_NAN;
  const sign = v < 0 || Object.is(v, -0) ? 0x80 : 0;
  const a = Math.abs(v);
  if (a >= 448) return sign | 0x7e;
  return sign | encodeMagnitude(a);
}
