/**
 * UE8M0: one unsigned exponent byte b, value 2^(b−127) (0xFF is NaN in torch.float8_e8m0fnu).
 * - `ceilScaleToUe8m0` is the exact bitwise rule of DeepGEMM's ceil_to_ue8m0 (docs/layouts-and-stages.md §2): exponent field + 1 when any
 *   mantissa bit is set, clamped to 1…254; it returns the byte and the power-of-two float32 scale.
 * - `castToUe8m0` mirrors PyTorch's x.to(torch.float8_e8m0fnu) (rounds to the nearest power of two, halves up).
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

/**
 * PyTorch's x.to(torch.float8_e8m0fnu), exact on all 1044 golden inputs (all positive): the sign bit is ignored, NaN and
 * ±inf give 0xFF, and the exponent is rounded to NEAREST on a linear scale (the mantissa is the guard/round/sticky
 * bits, the implied leading 1 is the LSB): mantissa ≥ 0.5 rounds up (0.75→1, 1.5→2, 3→4, but 2.83→2, 9.2→8).
 * It is NOT a round-up: scales for quantization use ceilScaleToUe8m0.
 */
export function castToUe8m0(x: number): number {
  const bits = f32Bits(fround(x));
  let e = (bits >>> 23) & 0xff;
  if (e === 0xff) return 0xff;
  const guard = (bits & 0x400000) !== 0;
  const roundOrSticky = (bits & 0x3fffff) !== 0;
  const lsb = e !== 0; // implied mantissa bit: 1 for normal floats, 0 for subnormals (ties then stay down)
  if (guard && (roundOrSticky || lsb)) e += 1;
  return e;
}
