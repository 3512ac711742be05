/**
 * UE8M0: one unsigned exponent byte b, value 2^(b−127) (0xFF is NaN in torch.float8_e8m0fnu).
 * - `ceilScaleToUe8m0` is the exact bitwise rule of DeepGEMM's ceil_to_ue8m0 (spec §2): exponent field + 1 when any
 *   mantissa bit is set, clamped to 1…254; it returns the byte and the power-of-two float32 scale.
 * - `castToUe8m0` mirrors PyTorch's x.to(torch.float8_e8m0fnu) (rounds up to the next power of two).
 */
import { f32Bits, fround } from './float32';

export const decodeUe8m0 = (b: number): number => ((b & 0xff) === 0xff ? NaN : 2 ** ((b & 0xff) - 127));

export interface Ue8m0Scale {
  byte: number;
  scale: number;
}

export function ceilScaleToUe8m0(s: number): Ue8m0Scale {
  const bits = f32Bits(s);
  let e = (bits >>> 23) & 0xff;
  if ((bits & 0x7fffff) !== 0) e += 1;
  e = Math.min(254, Math.max(1, e));
  return { byte: e, scale: 2 ** (e - 127) };
}

/** Exponent byte of a positive power-of-two float32 (bits 23–30); throws nothing, callers validate. */
export const exponentByte = (powerOfTwo: number): number => (f32Bits(powerOfTwo) >>> 23) & 0xff;

export const isPowerOfTwoF32 = (s: number): boolean => {
  const bits = f32Bits(s);
  return s > 0 && Number.isFinite(s) && (bits & 0x7fffff) === 0 && ((bits >>> 23) & 0xff) !== 0;
};

export function castToUe8m0(x: number): number {
  const v = fround(x);
  if (Number.isNaN(v) || v === Infinity) return 0xff;
  if (v <= 0 || v === -Infinity) return 0xff;
  const bits = f32Bits(v);
  let e = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (e === 0) {
    // subnormal float32: round up to the next power of two
    const lz = Math.clz32(mant) - 9; // leading zeros inside the 23-bit field
    const p = 22 - lz; // value = mant·2^-149, highest set bit p → 2^(p-149)
    const exact = (mant & (mant - 1)) === 0;
    const exp = p - 149 + (exact ? 0 : 1);
    return Math.max(0, exp + 127);
  }
  if (mant !== 0) e += 1;
  return Math.min(e, 0xff);
}
