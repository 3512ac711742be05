/**
 * TMA alignment: a TMA descriptor's global strides must be multiples of 16 bytes, so the stride between consecutive
 * K-block columns of an MN-major scale tensor is the MN extent rounded up to 16 / element-size elements
 * (DeepGEMM get_tma_aligned_size; docs/layouts-and-stages.md §2.3).
 */
import { MoeError } from '../errors';

export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);
export const alignUp = (x: number, a: number): number => Math.ceil(x / a) * a;

export function tmaAlignedSize(x: number, elemBytes: number): number {
  if (!Number.isInteger(elemBytes) || elemBytes <= 0 || 16 % elemBytes !== 0)
    throw new MoeError('E_VALUE', `TMA alignment: element size must divide 16 bytes, got ${elemBytes}`);
  if (!Number.isInteger(x) || x < 0) throw new MoeError('E_VALUE', `TMA alignment: extent must be a non-negative integer, got ${x}`);
  return alignUp(x, 16 / elemBytes);
}
