/**
 * The two pictures of one scale tensor: logical order (rows × K-blocks, one tile per group/expert) and storage
 * order (the allocation as a memory dump: lines of `pitch` consecutive slots, packed words split into their
 * bytes). Everything a view needs — what is at a point, where a cell is, how to colour it — is index math here,
 * over the tensor's layout descriptor (model/scaleLayout.ts).
 */
import * as d3 from 'd3';
import type { Theme } from '../theme';
import { tileGrid, tileOrigin, hitTile, type TileGrid } from './grid';
import {
  scaleLayout, storageOfLogical, logicalOfStorage, logicalIndex, slotInfo, packedWord, ue8m0ByteOf, scaledBlock,
  type ScaleLayout, type ScaleTensor, type LogicalRef, type StorageRef,
} from '../model/scaleLayout';

export type CellKind = 'data' | 'pad' | 'kpad' | 'unalloc';

export interface PanelCell {
  kind: CellKind;
  logical?: LogicalRef;
  slot?: number;
  byte?: number;
}

export interface ScalePanels {
  layout: ScaleLayout;
  logical: TileGrid;
  storage: TileGrid;
  /** storage slots per drawn line */
  pitch: number;
  /** units per storage slot (one per byte of a packed word) */
  slotW: number;
  /** storage slots per storage tile (a group's stride, or the whole allocation) */
  groupSlots: number;
  /** tall groups are cut into bands drawn side by side: rows (logical) / lines (storage) per band, bands per group */
  lBand: number;
  lBands: number;
  sBand: number;
  sBands: number;
  /** storage lines per storage tile */
  lines: number;
}

/** Bands for a tall tile so that a 4096 × 56 tensor is not drawn as a sliver; band height a multiple of 32 when large. */
export function bandsFor(tileW: number, tileH: number): { band: number; bands: number } {
  if (tileH <= 6 * tileW || tileH <= 64) return { band: tileH, bands: 1 };
  let band = Math.ceil(tileH / Math.max(1, Math.round(Math.sqrt(tileH / (tileW * 1.5)))));
  if (band > 32) band = Math.ceil(band / 32) * 32;
  return { band, bands: Math.ceil(tileH / band) };
}

export function scalePanels(tensor: ScaleTensor, aspect = 0.8): ScalePanels {
  const layout = scaleLayout(tensor);
  const run = layout.order === 'mn-major' ? layout.paddedRows : layout.storageCols;
  // a line is one contiguous run (one MN-major column, one row) when it fits, else a memory-dump line: 32 bytes
  // of packed words (each byte drawn), 128 bytes of 4-byte slots
  const limit = layout.packed ? 8 : 64;
  const pitch = run <= limit ? run : layout.packed ? 8 : 32;
  const slotW = layout.perWord;
  const groupSlots = layout.groupSlots;
  const storageTiles = Math.ceil(layout.drawn / groupSlots);
  const lines = Math.ceil(groupSlots / pitch);
  const lb = bandsFor(tensor.kBlocks, tensor.rows);
  const sb = bandsFor(pitch * slotW, lines);
  return {
    layout,
    logical: tileGrid(tensor.groups * lb.bands, tensor.kBlocks, lb.band, aspect),
    storage: tileGrid(storageTiles * sb.bands, pitch * slotW, sb.band, aspect),
    pitch,
    slotW,
    groupSlots,
    lBand: lb.band,
    lBands: lb.bands,
    sBand: sb.band,
    sBands: sb.bands,
    lines,
  };
}

export function logicalAt(P: ScalePanels, u: number, v: number): PanelCell | null {
  const h = hitTile(P.logical, u, v);
  if (!h) return null;
  const group = Math.floor(h.tile / P.lBands);
  const row = (h.tile - group * P.lBands) * P.lBand + h.y;
  if (row >= P.layout.tensor.rows) return null;
  return { kind: 'data', logical: { group, row, kBlock: h.x } };
}

