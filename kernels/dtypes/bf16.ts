/** BF16: the upper 16 bits of a float32, rounded to nearest even; NaN stays a (quiet) NaN with its sign. */
import { bitsToF32, f32Bits } from './float32';

export function encodeBf16(x: number): number {
  const bits = f32Bits(x);
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return ((bits >>> 16) | 0x40) & 0xffff;
  const rounded = bits + 0x7fff + ((bits >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export const decodeBf16 = (h: number): number => bitsToF32((h & 0xffff) << 16);

/** fl_bf16(x): the float value after a round trip through BF16 */
export const roundBf16 = (x: number): number => decodeBf16(encodeBf16(x));
