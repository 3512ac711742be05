/**
 * Expert permutation map: per-expert histogram (routed rows and the padding up to the 128-row segment, hot experts
 * marked), the m_indices strip of the permuted buffer (each expert's segment, padding rows hatched), and the
 * tokens × top-k grid. Hovering a token shows its experts, rows and weights and where its output is gathered from.
 * Segments are drawn as runs, not rows, so a DeepSeek-size buffer (tens of thousands of rows) stays a few hundred nodes.
 */
import * as d3 from 'd3';
import type { Theme } from '../theme';
import type { PermutationModel } from '../model/permutation';
import { createSvg, addPatterns, legendRow, labelWidth, type Svg, type G } from './svgkit';
import { permutationOf } from '../model/traceData';
import { MoeError } from '../../kernels/errors';
import type { ExportInput, StandaloneOptions, ViewContext, ViewHandle } from './context';

export interface PermutationViewData {
  model: PermutationModel;
  title?: string;
}

export interface PermutationViewOptions {
  theme: Theme;
  width?: number;
  idPrefix?: string;
  onHover?: (info: TokenInfo | null) => void;
}

export interface TokenInfo {
  token: number;
  slots: { slot: number; expert: number; row: number; weight: number }[];
  lines: string[];
}

export interface PermutationHandle {
  svg: SVGSVGElement;
  hoverToken(t: number): TokenInfo | null;
  destroy(): void;
}

/** Token grid cells drawn at most (above it the grid shows the first tokens and says so). */
export const TOKEN_GRID_LIMIT = 4096;