export function storageAt(P: ScalePanels, u: number, v: number): PanelCell | null {
  const h = hitTile(P.storage, u, v);
  if (!h) return null;
  const g = Math.floor(h.tile / P.sBands);
  const line = (h.tile - g * P.sBands) * P.sBand + h.y;
  const q = line * P.pitch + Math.floor(h.x / P.slotW);
  if (line >= P.lines || q >= P.groupSlots) return null;
  const slot = g * P.groupSlots + q;
  if (slot >= P.layout.drawn) return null;
  const byte = P.layout.packed ? h.x % P.slotW : undefined;
  const r = logicalOfStorage(P.layout, slot, byte ?? 0);
  return { kind: r.kind, logical: r.ref, slot, byte };
}

export function logicalRect(P: ScalePanels, ref: LogicalRef): [number, number, number, number] {
  const band = Math.floor(ref.row / P.lBand);
  const [ox, oy] = tileOrigin(P.logical, ref.group * P.lBands + band);
  return [ox + ref.kBlock, oy + ref.row - band * P.lBand, 1, 1];
}

export function storageRect(P: ScalePanels, slot: number, byte?: number): [number, number, number, number] {
  const g = Math.floor(slot / P.groupSlots);
  const q = slot - g * P.groupSlots;
  const line = Math.floor(q / P.pitch);
  const band = Math.floor(line / P.sBand);
  const [ox, oy] = tileOrigin(P.storage, g * P.sBands + band);
  const x = ox + (q % P.pitch) * P.slotW;
  const y = oy + line - band * P.sBand;
  return byte === undefined ? [x, y, P.slotW, 1] : [x + byte, y, 1, 1];
}

/** Storage cells to draw one by one (SVG): every drawn slot, or every byte of every drawn word. */
export function storageCellCount(P: ScalePanels): number {
  return P.layout.drawn * P.slotW;
}

export function storageCell(P: ScalePanels, i: number): PanelCell {
  const slot = P.layout.packed ? Math.floor(i / P.slotW) : i;
  const byte = P.layout.packed ? i % P.slotW : undefined;
  const r = logicalOfStorage(P.layout, slot, byte ?? 0);
  return { kind: r.kind, logical: r.ref, slot, byte };
}

// ---------------------------------------------------------------- colour

export interface ScaleColours {
  /** per logical value: 0…255 position on the ramp, ZERO_SCALE for 0, INVALID_SCALE for < 0, NaN, inf */
  index: Uint16Array;
  /** ramp (256 entries), then the zero and the invalid colour, as CSS colours */
  css: string[];
  /** the same as 0xAABBGGRR for ImageData */
  rgba: Uint32Array;
  lo: number;
  hi: number;
  /** how many scales are 0 (legend) */
  zeros: number;
}

export const ZERO_SCALE = 256;
export const INVALID_SCALE = 257;

/** Colours by log2 of the scale: scales are (near) powers of two, and their exponent is what a user compares. */
export function scaleColours(t: ScaleTensor, theme: Theme): ScaleColours {
  let lo = Infinity;
  let hi = -Infinity;
  const n = t.values.length;
  const logs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = t.values[i]!;
    const l = v > 0 && Number.isFinite(v) ? Math.log2(v) : NaN;
    logs[i] = l;
    if (l < lo) lo = l;
    if (l > hi) hi = l;
  }
  if (!(hi >= lo)) {
    lo = 0;
    hi = 0;
  }
  const span = hi - lo || 1;
  const index = new Uint16Array(n);
  let zeros = 0;
  for (let i = 0; i < n; i++) {
    if (t.values[i] === 0) zeros++;
    index[i] = t.values[i] === 0 ? ZERO_SCALE : Number.isNaN(logs[i]!) ? INVALID_SCALE : Math.round((255 * (logs[i]! - lo)) / span);
  }
  const css = rampCss(theme);
  const rgba = new Uint32Array(css.length);
  css.forEach((c, i) => (rgba[i] = toRgba(c)));
  return { index, css, rgba, lo, hi, zeros };
}

/** The colour table: 256 ramp entries (blue → yellow), then the colours of ZERO_SCALE and INVALID_SCALE. */
export function rampCss(theme: Theme): string[] {
  const ramp = d3.interpolateLab(theme.charts.blue, theme.charts.yellow);
  const css: string[] = [];
  for (let i = 0; i < 256; i++) css.push(d3.color(ramp(i / 255))!.formatHex());
  // a scale of 0 is a row never quantized (a masked buffer's rows past masked_m): quiet, not an alarm
  css.push(d3.color(theme.border)?.formatHex() ?? '#808080');
  css.push(d3.color(theme.charts.red)?.formatHex() ?? '#ff0000');
  return css;
}

