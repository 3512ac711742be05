/**
 * Two runs side by side (issue 12; MoE: Compare With…): what differs in their specs; one scale tensor in both runs'
 * storage order, drawn next to each other with a caption per side and a one-line diff, and both m_indices strips when
 * the routing is the same and the permutation is not (compareLayouts.ts); per stage their times, bytes and roofline
 * floors with the ratio B/A, the permutation figures, and per tensor its dtype, shape and layout with the ones that
 * differ marked — the diff of two runs' layouts and times (SM90 vs SM100 scales, CPU vs CUDA timings, two recipes on
 * one routing). One SVG, drawn live and exported alike; the timing view draws the same two runs as bars.
 */
import * as d3 from 'd3';
import type { Trace, StageRecord, TensorRef } from '../../kernels/trace';
import type { Theme } from '../theme';
import { createSvg, fmtBytes, fmtTime, type G, type Svg } from './svgkit';
import { traceLabel } from './timing';
import type { ExportInput, StandaloneOptions, ViewContext, ViewHandle } from './context';
import { drawLayoutPair, drawStripPair, layoutsDiffer, permutationPair, pickLayoutTensor, sharedScaleNames } from './compareLayouts';

export interface SpecDifference {
  field: string;
  a: string;
  b: string;
}

const json = (v: unknown): string => (v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

/** The fields of the two runs that differ (shapes, architecture, recipe and its options, EP, backend, GEMM). */
export function specDifferences(a: Trace, b: Trace): SpecDifference[] {
  const fields: [string, (t: Trace) => unknown][] = [
    ['layer', (t) => t.spec.name],
    ['tokens', (t) => t.spec.tokens],
    ['hidden (K)', (t) => t.spec.hidden],
    ['intermediate (N)', (t) => t.spec.intermediate],
    ['experts', (t) => t.spec.experts],
    ['top-k', (t) => t.spec.topk],
    ['expert parallel', (t) => (t.spec.expertParallel && t.spec.expertParallel.size > 1 ? `EP ${t.spec.expertParallel.size} rank ${t.spec.expertParallel.rank} (${t.spec.expertParallel.strategy})` : 'none')],
    ['architecture', (t) => t.spec.arch],
    ['recipe', (t) => t.recipe.label],
    ['scale format', (t) => t.spec.recipe.scaleFormat],
    ['quantization', (t) => t.spec.recipe.quant],
    ['recipe options', (t) => t.spec.recipe.options ?? {}],
    ['activation', (t) => t.spec.activation],
    ['router weight', (t) => t.spec.routerWeight],
    ['block M', (t) => t.spec.blockM],
    ['inputs', (t) => (t.spec.source.kind === 'synthetic' ? `synthetic seed ${t.spec.source.seed}, skew ${t.spec.source.skew}` : `${t.spec.source.kind} ${t.spec.source.path}`)],
    ['backend', (t) => traceLabel(t)],
    ['GEMM ran', (t) => t.gemm.ran],
    ['GPU model', (t) => t.gpuModel],
  ];
  return fields.map(([field, get]) => ({ field, a: json(get(a)), b: json(get(b)) })).filter((d) => d.a !== d.b);
}

export interface StageComparison {
  id: string;
  title: string;
  a?: StageRecord;
  b?: StageRecord;
  /** b's time over a's (undefined when a stage is missing or a's time is 0) */
  ratio?: number;
}

/** The stages of both runs, A's order first, then the stages only B has. */
export function stageComparison(a: Trace, b: Trace): StageComparison[] {
  const ids = [...a.stages.map((s) => s.id), ...b.stages.map((s) => s.id).filter((id) => !a.stages.some((s) => s.id === id))];
  return ids.map((id) => {
    const sa = a.stages.find((s) => s.id === id);
    const sb = b.stages.find((s) => s.id === id);
    const ratio = sa && sb && sa.timeMs > 0 ? sb.timeMs / sa.timeMs : undefined;
    return { id, title: (sa ?? sb)!.title, ...(sa ? { a: sa } : {}), ...(sb ? { b: sb } : {}), ...(ratio !== undefined ? { ratio } : {}) };
  });
}

export interface TensorComparison {
  name: string;
  a?: string;
  b?: string;
  /** dtype, shape or layout differ (or the tensor is in one run only) */
  differs: boolean;
}

/** "f32 [4, 56] · MN-major, TMA-aligned …": what a tensor is and how it is stored */
export const tensorLine = (r: TensorRef): string => `${r.dtype} [${r.shape.join(', ')}] · ${r.layout.summary}`;

/** Every tensor of either run, with its dtype, shape and layout on each side; differing ones first. */
export function tensorComparison(a: Trace, b: Trace): TensorComparison[] {
  const names = [...Object.keys(a.tensors), ...Object.keys(b.tensors).filter((n) => !(n in a.tensors))];
  const rows = names.map((name) => {
    const ra = a.tensors[name];
    const rb = b.tensors[name];
    const la = ra ? tensorLine(ra) : undefined;
    const lb = rb ? tensorLine(rb) : undefined;
    const differs = !ra || !rb || la !== lb || JSON.stringify(ra.layout.strides) !== JSON.stringify(rb.layout.strides);
    return { name, ...(la ? { a: la } : {}), ...(lb ? { b: lb } : {}), differs };
  });
  return [...rows.filter((r) => r.differs), ...rows.filter((r) => !r.differs)];
}

export const fmtRatio = (r: number | undefined): string => (r === undefined || !Number.isFinite(r) ? '—' : r >= 10 || r < 0.1 ? `${r.toPrecision(2)}×` : `${r.toFixed(2)}×`);

const cut = (s: string, px: number, font = 11): string => {
  const max = Math.max(4, Math.floor(px / (font * 0.6)));
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
};

export interface CompareOptions {
  theme: Theme;
  width?: number;
  /** the scale tensor whose two storage orders are drawn (default: the first whose layouts differ) */
  tensor?: string;
  /** rectangles per storage panel before binning (a DeepSeek-V3 tensor draws as bins) */
  maxRects?: number;
  idPrefix?: string;
}

/** Storage cells drawn one by one per side; above it bins (the scale view's export path). */
export const COMPARE_MAX_RECTS = 1600;

export function compareSvg(doc: Document, a: Trace, b: Trace, options: CompareOptions): Svg {
  const theme = options.theme;
  const W = options.width ?? 960;
  const rowH = 17;
  const diffs = specDifferences(a, b);
  const stages = stageComparison(a, b);
  const tensors = tensorComparison(a, b);
  const head = (t: Trace): string => `${t.spec.name} · ${t.spec.arch.toUpperCase()} · ${t.spec.recipe.scaleFormat} · ${traceLabel(t)} · total ${fmtTime(t.totalMs)} · ${t.createdAt}`;
  // heights: title block, spec differences, stage table, permutation, tensor table, each with a heading
  const H = 70 + 28 + Math.max(1, diffs.length) * rowH + 34 + (stages.length + 2) * rowH + 34 + 4 * rowH + 34 + (tensors.length + 1) * rowH + 20;
  const svg = createSvg(doc, W, H, theme, `Compare ${a.spec.name} with ${b.spec.name}`);
  svg.append('text').attr('class', 'title').attr('x', 14).attr('y', 20).attr('font-size', 14).attr('font-weight', 600).text('Two runs side by side');
  svg.append('text').attr('class', 'run-a').attr('x', 14).attr('y', 40).attr('font-size', 11).text(cut(`A: ${head(a)}`, W - 28));
  svg.append('text').attr('class', 'run-b').attr('x', 14).attr('y', 56).attr('font-size', 11).text(cut(`B: ${head(b)}`, W - 28));
  let y = 84;
  const heading = (text: string): void => {
    svg.append('text').attr('class', 'heading').attr('x', 14).attr('y', y).attr('font-size', 12.5).attr('font-weight', 600).text(text);
    y += 20;
  };
  /** one table: columns at fixed fractions of the width, a header row, rows of cells */
  const table = (cls: string, cols: { label: string; at: number; right?: boolean }[], rows: { cells: string[]; mark?: boolean; key: string }[]): void => {
    const g = svg.append('g').attr('class', cls);
    const xs = cols.map((c) => 14 + c.at * (W - 28));
    const widths = cols.map((_, i) => (i + 1 < cols.length ? xs[i + 1]! - xs[i]! - 8 : W - 14 - xs[i]!));
    const cell = (row: G, text: string, i: number, weight?: number): void => {
      const c = cols[i]!;
      row.append('text').attr('x', c.right ? xs[i]! + widths[i]! : xs[i]!).attr('text-anchor', c.right ? 'end' : 'start').attr('font-size', 11)
        .attr('font-weight', weight ?? 400).attr('fill', weight ? theme.muted : theme.foreground).text(cut(text, widths[i]!));
    };
    const hr = g.append('g').attr('class', 'header').attr('transform', `translate(0,${y})`);
    cols.forEach((c, i) => cell(hr, c.label, i, 600));
    y += rowH;
    for (const r of rows) {
      const row = g.append('g').attr('class', `row${r.mark ? ' differs' : ''}`).attr('data-key', r.key).attr('transform', `translate(0,${y})`);
      if (r.mark) row.append('rect').attr('x', 8).attr('y', -12).attr('width', W - 16).attr('height', rowH - 1).attr('fill', theme.charts.orange).attr('fill-opacity', 0.14);
      r.cells.forEach((t, i) => cell(row, t, i));
      y += rowH;
    }
    y += 14;
  };
  heading('What differs');
  if (diffs.length) table('spec-diff', [{ label: 'field', at: 0 }, { label: 'A', at: 0.2 }, { label: 'B', at: 0.6 }], diffs.map((d) => ({ key: d.field, cells: [d.field, d.a, d.b] })));
  else {
    svg.append('text').attr('class', 'no-diff').attr('x', 14).attr('y', y).attr('font-size', 11).attr('fill', theme.muted).text('Same layer, recipe, architecture and backend: only the measurements differ.');
    y += rowH + 14;
  }
  // the pictures: one scale tensor in both runs' storage order, and both permuted buffers where only the recipe differs
  const prefix = options.idPrefix ?? 'cmp';
  const layoutTensor = pickLayoutTensor(a, b, options.tensor);
  if (layoutTensor) {
    y = drawLayoutPair(svg, y + 4, a, b, layoutTensor, { theme, width: W, idPrefix: `${prefix}-layout`, maxRects: options.maxRects ?? COMPARE_MAX_RECTS }) + 14;
  } else {
    heading('Scale layouts');
    svg.append('text').attr('class', 'no-layouts').attr('x', 14).attr('y', y).attr('font-size', 11).attr('fill', theme.muted).text('No scale tensor with a layout descriptor is in both runs.');
    y += rowH + 14;
  }
  const perm = permutationPair(a, b);
  if (perm.differ) y = drawStripPair(svg, y + 4, perm, { theme, width: W, idPrefix: `${prefix}-perm` }) + 8;
  heading('Stages: time, bytes and roofline floor');
  const t = (s: StageRecord | undefined): string => (s ? fmtTime(s.timeMs) : '—');
  const totalA = a.stages.reduce((x, s) => x + s.timeMs, 0);
  const totalB = b.stages.reduce((x, s) => x + s.timeMs, 0);
  table(
    'stage-diff',
    [
      { label: 'stage', at: 0 }, { label: 'A time', at: 0.26, right: true }, { label: 'B time', at: 0.36, right: true }, { label: 'B / A', at: 0.46, right: true },
      { label: 'A bytes', at: 0.55, right: true }, { label: 'B bytes', at: 0.65, right: true }, { label: 'A floor', at: 0.76, right: true }, { label: 'B floor', at: 0.87, right: true },
    ],
    [
      ...stages.map((s) => ({
        key: s.id,
        mark: !s.a || !s.b || s.a.bytes !== s.b.bytes,
        cells: [s.title, t(s.a), t(s.b), fmtRatio(s.ratio), s.a ? fmtBytes(s.a.bytes) : '—', s.b ? fmtBytes(s.b.bytes) : '—', s.a ? fmtTime(s.a.roofline.floorMs) : '—', s.b ? fmtTime(s.b.roofline.floorMs) : '—'],
      })),
      { key: 'total', cells: ['total', fmtTime(totalA), fmtTime(totalB), fmtRatio(totalA > 0 ? totalB / totalA : undefined), '', '', '', ''] },
    ],
  );
  heading('Permutation');
  const pa = a.permutation;
  const pb = b.permutation;
  table('perm-diff', [{ label: '', at: 0 }, { label: 'A', at: 0.26, right: true }, { label: 'B', at: 0.36, right: true }], [
    { key: 'routed', mark: pa.routedRows !== pb.routedRows, cells: ['routed rows', String(pa.routedRows), String(pb.routedRows)] },
    { key: 'mSum', mark: pa.mSum !== pb.mSum, cells: ['M_sum (padded rows)', String(pa.mSum), String(pb.mSum)] },
    { key: 'waste', mark: pa.paddingWaste !== pb.paddingWaste, cells: ['padding waste', `${(pa.paddingWaste * 100).toFixed(1)} %`, `${(pb.paddingWaste * 100).toFixed(1)} %`] },
  ]);
  if (perm.note) {
    svg.append('text').attr('class', 'perm-note').attr('x', 14).attr('y', y - 6).attr('font-size', 11).attr('fill', theme.muted).text(cut(perm.note, W - 28));
    y += rowH;
  }
  heading(`Tensors: dtype, shape and layout (${tensors.filter((r) => r.differs).length} of ${tensors.length} differ, shown first)`);
  table('tensor-diff', [{ label: 'tensor', at: 0 }, { label: 'A', at: 0.2 }, { label: 'B', at: 0.6 }], tensors.map((r) => ({ key: r.name, mark: r.differs, cells: [r.name, r.a ?? '— (not in A)', r.b ?? '— (not in B)'] })));
  svg.attr('height', Math.ceil(y)).attr('viewBox', `0 0 ${Math.ceil(W)} ${Math.ceil(y)}`);
  return svg;
}

/** The live view: a picker of the scale tensors both runs have (saved with the panel), then the picture. */
export function mount(el: HTMLElement, ctx: ViewContext): ViewHandle {
  if (!ctx.compare) throw new Error('compare view: no second run to compare with (MoE: Compare With…)');
  const b = ctx.compare;
  el.classList.add('moe-view', 'compare-view');
  const root = d3.select(el);
  const names = sharedScaleNames(ctx.trace, b);
  const tensor = pickLayoutTensor(ctx.trace, b, ctx.state.compareTensor);
  if (names.length > 1) {
    const field = root.append('div').attr('class', 'toolbar').attr('role', 'toolbar').attr('aria-label', 'Compare options').append('label').attr('class', 'field');
    field.append('span').text('Scale tensor');
    const select = field.append('select').attr('aria-label', 'Scale tensor to compare');
    select.selectAll('option').data(names).join('option').attr('value', (n) => n)
      .text((n) => `${n}${layoutsDiffer(ctx.trace.tensors[n]!, b.tensors[n]!) ? ' (layouts differ)' : ' (same layout)'}`);
    select.property('value', tensor);
    select.on('change', () => {
      ctx.save({ compareTensor: select.property('value') as string });
      ctx.redraw();
    });
  }
  const svg = compareSvg(el.ownerDocument, ctx.trace, b, { theme: ctx.theme, width: ctx.width, ...(tensor ? { tensor } : {}), idPrefix: 'live-cmp' });
  el.appendChild(svg.node()!);
  ctx.notePicture();
  return { destroy: () => root.selectAll('*').remove() };
}

export function standalone(doc: Document, input: ExportInput, o: StandaloneOptions): SVGSVGElement {
  if (!input.compare) throw new Error('compare view: export needs a second run (MoE: Compare With…)');
  return compareSvg(doc, input.trace, input.compare, {
    theme: o.theme, width: o.width, ...(input.tensor ? { tensor: input.tensor } : {}), ...(o.maxRects ? { maxRects: o.maxRects } : {}), idPrefix: 'x-cmp',
  }).node()!;
}
