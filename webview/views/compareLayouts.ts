/**
 * The Compare view's pictures (issue 12): one scale tensor of both runs in storage order side by side, drawn by the
 * scale view's own storage panel (scalesSvg.ts drawStorage) from each run's layout descriptor, on one cell size
 * where the two allow it; a caption per side (dtype, storage order, padding, packing), a one-line diff (bytes,
 * padding, where one example element lives in each); and, when both runs routed the same tokens but permuted them
 * differently (two recipes), both m_indices strips on one row scale (permutation.ts drawMIndicesStrip).
 *
 * Nothing here needs a scale's value: cells are coloured by the K-block they hold, which is what tells two storage
 * orders apart, so a DeepSeek-V3 tensor of millions of scales costs a few thousand binned rectangles and no transfer.
 */
import type { Trace, TensorRef } from '../../kernels/trace';
import type { Theme } from '../theme';
import { compareScaleNames, isScaleRef, permutationOf, scaleKindOf } from '../model/traceData';
import { scaleGeometryOf, storageOfLogical, type LogicalRef, type ScaleTensor } from '../model/scaleLayout';
import { rampCss, scalePanels, storageRect, type ScalePanels } from './scalePanels';
import { addPanel, addRamp, drawStorage, storageHeader } from './scalesSvg';
import { addPatterns, fmtBytes, legendRow, type LegendItem, type Svg } from './svgkit';
import { drawMIndicesStrip, hotExperts, stripLabels, stripRunsOf, type StripRun } from './permutation';

// ------------------------------------------------------------------ which tensor

/** Scale tensors (2-D or 3-D, f32 or packed, with a layout descriptor) that both runs have, in pipeline order. */
export function sharedScaleNames(a: Trace, b: Trace): string[] {
  return Object.values(a.tensors)
    .filter((r) => isScaleRef(r) && b.tensors[r.name] !== undefined && isScaleRef(b.tensors[r.name]!))
    .map((r) => r.name)
    .sort(compareScaleNames);
}

const layoutKey = (r: TensorRef): string => JSON.stringify([r.dtype, r.layout.shape, r.layout.strides, r.layout.offset, r.layout.storageElems, r.layout.packing ?? null]);

/** The two runs store this tensor differently (dtype, shape, strides, offset, allocation or packing). */
export const layoutsDiffer = (a: TensorRef, b: TensorRef): boolean => layoutKey(a) !== layoutKey(b);

/** The tensor the view opens on: `wanted` when both runs have it, else the first whose layouts differ, else the first laid out for a kernel. */
export function pickLayoutTensor(a: Trace, b: Trace, wanted?: string): string | undefined {
  const names = sharedScaleNames(a, b);
  if (wanted && names.includes(wanted)) return wanted;
  return names.find((n) => layoutsDiffer(a.tensors[n]!, b.tensors[n]!)) ?? names.find((n) => a.tensors[n]!.layout.order !== 'row-major') ?? names[0];
}

// ------------------------------------------------------------------ words

const ORDER_WORDS: Record<string, string> = { 'mn-major': 'MN-major', 'row-major': 'K-major (row-major)', strided: 'strided' };
const DTYPE_WORDS: Record<string, string> = { i32: 'int32', f32: 'f32', u8: 'uint8', i64: 'int64' };

/** "SM100: UE8M0 packed 4 per int32, MN-major, TMA-aligned: MN padded 37→40": how one run stores the tensor. */
export function layoutCaption(trace: Trace, r: TensorRef): string {
  const L = r.layout;
  const dtype = DTYPE_WORDS[r.dtype] ?? r.dtype;
  const what = L.packing ? `UE8M0 packed ${L.packing.perWord} per ${dtype}` : dtype;
  const mn = L.shape[L.shape.length - 2]!;
  const pad = L.paddedMN !== undefined && L.paddedMN > mn ? `TMA-aligned: MN padded ${mn}→${L.paddedMN}` : 'MN not padded';
  const kpad = L.packing && L.packing.logicalExtent % L.packing.perWord ? `, K-blocks ${L.packing.logicalExtent}→${Math.ceil(L.packing.logicalExtent / L.packing.perWord) * L.packing.perWord} in the last word` : '';
  return `${trace.spec.arch.toUpperCase()}: ${what}, ${ORDER_WORDS[L.order] ?? L.order}, ${pad}${kpad}`;
}

