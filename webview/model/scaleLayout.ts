/**
 * Index math of a scale tensor as the engine laid it out, for drawing: which storage slot (and byte of a packed word)
 * holds each logical scale, and what each storage slot is (data, allocated but not addressed — TMA padding —,
 * a zero byte of a packed word, or not allocated). Everything comes from the tensor's layout descriptor
 * (kernels/layout/descriptor.ts: shape, strides, offset, storage size, padded MN, packing, element bytes), never
 * from the architecture or the tensor's name, so the picture is the layout the engine produced and cannot disagree
 * with it. Pure functions over a few integers: a 256 × 32 × 56 tensor (or a 14.7 M-word packed one) is never
 * materialised, the views ask for the cells they draw.
 */
import type { LayoutDescriptor } from '../../kernels/layout/descriptor';
import { MoeError, shapeStr } from '../../kernels/errors';
import { decodeUe8m0 } from '../../kernels/dtypes/ue8m0';

/** What a scale multiplies (words only: the layout never depends on it). */
export type ScaleKind = 'activation' | 'weight';

/** One scale tensor of a trace: its logical values and its layout descriptor. */
export interface ScaleTensor {
  name: string;
  kind: ScaleKind;
  /** logical extents: groups (experts; 1 for a 2-D tensor), rows (MN or MN-blocks), K-blocks */
  groups: number;
  rows: number;
  kBlocks: number;
  /** logical scale values, row-major (groups, rows, kBlocks); a packed tensor's bytes decoded (2^(e−127)) */
  values: ArrayLike<number>;
  /** how the tensor sits in storage (packed: its shape counts words along the packed dim) */
  layout: LayoutDescriptor;
  /** the block one scale covers, for words: rows × K elements (1 × 128 for activations, 128 × 128 for weights) */
  block: { rows: number; k: number };
}

export type SlotKind = 'data' | 'pad' | 'unalloc';
export type ByteKind = 'data' | 'kpad';

/** A stored dimension in decomposition order (largest stride first). */
interface StoredDim {
  dim: 0 | 1 | 2;
  extent: number;
  stride: number;
}

export interface ScaleLayout {
  tensor: ScaleTensor;
  /** several logical values per storage word (packed UE8M0) */
  packed: boolean;
  /** logical values per word (1 unless packed) */
  perWord: number;
  /** extents of the stored (groups, rows, cols) tensor: cols are words when packed */
  storageRows: number;
  storageCols: number;
  /** the MN extent the layout pads to (TMA alignment), or storageRows */
  paddedRows: number;
  order: LayoutDescriptor['order'];
  /** element strides of the stored (groups, rows, cols) tensor (a 2-D tensor's group stride spans it all) */
  strides: [number, number, number];
  offset: number;
  /** storage slots allocated / addressed by the logical shape */
  allocated: number;
  addressed: number;
  /** slots drawn: the allocation plus the unallocated tail that completes the layout's last padded line */
  drawn: number;
  /** slots per group tile of the storage picture (the group stride of a 3-D tensor, else everything drawn) */
  groupSlots: number;
  itemBytes: number;
  /** one-line description for chips and legends (the descriptor's) */
  summary: string;
  dims: readonly StoredDim[];
}

/** Logical and stored extents of a scale tensor from its descriptor, or a MoeError naming what the views cannot draw. */
function extentsOf(name: string, layout: LayoutDescriptor): { groups: number; rows: number; cols: number; kBlocks: number } {
  const s = layout.shape;
  if (s.length !== 2 && s.length !== 3) throw new MoeError('E_SHAPE', `${name}: the scale view draws 2-D (rows, K-blocks) or 3-D (groups, rows, K-blocks) tensors, got shape ${shapeStr(s)}`, name);
  const groups = s.length === 3 ? s[0]! : 1;
  const rows = s[s.length - 2]!;
  const cols = s[s.length - 1]!;
  const p = layout.packing;
  if (p && p.alongDim !== s.length - 1)
    throw new MoeError('E_LAYOUT', `${name}: packed along dim ${p.alongDim}; the scale view draws packing along the last (K) dim only`, name);
  const kBlocks = p ? p.logicalExtent : cols;
  if (p && kBlocks > cols * p.perWord)
    throw new MoeError('E_LAYOUT', `${name}: ${kBlocks} packed values do not fit ${cols} words of ${p.perWord}`, name);
  return { groups, rows, cols, kBlocks };
}