/** Experts whose routed rows exceed mean + 2σ. */
export function hotExperts(counts: readonly number[]): number[] {
  const n = counts.length;
  if (n === 0) return [];
  const mean = counts.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(counts.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return counts.map((c, e) => (c > mean + 2 * sd && c > 0 ? e : -1)).filter((e) => e >= 0);
}

/**
 * Inner padding of the histogram's expert bands: a gap of at least one pixel wherever a band is 2 px or wider, so
 * the hatched padding bars of neighbouring experts stay apart instead of merging into one block (at 256 experts a
 * band is ~3 px); 15 % of the band where that is more.
 */
export function histogramPadding(experts: number, innerW: number): number {
  const step = innerW / Math.max(1, experts);
  return step < 2 ? 0 : Math.min(0.5, Math.max(0.15, 1 / step));
}

/** font size of the m_indices strip's labels */
const STRIP_FONT = 10;
/** least distance between two rotated labels' baselines: the font's height and a little air */
const ROTATED_PITCH = STRIP_FONT + 2;

export interface StripLabel {
  expert: number;
  /** where the label starts (horizontal) or its baseline lies (rotated), in strip pixels */
  x: number;
  text: string;
}

/**
 * Labels of the m_indices strip, one per segment ("e5 @640": expert and first row): horizontal when every label
 * fits before the next segment's, else rotated upright and thinned so that no two overlap (32 experts of 128 rows
 * each leave ~27 px per segment, less than one "e31 @3968"). `height` is the room they take under the strip.
 */
export function stripLabels(segs: readonly { expert: number; start: number }[], x: (row: number) => number): { rotated: boolean; labels: StripLabel[]; height: number } {
  const all = segs.map((s) => ({ expert: s.expert, x: x(s.start), text: `e${s.expert} @${s.start}` }));
  const fits = all.every((l, i) => i + 1 >= all.length || l.x + 3 + labelWidth(l.text, STRIP_FONT) + 4 <= all[i + 1]!.x + 3);
  if (fits) return { rotated: false, labels: all.map((l) => ({ ...l, x: l.x + 3 })), height: 18 };
  const labels: StripLabel[] = [];
  for (const l of all) {
    const at = l.x + STRIP_FONT;
    if (labels.length && at - labels[labels.length - 1]!.x < ROTATED_PITCH) continue;
    labels.push({ ...l, x: at });
  }
  return { rotated: true, labels, height: Math.max(18, ...labels.map((l) => labelWidth(l.text, STRIP_FONT))) + 10 };
}

/** One expert's segment of the permuted buffer: `rows` routed rows from `start`, then `pad` padding rows (m_indices = −1). */
export interface StripRun {
  expert: number;
  start: number;
  rows: number;
  pad: number;
}

/** The segments of the experts that have one, in expert order. */
export function stripRunsOf(m: PermutationModel): StripRun[] {
  return d3.range(m.experts).filter((e) => m.segLen[e]! > 0).map((e) => ({ expert: e, start: m.segStart[e]!, rows: m.counts[e]!, pad: m.segLen[e]! - m.counts[e]! }));
}

export interface StripOptions {
  /** row → x */
  rx: (row: number) => number;
  innerW: number;
  stripH: number;
  theme: Theme;
  padFill: string;
  hot: ReadonlySet<number>;
  labels: ReturnType<typeof stripLabels>;
  mSum: number;
  /** the strip's name at its left (default m_indices) */
  name?: string;
}

/**
 * The m_indices strip into `strip`: each segment's routed rows in its expert's tone (hot experts orange), its
 * padding rows hatched, a label per segment (stripLabels). Drawn as runs, not rows. The permutation view draws one;
 * the Compare view one per run, on one row scale.
 */
export function drawMIndicesStrip(strip: G, runs: readonly StripRun[], o: StripOptions): void {
  const { rx, innerW, stripH, theme, hot } = o;
  strip.append('text').attr('x', -8).attr('y', stripH / 2 + 4).attr('text-anchor', 'end').attr('font-size', 10).attr('fill', theme.muted).text(o.name ?? 'm_indices');
  const tone = [theme.charts.blue, theme.charts.green, theme.charts.purple, theme.charts.yellow];
  strip.selectAll('rect.seg-rows').data(runs.filter((r) => r.expert >= 0)).join('rect').attr('class', 'seg-rows').attr('data-expert', (r) => r.expert)
    .attr('x', (r) => rx(r.start)).attr('width', (r) => Math.max(0.5, rx(r.rows) - rx(0))).attr('y', 0).attr('height', stripH)
    .attr('fill', (r) => (hot.has(r.expert) ? theme.charts.orange : tone[r.expert % tone.length]!));
  strip.selectAll('rect.seg-pad').data(runs.filter((r) => r.pad > 0)).join('rect').attr('class', 'seg-pad padding-rows').attr('data-expert', (r) => r.expert)
    .attr('x', (r) => rx(r.start + r.rows)).attr('width', (r) => rx(r.pad) - rx(0)).attr('y', 0).attr('height', stripH)
    .attr('fill', o.padFill).append('title').text((r) => `expert ${r.expert}: rows ${r.start + r.rows}…${r.start + r.rows + r.pad - 1} are padding (m_indices = −1)`);
  strip.append('rect').attr('width', innerW).attr('height', stripH).attr('fill', 'none').attr('stroke', theme.border);
  const labelSel = strip.selectAll('text.seg-label').data(o.labels.labels).join('text').attr('class', 'seg-label').attr('data-expert', (l) => l.expert)
    .attr('font-size', STRIP_FONT).attr('fill', theme.muted).text((l) => l.text);
  if (o.labels.rotated) labelSel.attr('text-anchor', 'end').attr('transform', (l) => `translate(${l.x},${stripH + 6}) rotate(-90)`);
  else labelSel.attr('x', (l) => l.x).attr('y', stripH + 14);
  strip.append('text').attr('x', innerW).attr('y', -6).attr('text-anchor', 'end').attr('font-size', 10).attr('fill', theme.muted).text(`row 0 … ${o.mSum - 1}`);
}

export function tokenInfo(m: PermutationModel, t: number): TokenInfo | null {
  if (!Number.isInteger(t) || t < 0 || t >= m.tokens) return null;
  const slots = [];
  for (let s = 0; s < m.topk; s++) {
    const i = t * m.topk + s;
    const row = m.invPerm[i]!;
    slots.push({ slot: s, expert: row >= 0 ? m.mIndices[row]! : -1, row, weight: m.weights[i]! });
  }
  const terms = slots.filter((s) => s.row >= 0).map((s) => `${s.weight.toFixed(3)}·out[${s.row}]`);
  return {
    token: t,
    slots,
    lines: [
      ...slots.map((s) => (s.row >= 0 ? `slot ${s.slot}: expert ${s.expert} → row ${s.row} (segment row ${s.row - m.segStart[s.expert]!}), weight ${s.weight.toFixed(4)}` : `slot ${s.slot}: expert not local (no row)`)),
      `gathered back: y[${t}] = ${terms.length ? terms.join(' + ') : '0 (no local expert)'}`,
    ],
  };
}

export function render(container: HTMLElement, data: PermutationViewData, options: PermutationViewOptions): PermutationHandle {
  const root = d3.select(container);
  root.selectAll('*').remove();
  root.classed('moe-view permutation-view', true);
  const { svg, hoverToken } = permutationSvg(container.ownerDocument, data, options);
  container.appendChild(svg.node()!);
  const tip = root.append('div').attr('class', 'tooltip').attr('role', 'status').attr('aria-live', 'polite');
  const hover = (t: number): TokenInfo | null => {
    const info = hoverToken(t);
    tip.selectAll('*').remove();
    tip.classed('visible', !!info);
    if (info) {
      tip.append('div').attr('class', 'tip-title').text(`token ${info.token}`);
      tip.selectAll('div.tip-line').data(info.lines).join('div').attr('class', 'tip-line').text((l) => l);
    }
    options.onHover?.(info);
    return info;
  };
  svg.select('g.tokens').on('mouseover', (e: MouseEvent) => {
    const t = (e.target as Element).getAttribute?.('data-token');
    if (t !== null && t !== undefined) hover(+t);
  });
  svg.on('mouseleave', () => hover(-1));
  return { svg: svg.node()!, hoverToken: hover, destroy: () => root.selectAll('*').remove() };
}

export function permutationSvg(doc: Document, data: PermutationViewData, options: PermutationViewOptions): { svg: Svg; hoverToken: (t: number) => TokenInfo | null } {
  const m = data.model;
  const theme = options.theme;
  const W = options.width ?? 960;
  const margin = { l: 68, r: 16 };
  const innerW = W - margin.l - margin.r;
  const E = m.experts;
  const showTokens = Math.min(m.tokens, Math.max(1, Math.floor(TOKEN_GRID_LIMIT / m.topk)));
  const perRow = Math.min(showTokens, Math.max(8, Math.floor(innerW / (m.topk * 6 + 4))));
  const cell = Math.max(3, Math.min(14, Math.floor(innerW / (perRow * (m.topk + 0.5)))));
  const tokenRows = Math.ceil(showTokens / perRow);
  const histH = 150;
  const stripH = 34;
  const top = 78;
  const rx = d3.scaleLinear().domain([0, Math.max(1, m.mSum)]).range([0, innerW]);
  const segLabels = stripLabels(stripRunsOf(m), rx);
  const tokensTop = top + histH + 64 + stripH + segLabels.height + 30;
  const H = tokensTop + tokenRows * (cell + 3) + 60;
  const svg = createSvg(doc, W, H, theme, data.title ?? 'Expert permutation map');
  const ids = addPatterns(svg, theme, options.idPrefix ?? 'perm');
  const hot = new Set(hotExperts(m.counts));
  svg.append('text').attr('class', 'title').attr('x', 14).attr('y', 20).attr('font-size', 14).attr('font-weight', 600).text(data.title ?? 'Expert permutation map');
  svg.append('text').attr('class', 'subtitle').attr('x', 14).attr('y', 38).attr('fill', theme.muted).attr('font-size', 11)
    .text(`${m.tokens} tokens × top-${m.topk} = ${m.routed} routed rows → M_sum ${m.mSum} rows in ${E} experts' ${m.blockM}-row segments · padding waste ${(m.paddingWaste * 100).toFixed(1)}% · ${hot.size} hot expert${hot.size === 1 ? '' : 's'}`);

  // ---- histogram
  const hist = svg.append('g').attr('class', 'histogram').attr('transform', `translate(${margin.l},${top})`);
  const x = d3.scaleBand<number>().domain(d3.range(E)).range([0, innerW]).paddingInner(histogramPadding(E, innerW));
  const maxRows = d3.max(m.segLen) ?? 1;
  const y = d3.scaleLinear().domain([0, Math.max(1, maxRows)]).nice().range([histH, 0]);
  hist.append('g').attr('class', 'axis').call(d3.axisLeft(y).ticks(4).tickSizeOuter(0)).call((a) => styleAxis(a, theme));
  hist.append('text').attr('x', -44).attr('y', -14).attr('fill', theme.muted).attr('font-size', 11).text('rows');
  const bars = hist.selectAll('g.expert').data(d3.range(E)).join('g').attr('class', 'expert').attr('data-expert', (e) => e);
  bars.append('rect').attr('class', 'bar-pad').attr('x', (e) => x(e)!).attr('width', x.bandwidth())
    .attr('y', (e) => y(m.segLen[e]!)).attr('height', (e) => y(m.counts[e]!) - y(m.segLen[e]!))
    .attr('fill', `url(#${ids.pad})`).attr('stroke', E > 64 ? 'none' : theme.border);
  bars.append('rect').attr('class', (e) => `bar-count${hot.has(e) ? ' hot' : ''}`).attr('x', (e) => x(e)!).attr('width', x.bandwidth())
    .attr('y', (e) => y(m.counts[e]!)).attr('height', (e) => histH - y(m.counts[e]!))
    .attr('fill', (e) => (hot.has(e) ? theme.charts.orange : theme.charts.blue));
  bars.append('title').text((e) => `expert ${e}: ${m.counts[e]} routed rows, segment ${m.segLen[e]} rows (${m.segLen[e]! - m.counts[e]!} padding)${hot.has(e) ? ' — hot' : ''}`);
  // label hot experts only where there is room for the text
  const labelled = [...hot].sort((a, b) => m.counts[b]! - m.counts[a]!).slice(0, x.bandwidth() >= 14 ? 12 : 1);
  hist.selectAll('text.hot-label').data(labelled).join('text').attr('class', 'hot-label')
    .attr('x', (e) => x(e)! + x.bandwidth() / 2).attr('y', (e) => y(m.counts[e]!) - 4).attr('text-anchor', 'middle').attr('font-size', 10)
    .attr('fill', theme.charts.orange).text((e) => `expert ${e}: ${m.counts[e]} rows`).attr('text-anchor', 'start').attr('x', (e) => x(e)! + x.bandwidth() + 4).attr('y', (e) => y(m.counts[e]!) + 10);
  const xAxis = d3.axisBottom(x).tickValues(d3.range(0, E, Math.max(1, Math.ceil(E / 16)))).tickSizeOuter(0);
  hist.append('g').attr('class', 'axis').attr('transform', `translate(0,${histH})`).call(xAxis).call((a) => styleAxis(a, theme));
  hist.append('text').attr('x', innerW / 2).attr('y', histH + 32).attr('text-anchor', 'middle').attr('fill', theme.muted).attr('font-size', 11).text('local expert');

  // ---- m_indices strip
  const stripTop = top + histH + 64;
  const strip = svg.append('g').attr('class', 'strip').attr('transform', `translate(${margin.l},${stripTop})`);
  drawMIndicesStrip(strip, stripRunsOf(m), { rx, innerW, stripH, theme, padFill: `url(#${ids.pad})`, hot, labels: segLabels, mSum: m.mSum });
  const marks = strip.append('g').attr('class', 'row-marks').attr('pointer-events', 'none');
  const tone = [theme.charts.blue, theme.charts.green, theme.charts.purple, theme.charts.yellow];

  // ---- tokens × top-k grid
  const tg = svg.append('g').attr('class', 'tokens').attr('transform', `translate(${margin.l},${tokensTop})`);
  tg.append('text').attr('x', -8).attr('y', -10).attr('text-anchor', 'start').attr('font-size', 11).attr('fill', theme.muted)
    .text(showTokens < m.tokens ? `tokens × top-${m.topk} (first ${showTokens} of ${m.tokens}; colour = expert)` : `tokens × top-${m.topk} (colour = expert)`);
  const pairs: { t: number; s: number }[] = [];
  for (let t = 0; t < showTokens; t++) for (let s = 0; s < m.topk; s++) pairs.push({ t, s });
  const colourOf = (e: number): string => (e < 0 ? theme.background : hot.has(e) ? theme.charts.orange : tone[e % tone.length]!);
  const tx = (t: number, s: number): number => (t % perRow) * (m.topk * cell + 4) + s * cell;
  const ty = (t: number): number => Math.floor(t / perRow) * (cell + 3);
  tg.selectAll('rect.pair').data(pairs).join('rect').attr('class', 'pair').attr('data-token', (d) => d.t).attr('data-slot', (d) => d.s)
    .attr('x', (d) => tx(d.t, d.s)).attr('y', (d) => ty(d.t)).attr('width', cell - 0.5).attr('height', cell)
    .attr('fill', (d) => { const r = m.invPerm[d.t * m.topk + d.s]!; return colourOf(r >= 0 ? m.mIndices[r]! : -1); })
    .attr('stroke', (d) => (m.invPerm[d.t * m.topk + d.s]! < 0 ? theme.muted : 'none'));
  const tokHl = tg.append('g').attr('class', 'token-hl').attr('pointer-events', 'none');

  const legend = svg.append('g').attr('class', 'legend').attr('transform', `translate(14,${H - 26})`);
  legendRow(legend, [
    { label: 'routed rows', fill: theme.charts.blue },
    { label: 'hot expert (> mean + 2σ)', fill: theme.charts.orange },
    { label: 'padding rows (m_indices = −1)', fill: `url(#${ids.pad})` },
  ], theme);

  const hoverToken = (t: number): TokenInfo | null => {
    const info = tokenInfo(m, t);
    marks.selectAll('*').remove();
    tokHl.selectAll('*').remove();
    svg.selectAll('.pair.hl').classed('hl', false);
    if (!info) return null;
    svg.selectAll(`.pair[data-token="${t}"]`).classed('hl', true);
    if (t < showTokens) {
      tokHl.append('rect').attr('x', tx(t, 0) - 1.5).attr('y', ty(t) - 1.5).attr('width', m.topk * cell + 2.5).attr('height', cell + 3)
        .attr('fill', 'none').attr('stroke', theme.focus).attr('stroke-width', 2);
    }
    marks.selectAll('line').data(info.slots.filter((s) => s.row >= 0)).join('line').attr('class', 'row-mark')
      .attr('x1', (s) => rx(s.row + 0.5)).attr('x2', (s) => rx(s.row + 0.5)).attr('y1', -4).attr('y2', stripH + 4)
      .attr('stroke', theme.focus).attr('stroke-width', 2);
    return info;
  };
  return { svg, hoverToken };
}

export function styleAxis(a: G | d3.Selection<SVGGElement, unknown, null, undefined>, theme: Theme): void {
  a.selectAll('path,line').attr('stroke', theme.border);
  a.selectAll('text').attr('fill', theme.muted).attr('font-family', theme.fontFamily);
  a.attr('font-family', theme.fontFamily);
}

/** The live view: the permutation of a contiguous run, from its topk_ids. */
export function mount(el: HTMLElement, ctx: ViewContext): ViewHandle {
  const m = permutationOf(ctx.trace);
  if (typeof m === 'string') throw new Error(m);
  const h = render(el, { model: m, title: `Expert permutation — ${ctx.trace.spec.name}` }, { theme: ctx.theme, width: ctx.width, idPrefix: 'live-perm' });
  ctx.notePicture();
  return h;
}

export function standalone(doc: Document, input: ExportInput, o: StandaloneOptions): SVGSVGElement {
  const m = permutationOf(input.trace);
  if (typeof m === 'string') throw new MoeError('E_SPEC', m, 'topk_ids');
  return permutationSvg(doc, { model: m, title: `Expert permutation — ${input.trace.spec.name}` }, { theme: o.theme, width: o.width, idPrefix: 'x-perm' }).svg.node()!;
}
