/**
 * Index math of the scale-factor layouts the kernels want (spec §3), for drawing: which storage slot (and byte)
 * holds each logical scale, and what each storage slot is (data, TMA padding, zero-padded K-block byte, or not
 * allocated). Pure functions over a few integers, so a 256 × 32 × 56 weight-scale tensor (or its 14.7 M-word SM100
 * broadcast) is never materialised: the views ask for the cells they draw.
 */
import type { Arch } from '../../kernels/spec';
import { MoeError, shapeStr } from '../../kernels/errors';
import { ceilScaleToUe8m0, exponentByte, isPowerOfTwoF32 } from '../../kernels/dtypes/ue8m0';

export type ScaleKind = 'activation' | 'weight';

/** Logical scales, row-major values of shape (groups, rows, kBlocks). */
export interface ScaleTensor {
  name: string;
  kind: ScaleKind;
  groups: number;
  rows: number;
  kBlocks: number;
  values: ArrayLike<number>;
}

export type SlotKind = 'data' | 'pad' | 'unalloc';
export type ByteKind = 'data' | 'kpad';

export interface ScaleLayout {
  arch: Arch;
  tensor: ScaleTensor;
  /** true when storage holds packed UE8M0 int32 words (SM100) */
  packed: boolean;
  /** rows of the stored tensor per group: rows, or rows·128 for SM100 weights (broadcast to one row per N) */
  storageRows: number;
  /** storageRows padded for TMA (multiple of 4) where the layout is MN-major */
  paddedRows: number;
  /** columns of the stored tensor: kBlocks, or ⌈kBlocks/4⌉ words */
  storageCols: number;
  /** 'mn-major': row index is the contiguous one; 'row-major': the K index is */
  order: 'mn-major' | 'row-major';
  /** strides (elements) of the stored (groups, storageRows, storageCols) tensor */
  strides: [number, number, number];
  /** storage slots allocated */
  allocated: number;
  /** storage slots addressed by the stored tensor's shape */
  addressed: number;
  /** slots drawn: allocated plus, for SM90, the unallocated tail that completes the last padded column */
  drawn: number;
  itemBytes: 4;
  /** one-line description for chips and legends */
  summary: string;
  /** values that are not powers of two were rounded up to pack them (SM100), counted here */
  roundedUp: number;
}

const align = (x: number, a: number): number => Math.ceil(x / a) * a;

export function validateScaleTensor(t: ScaleTensor): void {
  const dims = [t.groups, t.rows, t.kBlocks];
  if (dims.some((d) => !Number.isInteger(d) || d <= 0))
    throw new MoeError('E_SHAPE', `${t.name}: scale tensor needs positive integer (groups, rows, K-blocks), got ${shapeStr(dims)}`, t.name);
  const n = t.groups * t.rows * t.kBlocks;
  if (t.values.length !== n)
    throw new MoeError('E_SHAPE', `${t.name}: shape ${shapeStr(dims)} needs ${n} values, got ${t.values.length}`, t.name);
}

export function scaleLayout(tensor: ScaleTensor, arch: Arch): ScaleLayout {
  validateScaleTensor(tensor);
  const { groups: G, rows: R, kBlocks: KB, kind } = tensor;
  if (arch === 'sm90') {
    if (kind === 'weight') {
      // Weight block scales are used as they are on SM90 (spec §3): row-major, no padding.
      const n = G * R * KB;
      return {
        arch, tensor, packed: false, storageRows: R, paddedRows: R, storageCols: KB, order: 'row-major',
        strides: [R * KB, KB, 1], allocated: n, addressed: n, drawn: n, itemBytes: 4, roundedUp: 0,
        summary: `float32 (${G}, ${R}, ${KB}) row-major, used as is on SM90`,
      };
    }
    const Ma = align(R, 4);
    // DeepGEMM allocates only the strided extent: the last column's padding is not allocated.
    const allocated = 1 + (G - 1) * Ma * KB + (KB - 1) * Ma + (R - 1);
    return {
      arch, tensor, packed: false, storageRows: R, paddedRows: Ma, storageCols: KB, order: 'mn-major',
      strides: [Ma * KB, 1, Ma], allocated, addressed: G * R * KB, drawn: G * Ma * KB, itemBytes: 4, roundedUp: 0,
      summary: `float32 MN-major, TMA-aligned (rows ${R}→${Ma}), strides (${G > 1 ? `${Ma * KB}, ` : ''}1, ${Ma})`,
    };
  }
  const rows = kind === 'weight' ? R * 128 : R;
  const Ma = align(rows, 4);
  const W = Math.ceil(KB / 4);
  let roundedUp = 0;
  for (let i = 0; i < tensor.values.length; i++) if (!isPowerOfTwoF32(tensor.values[i]!)) roundedUp++;
  const n = G * Ma * W;
  return {
    arch, tensor, packed: true, storageRows: rows, paddedRows: Ma, storageCols: W, order: 'mn-major',
    strides: [Ma * W, 1, Ma], allocated: n, addressed: G * rows * W, drawn: n, itemBytes: 4, roundedUp,
    summary: `packed UE8M0 int32 (${G > 1 ? `${G}, ` : ''}${rows}, ${W}) MN-major${kind === 'weight' ? ', broadcast to one row per N' : ''}, K-blocks ${KB}→${W * 4}`,
  };
}