export interface LayoutFacts {
  bytes: number;
  /** storage elements (slots or words) allocated, addressed, and allocated but addressed by no logical element */
  allocated: number;
  addressed: number;
  padding: number;
  /** what one storage element is: "slot" or "word" */
  unit: string;
}

export function layoutFacts(r: TensorRef): LayoutFacts {
  const L = r.layout;
  return { bytes: L.storageElems * L.itemBytes, allocated: L.storageElems, addressed: L.addressedElems, padding: L.storageElems - L.addressedElems, unit: L.packing ? 'word' : 'slot' };
}

const hex = (n: number): string => '0x' + n.toString(16).toUpperCase().padStart(4, '0');

/** A scale tensor of one run, geometry only (its descriptor: no values needed to draw where things are stored). */
export function geometryOf(trace: Trace, r: TensorRef): ScaleTensor {
  const kind = scaleKindOf(r.name);
  const rc = trace.spec.recipe;
  return scaleGeometryOf(r.name, kind, r.layout, kind === 'weight' ? { rows: rc.weightBlock, k: rc.weightBlock } : { rows: 1, k: rc.actGroup });
}

export interface ExampleElement {
  ref: LogicalRef;
  /** "[1, 1]" or "[0, 1, 1]" */
  coord: string;
  /** where it is stored in each run: byte address, and slot (or word and byte) */
  a: { address: number; where: string; slot: number; byte?: number };
  b: { address: number; where: string; slot: number; byte?: number };
}

/**
 * One logical scale both runs hold, and where each stores it: the first of a few near the origin whose byte addresses
 * differ (element [1, 1] shows MN-major against K-major and a packed word at once), else [0, 0].
 */
export function exampleElement(ga: ScaleTensor, gb: ScaleTensor, pa: ScalePanels, pb: ScalePanels): ExampleElement {
  const rows = Math.min(ga.rows, gb.rows);
  const ks = Math.min(ga.kBlocks, gb.kBlocks);
  const groups = Math.min(ga.groups, gb.groups);
  const at = (P: ScalePanels, ref: LogicalRef): ExampleElement['a'] => {
    const s = storageOfLogical(P.layout, ref.group, ref.row, ref.kBlock)[0]!;
    const address = s.slot * P.layout.itemBytes + (s.byte ?? 0);
    return { address, slot: s.slot, ...(s.byte === undefined ? {} : { byte: s.byte }), where: s.byte === undefined ? `offset ${s.slot}` : `word ${s.slot}, byte ${s.byte}` };
  };
  const candidates: LogicalRef[] = [
    { group: 0, row: 1, kBlock: 1 }, { group: 0, row: 0, kBlock: 1 }, { group: 0, row: 1, kBlock: 0 }, { group: Math.min(1, groups - 1), row: 1, kBlock: 1 },
    { group: groups - 1, row: rows - 1, kBlock: ks - 1 },
  ].filter((r) => r.row < rows && r.kBlock < ks && r.group < groups);
  const pick = candidates.find((r) => at(pa, r).address !== at(pb, r).address) ?? { group: 0, row: 0, kBlock: 0 };
  const coord = ga.groups > 1 || gb.groups > 1 ? `[${pick.group}, ${pick.row}, ${pick.kBlock}]` : `[${pick.row}, ${pick.kBlock}]`;
  return { ref: pick, coord, a: at(pa, pick), b: at(pb, pick) };
}

/** b / a as "0.25×", "32×", "128×" */
const ratio = (a: number, b: number): string => {
  if (!(a > 0)) return '—';
  const r = b / a;
  return `${r >= 100 ? Math.round(r).toLocaleString('en-US') : r < 0.01 ? r.toPrecision(2) : r >= 10 ? r.toFixed(1).replace(/\.0$/, '') : r.toFixed(2)}×`;
};

/** "bytes 628 B → 160 B (0.25×) · padding 9 slots → 3 words · [1, 1] at 0x00A4 (offset 41) → 0x0005 (word 1, byte 1)" */
export function layoutDiffLine(ra: TensorRef, rb: TensorRef, ex: ExampleElement): string {
  const fa = layoutFacts(ra);
  const fb = layoutFacts(rb);
  const pad = (f: LayoutFacts): string => `${f.padding.toLocaleString('en-US')} ${f.unit}${f.padding === 1 ? '' : 's'}`;
  return `A → B: bytes ${fmtBytes(fa.bytes)} → ${fmtBytes(fb.bytes)} (${ratio(fa.bytes, fb.bytes)}) · padding ${pad(fa)} → ${pad(fb)} · ` +
    `element ${ex.coord} at ${hex(ex.a.address)} (${ex.a.where}) → ${hex(ex.b.address)} (${ex.b.where})`;
}