export function toRgba(c: string): number {
  const r = d3.rgb(c);
  return ((255 << 24) | (Math.round(r.b) << 16) | (Math.round(r.g) << 8) | Math.round(r.r)) >>> 0;
}

// ---------------------------------------------------------------- words

export interface HoverInfo {
  panel: 'logical' | 'storage';
  title: string;
  lines: string[];
  logical?: LogicalRef;
  storage: StorageRef[];
}

export function formatScale(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v > 0) {
    const e = Math.log2(v);
    if (Number.isInteger(e)) return `2^${e} (${v.toExponential(3)})`;
  }
  return v.toExponential(4);
}

const hex = (n: number, w: number): string => '0x' + (n >>> 0).toString(16).toUpperCase().padStart(w, '0');

export function describeLogical(P: ScalePanels, ref: LogicalRef): HoverInfo {
  const t = P.layout.tensor;
  const v = t.values[logicalIndex(t, ref.group, ref.row, ref.kBlock)]!;
  const where = storageOfLogical(P.layout, ref.group, ref.row, ref.kBlock);
  const first = where[0]!;
  const addr = first.slot * P.layout.itemBytes + (first.byte ?? 0);
  const coord = t.groups > 1 ? `[${ref.group}, ${ref.row}, ${ref.kBlock}]` : `[${ref.row}, ${ref.kBlock}]`;
  const lines = [
    `value ${formatScale(v)}` + (P.layout.packed ? ` → UE8M0 byte ${hex(ue8m0ByteOf(v), 2)} (exponent ${ue8m0ByteOf(v) - 127})` : ''),
    `scales ${scaledBlock(t, ref)}`,
    `storage ${P.layout.packed ? `word ${first.slot}, byte ${first.byte}` : `offset ${first.slot}`}, byte address ${hex(addr, 4)}`,
  ];
  return { panel: 'logical', title: `${t.name}${coord}`, lines, logical: ref, storage: where };
}

export function describeStorage(P: ScalePanels, cell: PanelCell): HoverInfo {
  const L = P.layout;
  const slot = cell.slot!;
  const addr = slot * L.itemBytes + (cell.byte ?? 0);
  const head = L.packed ? `word ${slot}, byte ${cell.byte} (address ${hex(addr, 4)})` : `offset ${slot} (address ${hex(addr, 4)})`;
  const lines: string[] = [];
  if (cell.kind === 'pad') {
    // the descriptor's padded MN extent names the padding; any other gap is just unaddressed
    if (L.paddedRows > L.storageRows && slotInfo(L, slot).overDim === 1)
      lines.push(`TMA padding: MN padded ${L.storageRows}→${L.paddedRows}; ${L.packed ? 'allocated, zero' : 'allocated, never written'}`);
    else lines.push('allocated, but no logical element is stored here');
  } else if (cell.kind === 'unalloc') {
    lines.push(`not allocated: the tensor holds ${L.allocated} slots, the last padded line would need ${L.drawn}`);
  } else if (cell.kind === 'kpad') {
    lines.push(`zero byte: K-blocks padded ${L.tensor.kBlocks}→${L.storageCols * L.perWord} to fill the word`);
  } else if (cell.logical) {
    const t = L.tensor;
    const v = t.values[logicalIndex(t, cell.logical.group, cell.logical.row, cell.logical.kBlock)]!;
    const c = cell.logical;
    lines.push(`holds ${t.name}[${t.groups > 1 ? `${c.group}, ` : ''}${c.row}, ${c.kBlock}] = ${formatScale(v)}`);
    if (L.packed)
      lines.push(`UE8M0 byte ${hex(ue8m0ByteOf(v), 2)} of word ${hex(packedWord(L, slot), 8)} (K-block ${c.kBlock} = ${L.perWord}·${Math.floor(c.kBlock / L.perWord)}+${c.kBlock % L.perWord})`);
    lines.push(`scales ${scaledBlock(t, c)}`);
  }
  const storage: StorageRef[] = [{ slot, byte: cell.byte }];
  return { panel: 'storage', title: head, lines, logical: cell.logical, storage };
}