/** Builds a ScaleTensor's logical values from the tensor's values in its own logical order (words when packed). */
export function scaleTensorOf(name: string, kind: ScaleKind, layout: LayoutDescriptor, raw: ArrayLike<number>, block: ScaleTensor['block']): ScaleTensor {
  const { groups, rows, cols, kBlocks } = extentsOf(name, layout);
  if (raw.length !== groups * rows * cols)
    throw new MoeError('E_SHAPE', `${name}: shape ${shapeStr(layout.shape)} needs ${groups * rows * cols} values, got ${raw.length}`, name);
  const p = layout.packing;
  if (!p) return { name, kind, groups, rows, kBlocks: cols, values: raw, layout, block };
  // unpack: K-block j of (g, r) is byte j % perWord of word j / perWord, low byte first
  const values = new Float32Array(groups * rows * kBlocks);
  for (let gr = 0; gr < groups * rows; gr++)
    for (let j = 0; j < kBlocks; j++) values[gr * kBlocks + j] = decodeUe8m0(raw[gr * cols + Math.floor(j / p.perWord)]! >>> (8 * (j % p.perWord)));
  return { name, kind, groups, rows, kBlocks, values, layout, block };
}

/** `n` values nobody sent: every index reads NaN, nothing is allocated (a DeepSeek-V3 SM100 weight scale is 58 M). */
function unknownValues(n: number): ArrayLike<number> {
  return new Proxy({ length: n } as ArrayLike<number>, { get: (target, key) => (key === 'length' ? n : typeof key === 'string' ? NaN : Reflect.get(target, key)) });
}

/**
 * A scale tensor's geometry without its values: what a layout picture needs (the Compare view draws two runs'
 * storage orders from their descriptors alone, at any size). Its values read NaN: colour it by position, not value.
 */
export function scaleGeometryOf(name: string, kind: ScaleKind, layout: LayoutDescriptor, block: ScaleTensor['block']): ScaleTensor {
  const { groups, rows, kBlocks } = extentsOf(name, layout);
  return { name, kind, groups, rows, kBlocks, values: unknownValues(groups * rows * kBlocks), layout, block };
}

export function validateScaleTensor(t: ScaleTensor): void {
  const dims = [t.groups, t.rows, t.kBlocks];
  if (dims.some((d) => !Number.isInteger(d) || d <= 0))
    throw new MoeError('E_SHAPE', `${t.name}: scale tensor needs positive integer (groups, rows, K-blocks), got ${shapeStr(dims)}`, t.name);
  const n = t.groups * t.rows * t.kBlocks;
  if (t.values.length !== n) throw new MoeError('E_SHAPE', `${t.name}: shape ${shapeStr(dims)} needs ${n} values, got ${t.values.length}`, t.name);
}

/** The storage picture's geometry from the descriptor. Refuses layouts whose strides overlap (nothing to draw). */
export function scaleLayout(tensor: ScaleTensor): ScaleLayout {
  validateScaleTensor(tensor);
  const L = tensor.layout;
  const r = L.shape.length;
  const stored = r === 3 ? [L.shape[0]!, L.shape[1]!, L.shape[2]!] : [1, L.shape[0]!, L.shape[1]!];
  const st = r === 3 ? [L.strides[0]!, L.strides[1]!, L.strides[2]!] : [0, L.strides[0]!, L.strides[1]!];
  // decomposition order: a slot's coordinate along the largest stride first (dims of extent 1 take no part)
  const dims: StoredDim[] = ([0, 1, 2] as const).filter((d) => stored[d]! > 1).map((d) => ({ dim: d, extent: stored[d]!, stride: st[d]! }));
  dims.sort((a, b) => b.stride - a.stride);
  for (let i = 0; i + 1 < dims.length; i++) {
    const outer = dims[i]!;
    const inner = dims[i + 1]!;
    if (outer.stride < inner.extent * inner.stride)
      throw new MoeError('E_LAYOUT', `${tensor.name}: strides ${shapeStr(L.strides)} for shape ${shapeStr(L.shape)} overlap; the scale view draws non-overlapping layouts only`, tensor.name);
  }
  const span = dims.length ? dims[0]!.extent * dims[0]!.stride : 1;
  const drawn = Math.max(L.storageElems, L.offset + span);
  const packed = !!L.packing;
  const groupSlots = r === 3 && stored[0]! > 1 && dims[0]?.dim === 0 ? st[0]! : drawn;
  const paddedRows = L.paddedMN ?? stored[1]!;
  return {
    tensor, packed, perWord: L.packing?.perWord ?? 1,
    storageRows: stored[1]!, storageCols: stored[2]!, paddedRows,
    order: L.order, strides: [r === 3 ? st[0]! : groupSlots, st[1]!, st[2]!], offset: L.offset,
    allocated: L.storageElems, addressed: L.addressedElems, drawn, groupSlots, itemBytes: L.itemBytes, summary: L.summary, dims,
  };
}