// ------------------------------------------------------------------ permutation

/** The segments of an m_indices tensor as the engine wrote it: runs of one expert's rows, the −1 rows after them as its padding. */
export function runsOfMIndices(m: ArrayLike<number>): StripRun[] {
  const runs: StripRun[] = [];
  let cur: StripRun | undefined;
  for (let i = 0; i < m.length; i++) {
    const e = m[i]!;
    if (e < 0) {
      if (cur) cur.pad++;
      else runs.push((cur = { expert: -1, start: i, rows: 0, pad: 1 }));
      continue;
    }
    if (!cur || cur.expert !== e || cur.pad > 0) runs.push((cur = { expert: e, start: i, rows: 0, pad: 0 }));
    cur.rows++;
  }
  return runs;
}

export interface PermutationPair {
  /** both runs routed the same tokens to the same experts (topk_ids equal) */
  sameRouting: boolean;
  /** the permuted buffers differ (rows, order or padding) */
  differ: boolean;
  a?: { runs: StripRun[]; rows: number };
  b?: { runs: StripRun[]; rows: number };
  /** why no strips are drawn */
  note: string;
}

const sameValues = (x: ArrayLike<number>, y: ArrayLike<number>): boolean => {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
};

/** A run's permuted buffer: its m_indices as written when inline, else recomputed from topk_ids (as the permutation view does). */
function stripOf(t: Trace): { runs: StripRun[]; rows: number } | undefined {
  const m = t.tensors['m_indices'];
  if (m?.inline) return { runs: runsOfMIndices(m.inline), rows: m.inline.length };
  // a masked run has per-expert buffers, not one permuted buffer: nothing to recompute
  if (t.permutation.layout === 'masked') return undefined;
  const model = permutationOf(t);
  return typeof model === 'string' ? undefined : { runs: stripRunsOf(model), rows: model.mSum };
}

export function permutationPair(a: Trace, b: Trace): PermutationPair {
  const ia = a.tensors['topk_ids'];
  const ib = b.tensors['topk_ids'];
  if (!ia?.inline || !ib?.inline) return { sameRouting: false, differ: false, note: 'topk_ids is not in both traces: the routing cannot be compared' };
  const sameRouting = ia.shape.join() === ib.shape.join() && sameValues(ia.inline, ib.inline);
  if (!sameRouting) return { sameRouting, differ: false, note: 'The runs route different tokens (topk_ids differ): their permutations are not compared row by row.' };
  const sa = stripOf(a);
  const sb = stripOf(b);
  if (!sa || !sb) return { sameRouting, differ: false, note: 'Same routing; one run has no contiguous permuted buffer (m_indices) to compare.' };
  const differ = sa.rows !== sb.rows || JSON.stringify(sa.runs) !== JSON.stringify(sb.runs);
  const note = differ ? '' : `Same routing and the same permuted buffer (${sa.rows} rows) in both runs.`;
  return { sameRouting, differ, a: sa, b: sb, note };
}

// ------------------------------------------------------------------ drawing

export interface PairDrawOptions {
  theme: Theme;
  width: number;
  idPrefix: string;
  /** rectangles per storage panel before binning */
  maxRects: number;
  /** tallest a storage panel may be drawn */
  maxPanelHeight?: number;
}

/**
 * Both runs' storage order of scale tensor `name` into `svg` from y = `top`, A on the left, B on the right. Returns
 * the y below it. The cell size is shared unless one picture is more than 8× the other's (SM100 weight scales keep a
 * row per weight row), which the header then says.
 */
