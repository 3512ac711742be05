/**
 * SM100 (Blackwell) scales: packed UE8M0, MN-major, TMA-aligned — DeepGEMM's
 * get_mn_major_tma_aligned_packed_ue8m0_tensor (docs/layouts-and-stages.md §4.4). Byte j (least significant first) of word w holds the
 * exponent byte of K-block 4w+j; K-blocks past the end give byte 0; words are MN-major with mn padded to
 * align(mn, 4). The whole padded buffer is allocated and its pads are zero, as DeepGEMM's reference does.
 * Values must already be positive powers of two: DeepGEMM's CUDA packer traps on anything else and its PyTorch
 * fallback silently floors the scale (vLLM's B200 accuracy bug), so we refuse and say how to fix it.
 */
import { exponentByte, isPowerOfTwoF32 } from '../dtypes/ue8m0';
import { MoeError } from '../errors';
import { Tensor } from '../tensor';
import { checkScaleInput } from './sm90';
import { ceilDiv, tmaAlignedSize } from './tma';

/** SM100 packed shape and strides of a (groups?, mn, sfK) float scale tensor */
export function sm100PackedGeometry(shape: readonly number[]): { shape: number[]; strides: number[]; storageElems: number } {
  const g = shape.length === 3 ? shape[0]! : 1;
  const mn = shape[shape.length - 2]!;
  const words = ceilDiv(shape[shape.length - 1]!, 4);
  const mnA = tmaAlignedSize(mn, 4);
  const outShape = shape.length === 3 ? [g, mn, words] : [mn, words];
  const strides = shape.length === 3 ? [mnA * words, 1, mnA] : [1, mnA];
  return { shape: outShape, strides, storageElems: g * mnA * words };
}

export function toSm100PackedUe8m0(sf: Tensor<'f32'>): Tensor<'i32'> {
  checkScaleInput(sf, 'toSm100PackedUe8m0');
  const geo = sm100PackedGeometry(sf.shape);
  const out = new Int32Array(geo.storageElems);
  const groups = sf.rank === 3 ? sf.shape[0]! : 1;
  const mn = sf.shape[sf.rank - 2]!;
  const sfK = sf.shape[sf.rank - 1]!;
  const [gs, ms, ks] = sf.rank === 3 ? sf.strides : [0, ...sf.strides];
  const gOut = sf.rank === 3 ? geo.strides[0]! : 0;
  const wOut = geo.strides[geo.strides.length - 1]!;
  const src = sf.storage;
  for (let g = 0; g < groups; g++)
    for (let m = 0; m < mn; m++)
      for (let j = 0; j < sfK; j++) {
        const v = src[sf.offset + g * gs! + m * ms! + j * ks!]!;
        if (!isPowerOfTwoF32(v)) {
          const at = sf.rank === 3 ? `[${g}, ${m}, ${j}]` : `[${m}, ${j}]`;
          throw new MoeError(
            'E_VALUE',
            `${sf.name || 'scales'}${at} = ${v} is not a positive power of two: packed UE8M0 (SM100) stores only the exponent. ` +
              'Round the scales up to powers of two first (UE8M0 round-up, ceilScaleToUe8m0 / scaleFormat "ue8m0") and re-quantize with them; ' +
              'truncating the exponent would silently change the values',
            sf.name,
          );
        }
        out[g * gOut + (j >> 2) * wOut + m]! |= exponentByte(v) << (8 * (j & 3));
      }
  return new Tensor('i32', geo.shape, out, geo.strides, 0, sf.name);
}

/** Whether an int32 tensor already has the packed SM100 strides DeepGEMM validates (MN-contiguous, TMA-aligned). */
export function isSm100PackedReady(sf: Tensor): boolean {
  if (sf.dtype !== 'i32' || (sf.rank !== 2 && sf.rank !== 3)) return false;
  const r = sf.rank;
  const mn = sf.shape[r - 2]!;
  const mnOk = sf.strides[r - 2] === 1 || mn === 1;
  const kOk = sf.strides[r - 1] === tmaAlignedSize(mn, 4);
  const gOk = r === 2 || sf.strides[0] === sf.strides[r - 1]! * sf.shape[r - 1]!;
  return mnOk && kOk && gOk;
}