/** Storage slot of a stored element (g, storage row, storage col). */
export const slotOf = (L: ScaleLayout, g: number, r: number, c: number): number => g * L.strides[0] + r * L.strides[1] + c * L.strides[2];

export interface StorageRef {
  slot: number;
  /** byte within the int32 word (packed layouts only) */
  byte?: number;
}

/** Where logical scale (g, r, j) is stored: one slot (or byte), or 128 bytes for SM100 weights (one per N row). */
export function storageOfLogical(L: ScaleLayout, g: number, r: number, j: number): StorageRef[] {
  if (!L.packed) return [{ slot: slotOf(L, g, r, j) }];
  const w = j >> 2;
  const byte = j & 3;
  if (L.tensor.kind === 'activation') return [{ slot: slotOf(L, g, r, w), byte }];
  const out: StorageRef[] = [];
  for (let n = r * 128; n < r * 128 + 128; n++) out.push({ slot: slotOf(L, g, n, w), byte });
  return out;
}

export interface SlotInfo {
  kind: SlotKind;
  group: number;
  /** stored row (for SM100 weights: N index) and stored column (K-block or word) when the slot is addressed */
  row: number;
  col: number;
}

/** What storage slot `s` is. Valid for 0 ≤ s < drawn. */
export function slotInfo(L: ScaleLayout, s: number): SlotInfo {
  const g = Math.floor(s / L.strides[0]);
  const rem = s - g * L.strides[0];
  let row: number;
  let col: number;
  if (L.order === 'row-major') {
    row = Math.floor(rem / L.storageCols);
    col = rem - row * L.storageCols;
  } else {
    col = Math.floor(rem / L.paddedRows);
    row = rem - col * L.paddedRows;
  }
  const kind: SlotKind = s >= L.allocated ? 'unalloc' : row >= L.storageRows ? 'pad' : 'data';
  return { kind, group: g, row, col };
}

export interface LogicalRef {
  group: number;
  row: number;
  kBlock: number;
}

/** The logical scale a stored element (or byte of a packed word) holds, or the reason it holds none. */
export function logicalOfStorage(L: ScaleLayout, s: number, byte = 0): { kind: SlotKind | ByteKind; ref?: LogicalRef } {
  const info = slotInfo(L, s);
  if (info.kind !== 'data') return { kind: info.kind };
  if (!L.packed) return { kind: 'data', ref: { group: info.group, row: info.row, kBlock: info.col } };
  const j = info.col * 4 + byte;
  if (j >= L.tensor.kBlocks) return { kind: 'kpad' };
  const row = L.tensor.kind === 'weight' ? Math.floor(info.row / 128) : info.row;
  return { kind: 'data', ref: { group: info.group, row, kBlock: j } };
}

export const logicalIndex = (t: ScaleTensor, g: number, r: number, j: number): number => (g * t.rows + r) * t.kBlocks + j;

/** The UE8M0 exponent byte stored for a scale (rounded up to a power of two when it is not one). */
export function ue8m0ByteOf(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 0;
  return isPowerOfTwoF32(v) ? exponentByte(v) : ceilScaleToUe8m0(v).byte;
}

/** The int32 word value of a packed slot (little-endian: K-block 4w+i in byte i), or 0 for padding. */
export function packedWord(L: ScaleLayout, s: number): number {
  let word = 0;
  for (let b = 0; b < 4; b++) {
    const r = logicalOfStorage(L, s, b);
    if (r.ref) word |= ue8m0ByteOf(L.tensor.values[logicalIndex(L.tensor, r.ref.group, r.ref.row, r.ref.kBlock)]!) << (8 * b);
  }
  return word | 0;
}

/** The data a logical scale multiplies, in words. */
export function scaledBlock(t: ScaleTensor, ref: LogicalRef): string {
  const k0 = ref.kBlock * 128;
  if (t.kind === 'activation')
    return `${t.groups > 1 ? `group ${ref.group}, ` : ''}row ${ref.row}, K ${k0}…${k0 + 127} (1×128 group)`;
  const n0 = ref.row * 128;
  return `expert ${ref.group}, N ${n0}…${n0 + 127} × K ${k0}…${k0 + 127} (128×128 block)`;
}