/** Storage slot of a stored element (g, stored row, stored col). */
export const slotOf = (L: ScaleLayout, g: number, r: number, c: number): number => L.offset + g * L.strides[0] + r * L.strides[1] + c * L.strides[2];

export interface StorageRef {
  slot: number;
  /** byte within the word (packed layouts only) */
  byte?: number;
}

/** Where logical scale (g, r, j) is stored. */
export function storageOfLogical(L: ScaleLayout, g: number, r: number, j: number): StorageRef[] {
  if (!L.packed) return [{ slot: slotOf(L, g, r, j) }];
  return [{ slot: slotOf(L, g, r, Math.floor(j / L.perWord)), byte: j % L.perWord }];
}

export interface SlotInfo {
  kind: SlotKind;
  /** stored coordinates when the slot is addressed */
  group: number;
  row: number;
  col: number;
  /** for an unaddressed slot: the stored dim whose coordinate runs past its extent (e.g. the padded MN dim) */
  overDim?: 0 | 1 | 2;
}

/**
 * What storage slot `s` is (0 ≤ s < drawn): the stored coordinates it holds, by peeling off the coordinate along each
 * stride from the largest down; a coordinate past its extent, or a remainder no stride reaches, means no logical
 * element lives there.
 */
export function slotInfo(L: ScaleLayout, s: number, out: SlotInfo = { kind: 'data', group: 0, row: 0, col: 0 }): SlotInfo {
  out.group = 0;
  out.row = 0;
  out.col = 0;
  out.overDim = undefined;
  if (s >= L.allocated) {
    out.kind = 'unalloc';
    return out;
  }
  let q = s - L.offset;
  if (q < 0) {
    out.kind = 'pad';
    return out;
  }
  for (const d of L.dims) {
    const i = Math.floor(q / d.stride);
    if (i >= d.extent) {
      out.kind = 'pad';
      out.overDim = d.dim;
      return out;
    }
    q -= i * d.stride;
    if (d.dim === 0) out.group = i;
    else if (d.dim === 1) out.row = i;
    else out.col = i;
  }
  out.kind = q === 0 ? 'data' : 'pad';
  return out;
}

export interface LogicalRef {
  group: number;
  row: number;
  kBlock: number;
}

/** The logical scale a stored element (or byte of a packed word) holds, or why it holds none. */
export function logicalOfStorage(L: ScaleLayout, s: number, byte = 0): { kind: SlotKind | ByteKind; ref?: LogicalRef } {
  const info = slotInfo(L, s);
  if (info.kind !== 'data') return { kind: info.kind };
  if (!L.packed) return { kind: 'data', ref: { group: info.group, row: info.row, kBlock: info.col } };
  const j = info.col * L.perWord + byte;
  if (j >= L.tensor.kBlocks) return { kind: 'kpad' };
  return { kind: 'data', ref: { group: info.group, row: info.row, kBlock: j } };
}

export const logicalIndex = (t: ScaleTensor, g: number, r: number, j: number): number => (g * t.rows + r) * t.kBlocks + j;

/** The UE8M0 exponent byte of a power-of-two scale (what a packed word stores for it). */
export function ue8m0ByteOf(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 0;
  return Math.max(0, Math.min(254, Math.round(Math.log2(v)) + 127));
}

/** The word a packed slot holds (little-endian: K-block perWord·w + i in byte i), 0 for padding. */
export function packedWord(L: ScaleLayout, s: number): number {
  let word = 0;
  for (let b = 0; b < L.perWord; b++) {
    const r = logicalOfStorage(L, s, b);
    if (r.ref) word |= ue8m0ByteOf(L.tensor.values[logicalIndex(L.tensor, r.ref.group, r.ref.row, r.ref.kBlock)]!) << (8 * b);
  }
  return word | 0;
}

/** The data a logical scale multiplies, in words. */
export function scaledBlock(t: ScaleTensor, ref: LogicalRef): string {
  const k0 = ref.kBlock * t.block.k;
  const k = `K ${k0}…${k0 + t.block.k - 1}`;
  if (t.block.rows === 1) return `${t.groups > 1 ? `expert ${ref.group}, ` : ''}row ${ref.row}, ${k} (1×${t.block.k} group)`;
  const n0 = ref.row * t.block.rows;
  return `${t.groups > 1 ? `expert ${ref.group}, ` : ''}N ${n0}…${n0 + t.block.rows - 1} × ${k} (${t.block.rows}×${t.block.k} block)`;
}
