/**
 * Describes how a tensor sits in its storage, in the terms the scale view draws: storage order, the padded MN
 * extent, allocated versus addressed slots, and packing. Derived from strides and storage only, never from a name.
 */
import type { DType } from '../dtypes/index';
import { shapeStr } from '../errors';
import type { Tensor } from '../tensor';
import type { LayoutDescriptor, Packing, StorageOrder } from './descriptor';
import { expertPagesOf } from '../expertPages';

const DTYPE_WORDS: Record<DType, string> = {
  f32: 'float32',
  bf16: 'bfloat16',
  f8e4m3fn: 'fp8 e4m3fn',
  ue8m0: 'ue8m0',
  i32: 'int32',
  i64: 'int64',
  u8: 'uint8',
  i8: 'int8',
  i4x2: 'int4×2',
};

export function describeLayout(t: Tensor, hints?: { mnDim?: number; packing?: Packing }): LayoutDescriptor {
  const r = t.rank;
  const mnDim = hints?.mnDim ?? r - 2;
  const shape = [...t.shape];
  const strides = [...t.strides];
  const addressedElems = t.numel;
  let order: StorageOrder = 'strided';
  let paddedMN: number | undefined;
  // MN-major with the MN extent padded, where every other dim has extent 1: the tensor reads as contiguous, but its
  // K stride still says how far the kernel padded MN (one K-block of packed scales: (M, 1) strides (1, align(M, 4)))
  const degeneratePad =
    r >= 2 && mnDim >= 0 && mnDim < r && shape[mnDim]! > 1 && strides[mnDim] === 1 &&
    shape.every((d, i) => i === mnDim || d === 1) && Math.min(...strides.filter((_, i) => i !== mnDim)) > shape[mnDim]!;
  if (degeneratePad) {
    order = 'mn-major';
    paddedMN = Math.min(...strides.filter((_, i) => i !== mnDim));
  } else if (t.isContiguous()) order = 'row-major';
  else if (r >= 2 && mnDim >= 0 && mnDim < r) {
    const mn = shape[mnDim]!;
    // MN-major: the MN index is fastest, and the next-fastest dim steps over at least the whole MN extent
    const others = strides.map((s, i) => ({ s, i, d: shape[i]! })).filter((x) => x.i !== mnDim && x.d > 1);
    const minOther = others.length ? Math.min(...others.map((x) => x.s)) : mn;
    if ((strides[mnDim] === 1 || mn <= 1) && minOther >= mn) {
      order = 'mn-major';
      if (others.length && minOther > mn) paddedMN = minOther;
    }
  }
  const packing = hints?.packing;
  const parts: string[] = [`${DTYPE_WORDS[t.dtype]} ${shapeStr(shape)}`];
  if (packing) parts.push(`packed ${packing.perWord} per word along dim ${packing.alongDim} (${packing.logicalExtent} values → ${Math.ceil(packing.logicalExtent / packing.perWord)} words, low byte first)`);
  if (order === 'row-major') parts.push('row-major');
  else if (order === 'mn-major') parts.push(paddedMN !== undefined ? `MN-major, TMA-aligned (MN padded ${shape[mnDim]}→${paddedMN})` : 'MN-major');
  else parts.push(`strided ${shapeStr(strides)}`);
  // a tensor made per expert has no one storage: its experts' pages, row-major, are exactly its elements
  const storageElems = expertPagesOf(t) ? t.numel : t.storage.length;
  parts.push(`${addressedElems} of ${storageElems} storage slots addressed`);
  return {
    order,
    shape,
    strides,
    offset: t.offset,
    storageElems,
    addressedElems,
    ...(paddedMN !== undefined ? { paddedMN } : {}),
    itemBytes: t.itemBytes,
    ...(packing ? { packing } : {}),
    summary: parts.join(', '),
  };
}
