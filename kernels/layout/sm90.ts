/**
 * SM90 (Hopper) activation scales: float32, MN-major, TMA-aligned — DeepGEMM's get_mn_major_tma_aligned_tensor
 * (docs/layouts-and-stages.md §4.3). Element (g, m, j) lives at g·(mnₐ·sfK) + j·mnₐ + m, mnₐ = align(mn, 4). Like DeepGEMM's empty_strided,
 * only the strided extent is allocated (the padding after the last column does not exist); the pad slots that do
 * exist are filled with NaN so that a kernel reading them shows up as NaN instead of a plausible number.
 */
import { MoeError, shapeStr } from '../errors';
import { stridedExtent, Tensor } from '../tensor';
import { tmaAlignedSize } from './tma';

/** float32, rank 2 or 3: the inputs every activation-scale transform accepts */
export function checkScaleInput(sf: Tensor, what: string): void {
  if (sf.dtype !== 'f32')
    throw new MoeError('E_DTYPE', `${sf.name || 'scales'}: ${what} expects float32 scales, got ${sf.dtype}`, sf.name);
  if (sf.rank !== 2 && sf.rank !== 3)
    throw new MoeError('E_SHAPE', `${sf.name || 'scales'}: ${what} expects (mn, kBlocks) or (groups, mn, kBlocks), got shape ${shapeStr(sf.shape)}`, sf.name);
}

/** SM90 strides of a (groups?, mn, sfK) tensor */
export function sm90Strides(shape: readonly number[]): number[] {
  const mn = shape[shape.length - 2]!;
  const sfK = shape[shape.length - 1]!;
  const mnA = tmaAlignedSize(mn, 4);
  return shape.length === 3 ? [mnA * sfK, 1, mnA] : [1, mnA];
}

/** DeepGEMM's in-place acceptance test: a float32 scale tensor with exactly these strides is used as it is (§2.3). */
export function isSm90Ready(sf: Tensor): boolean {
  if (sf.dtype !== 'f32' || (sf.rank !== 2 && sf.rank !== 3)) return false;
  const want = sm90Strides(sf.shape);
  return sf.strides.every((s, i) => s === want[i]);
}

export function toSm90ActScales(sf: Tensor<'f32'>): Tensor<'f32'> {
  checkScaleInput(sf, 'toSm90ActScales');
  // DeepGEMM returns the input itself when it already has the target strides
  if (isSm90Ready(sf)) return sf;
  const shape = [...sf.shape];
  const strides = sm90Strides(shape);
  const out = new Float32Array(stridedExtent(shape, strides)).fill(NaN);
  const groups = shape.length === 3 ? shape[0]! : 1;
  const mn = shape[shape.length - 2]!;
  const sfK = shape[shape.length - 1]!;
  const [gs, ms, ks] = sf.rank === 3 ? sf.strides : [0, ...sf.strides];
  const gOut = shape.length === 3 ? strides[0]! : 0;
  const kOut = strides[strides.length - 1]!;
  const src = sf.storage;
  for (let g = 0; g < groups; g++)
    for (let m = 0; m < mn; m++)
      for (let j = 0; j < sfK; j++) out[g * gOut + j * kOut + m] = src[sf.offset + g * gs! + m * ms! + j * ks!]!;
  return new Tensor('f32', shape, out, strides, 0, sf.name);
}