export function drawLayoutPair(svg: Svg, top: number, a: Trace, b: Trace, name: string, o: PairDrawOptions): number {
  const { theme, width: W } = o;
  const ra = a.tensors[name]!;
  const rb = b.tensors[name]!;
  const ga = geometryOf(a, ra);
  const gb = geometryOf(b, rb);
  const pa = scalePanels(ga);
  const pb = scalePanels(gb);
  const ids = addPatterns(svg, theme, `${o.idPrefix}-pat`);
  const margin = 14;
  const gap = 28;
  const half = (W - 2 * margin - gap) / 2;
  // room left of each picture for its byte addresses (drawn where a picture is one tile with lines ≥ 9 px)
  const addrW = 46;
  const maxH = o.maxPanelHeight ?? 340;
  const fit = (P: ScalePanels): number => Math.max(0.05, Math.min(24, (half - addrW) / P.storage.width, maxH / P.storage.height));
  const fa = fit(pa);
  const fb = fit(pb);
  // one cell size while the smaller picture keeps a quarter of its own fitted size; past that it would be a speck
  const sameScale = Math.max(fa, fb) / Math.min(fa, fb) <= 4;
  const ua = sameScale ? Math.min(fa, fb) : fa;
  const ub = sameScale ? Math.min(fa, fb) : fb;
  const g = svg.append('g').attr('class', 'layout-pair').attr('data-tensor', name);
  g.append('text').attr('class', 'heading').attr('x', margin).attr('y', top).attr('font-size', 12.5).attr('font-weight', 600)
    .text(`Storage order of ${name}, A beside B${sameScale ? ' (one cell size: a cell is one stored scale, 4 B as f32, 1 B as UE8M0)' : ` (not to one scale: B holds ${ratio(pa.layout.drawn * pa.slotW, pb.layout.drawn * pb.slotW)} A's cells; each fitted)`}`);
  const captionTop = top + 20;
  const cellsTop = captionTop + 43 + 52;
  const css = rampCss(theme);
  const sides = [
    { key: 'a', label: 'A', trace: a, ref: ra, P: pa, unit: ua, x: margin },
    { key: 'b', label: 'B', trace: b, ref: rb, P: pb, unit: ub, x: margin + half + gap },
  ] as const;
  const ex = exampleElement(ga, gb, pa, pb);
  let bottom = cellsTop;
  for (const s of sides) {
    const f = layoutFacts(s.ref);
    const cap = g.append('g').attr('class', `caption side-${s.key}`).attr('transform', `translate(${s.x},${captionTop})`);
    const line = (text: string, dy: number, weight = 400, muted = false): void => {
      cap.append('text').attr('y', dy).attr('font-size', 11).attr('font-weight', weight).attr('fill', muted ? theme.muted : theme.foreground).text(cut(text, half));
    };
    const [c1, c2] = wrap2(`${s.label} · ${layoutCaption(s.trace, s.ref)}`, half);
    line(c1!, 0, 600);
    line(c2 ?? '', 14, 600);
    line(`${DTYPE_WORDS[s.ref.dtype] ?? s.ref.dtype} [${s.ref.shape.join(', ')}] · ${fmtBytes(f.bytes)} · ${f.allocated.toLocaleString('en-US')} ${f.unit}s: ${f.addressed.toLocaleString('en-US')} used, ${f.padding.toLocaleString('en-US')} padding`, 29);
    line(`${s.trace.spec.name} · ${s.trace.recipe.label} · ${s.trace.backend.name.toUpperCase()}`, 43, 400, true);
    const zoom = addPanel(svg, `storage side-${s.key}`, s.x + addrW, cellsTop, storageHeader(s.P), s.unit, s.P.storage, `${o.idPrefix}-${s.key}`);
    const panel = svg.select<SVGGElement>(`g.panel.side-${s.key}`);
    // K-block colouring: the logical column a slot holds, so MN-major lines are one colour and K-major lines a ramp
    const kb = s.P.layout.tensor.kBlocks;
    drawStorage(panel, zoom, s.P, s.unit, { maxRects: o.maxRects, ids, theme, css, colourOf: (r) => (kb > 1 ? Math.round((255 * r.kBlock) / (kb - 1)) : 0) });
    // the example element of the diff line, outlined where it sits in this run's storage
    const at = s.key === 'a' ? ex.a : ex.b;
    const [x, y, w, h] = storageRect(s.P, at.slot, at.byte);
    zoom.append('rect').attr('class', 'example').attr('x', x * s.unit - 1).attr('y', y * s.unit - 1).attr('width', Math.max(3, w * s.unit + 2)).attr('height', Math.max(3, h * s.unit + 2))
      .attr('fill', 'none').attr('stroke', theme.focus).attr('stroke-width', 2).append('title').text(`${name}${ex.coord}: ${hex(at.address)} (${at.where})`);
    bottom = Math.max(bottom, cellsTop + s.P.storage.height * s.unit);
  }
  let y = bottom + 20;
  g.append('text').attr('class', 'layout-diff').attr('x', margin).attr('y', y).attr('font-size', 11).text(cut(layoutDiffLine(ra, rb, ex), W - 2 * margin));
  y += 14;
  const items: LegendItem[] = [{ label: 'colour = K-block held (0 … last)', fill: `url(#${addRamp(svg, `${o.idPrefix}-ramp`, { css })})` }, { label: 'padding slot', fill: `url(#${ids.pad})` }];
  const kpad = (P: ScalePanels): boolean => P.layout.packed && P.layout.tensor.kBlocks < P.layout.storageCols * P.layout.perWord;
  if (kpad(pa) || kpad(pb)) items.push({ label: 'zero K-block byte', fill: `url(#${ids.kpad})` });
  if (pa.layout.packed || pb.layout.packed) items.push({ label: 'word = bytes b0…b3, little-endian', fill: 'none', stroke: theme.foreground });
  if (pa.layout.drawn > pa.layout.allocated || pb.layout.drawn > pb.layout.allocated) items.push({ label: 'not allocated', fill: `url(#${ids.unalloc})`, stroke: theme.muted, dash: '2,2' });
  items.push({ label: `element ${ex.coord} of the diff line`, fill: 'none', stroke: theme.focus });
  const legend = g.append('g').attr('class', 'legend').attr('transform', `translate(${margin},${y})`);
  legendRow(legend, items, theme, W - 2 * margin);
  // legendRow wraps at the width: as many 20 px lines as distinct rows it used
  const rows = new Set(legend.selectAll<SVGGElement, unknown>('g.legend-item').nodes().map((n) => n.getAttribute('transform'))
    .map((t) => /,([-\d.]+)\)/.exec(t ?? '')?.[1] ?? '0')).size;
  return y + 20 * Math.max(1, rows) + 6;
}

/** Both runs' m_indices strips on one row scale (A above B), from y = `top`; returns the y below them. */
export function drawStripPair(svg: Svg, top: number, pair: PermutationPair, o: Pick<PairDrawOptions, 'theme' | 'width' | 'idPrefix'>): number {
  const { theme, width: W } = o;
  const g = svg.append('g').attr('class', 'strip-pair');
  g.append('text').attr('class', 'heading').attr('x', 14).attr('y', top).attr('font-size', 12.5).attr('font-weight', 600)
    .text('Same routing, two permuted buffers: m_indices of A and B on one row scale');
  if (!pair.a || !pair.b) return top + 20;
  const ids = addPatterns(svg, theme, `${o.idPrefix}-strip`);
  const left = 68;
  const innerW = W - left - 16;
  const rows = Math.max(1, pair.a.rows, pair.b.rows);
  const rx = (r: number): number => (r / rows) * innerW;
  let y = top + 30;
  for (const [label, s] of [['A', pair.a], ['B', pair.b]] as const) {
    const counts = new Map<number, number>();
    for (const r of s.runs) if (r.expert >= 0) counts.set(r.expert, (counts.get(r.expert) ?? 0) + r.rows);
    const experts = [...counts.keys()];
    const hot = new Set(hotExperts(experts.map((e) => counts.get(e)!)).map((i) => experts[i]!));
    const labels = stripLabels(s.runs.filter((r) => r.expert >= 0), rx);
    const strip = g.append('g').attr('class', `strip side-${label.toLowerCase()}`).attr('transform', `translate(${left},${y})`);
    drawMIndicesStrip(strip, s.runs.filter((r) => r.expert >= 0 || r.pad > 0), { rx, innerW, stripH: 26, theme, padFill: `url(#${ids.pad})`, hot, labels, mSum: s.rows, name: `${label} m_indices` });
    y += 26 + labels.height + 22;
  }
  return y;
}

/** Text in at most two lines of `px` at 11 px: broken at the last ', ' that fits, the rest of the second cut. */
function wrap2(s: string, px: number): [string, string?] {
  const max = Math.max(8, Math.floor(px / (11 * 0.6)));
  if (s.length <= max) return [s];
  const at = s.lastIndexOf(', ', max - 1);
  if (at <= 0) return [cut(s, px)];
  return [s.slice(0, at + 1), cut(s.slice(at + 2), px)];
}

const cut = (s: string, px: number, font = 11): string => {
  const max = Math.max(4, Math.floor(px / (font * 0.6)));
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
};
