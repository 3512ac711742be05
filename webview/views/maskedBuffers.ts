/**
 * Masked-layout view (DeepEP low-latency dispatch → DeepGEMM's masked grouped GEMM): each local expert's
 * (max_m)-row receive buffer, with the valid rows (masked_m[e]), the rows the masked kernel executes but discards
 * (its row blocks round masked_m up), and the stale rows no one reads; beside it the same routing laid out
 * contiguously (align(count, blockM) segments, the contiguous recipe) — so the two paddings compare in rows, bytes
 * and percent. Drawn from trace.permutation (counts and the masked fields) and the receive buffer's layout
 * descriptor only.
 */
import * as d3 from 'd3';
import type { Trace, TensorRef } from '../../kernels/trace';
import type { Theme } from '../theme';
import { T } from '../../kernels/recipes/tensors';
import { createSvg, addPatterns, legendRow, fmtBytes, type Svg } from './svgkit';
import { styleAxis } from './permutation';
import type { ExportInput, StandaloneOptions, ViewContext, ViewHandle } from './context';

export interface MaskedModel {
  experts: number;
  maxM: number;
  /** rows per tile of the masked kernel: it executes ⌈masked_m / rowBlock⌉ blocks per expert */
  rowBlock: number;
  counts: number[];
  /** rows the masked kernel executes per expert */
  executed: number[];
  routed: number;
  bufferRows: number;
  executedRows: number;
  /** rows past masked_m in the buffers: allocated, received nothing this batch */
  staleRows: number;
  /** executed rows past masked_m: computed and discarded */
  executedPadding: number;
  /** the contiguous layout of the same counts */
  contiguous: { blockM: number; segLen: number[]; mSum: number; padding: number };
  /** bytes of one buffer row and of the whole buffer, from the receive buffer's layout descriptor, when known */
  buffer?: { tensor: string; rowBytes: number; totalBytes: number; dtype: string };
}

/** Throws (with the reason) when the trace is not a masked run. */
export function maskedModel(trace: Trace): MaskedModel {
  const p = trace.permutation;
  if (p.layout !== 'masked' || !p.masked) throw new Error('Masked buffers: this run is not a masked (DeepEP low-latency) run; see the Permutation view');
  const { maxM, rowBlock, bufferRows, executedRows } = p.masked;
  const counts = p.counts;
  const executed = counts.map((c) => Math.min(maxM, Math.ceil(c / rowBlock) * rowBlock));
  const routed = counts.reduce((a, b) => a + b, 0);
  const blockM = trace.spec.blockM;
  const segLen = counts.map((c) => Math.ceil(c / blockM) * blockM);
  const mSum = segLen.reduce((a, b) => a + b, 0);
  return {
    experts: counts.length,
    maxM,
    rowBlock,
    counts,
    executed,
    routed,
    bufferRows,
    executedRows,
    staleRows: bufferRows - routed,
    executedPadding: executedRows - routed,
    contiguous: { blockM, segLen, mSum, padding: mSum - routed },
    ...bufferOf(trace.tensors[T.hidden_states] ?? trace.tensors[T.a1q], maxM),
  };
}

/** The receive buffer's row and total bytes from its layout descriptor: (E, max_m, K) elements of itemBytes. */
function bufferOf(ref: TensorRef | undefined, maxM: number): { buffer?: MaskedModel['buffer'] } {
  const l = ref?.layout;
  if (!ref || !l || l.shape.length !== 3 || l.shape[1] !== maxM) return {};
  const rowElems = l.shape[2]!;
  return { buffer: { tensor: ref.name, rowBytes: rowElems * l.itemBytes, totalBytes: l.storageElems * l.itemBytes, dtype: ref.dtype } };
}

const pct = (a: number, b: number): string => (b > 0 ? `${((100 * a) / b).toFixed(1)}%` : '0%');

/** The numbers beside the picture: both paddings, in rows, percent and (when the descriptor says) bytes. */
export function wasteLines(m: MaskedModel): string[] {
  const bytes = (rows: number): string => (m.buffer ? ` = ${fmtBytes(rows * m.buffer.rowBytes)} of ${m.buffer.tensor}` : '');
  return [
    `masked buffers: ${m.experts} × ${m.maxM} = ${m.bufferRows} rows${m.buffer ? ` (${fmtBytes(m.buffer.totalBytes)} ${m.buffer.dtype})` : ''}, ${m.routed} valid`,
    `stale rows (past masked_m): ${m.staleRows} = ${pct(m.staleRows, m.bufferRows)} of the buffers${bytes(m.staleRows)}`,
    `executed by the masked kernel (⌈masked_m/${m.rowBlock}⌉·${m.rowBlock} per expert): ${m.executedRows} rows, ${m.executedPadding} of them padding = ${pct(m.executedPadding, m.executedRows)}`,
    `contiguous layout (align(count, ${m.contiguous.blockM})): M_sum ${m.contiguous.mSum} rows, ${m.contiguous.padding} padding = ${pct(m.contiguous.padding, m.contiguous.mSum)}`,
  ];
}

export interface MaskedSvgOptions {
  theme: Theme;
  width: number;
  idPrefix: string;
  title?: string;
}

/** The whole picture as one SVG (live and exported): two bar panels on one row scale, legend, numbers. */
export function maskedBuffersSvg(doc: Document, m: MaskedModel, o: MaskedSvgOptions): Svg {
  const { theme } = o;
  const W = o.width;
  const margin = { l: 56, r: 16 };
  const gap = 48;
  const panelW = (W - margin.l - margin.r - gap) / 2;
  const top = 84;
  const panelH = 240;
  const lines = wasteLines(m);
  const wasteY = top + panelH + 56;
  const legendY = wasteY + lines.length * 17 + 8;
  // the legend wraps onto a second line on a narrow panel
  const H = legendY + 48;
  const title = o.title ?? 'Masked buffers';
  const svg = createSvg(doc, W, H, theme, title);
  const ids = addPatterns(svg, theme, o.idPrefix);
  svg.append('text').attr('class', 'title').attr('x', 14).attr('y', 20).attr('font-size', 14).attr('font-weight', 600).text(title);
  svg.append('text').attr('class', 'subtitle').attr('x', 14).attr('y', 38).attr('fill', theme.muted).attr('font-size', 11)
    .text(`${m.experts} local experts × max_m ${m.maxM} rows · ${m.routed} valid rows · masked kernel row block ${m.rowBlock}`);
  const maxRows = Math.max(m.maxM, ...m.contiguous.segLen, 1);
  const y = d3.scaleLinear().domain([0, maxRows]).range([0, panelH]);
  const x = d3.scaleBand<number>().domain(d3.range(m.experts)).range([0, panelW]).paddingInner(m.experts > 64 ? 0 : 0.12);
  const bw = x.bandwidth();
  const tone = theme.charts.blue;

  // ---- masked: buffers hang from row 0 down to max_m
  const left = svg.append('g').attr('class', 'panel masked').attr('transform', `translate(${margin.l},${top})`);
  left.append('text').attr('class', 'panel-header').attr('y', -12).attr('font-weight', 600).text(`Masked: ${m.experts} × ${m.maxM}-row buffers`);
  left.append('g').attr('class', 'axis').call(d3.axisLeft(y).ticks(5).tickSizeOuter(0)).call((a) => styleAxis(a, theme));
  const ex = left.selectAll('g.expert').data(d3.range(m.experts)).join('g').attr('class', 'expert').attr('data-expert', (e) => e);
  ex.append('rect').attr('class', 'stale-rows').attr('x', (e) => x(e)!).attr('width', bw)
    .attr('y', (e) => y(m.executed[e]!)).attr('height', (e) => y(m.maxM) - y(m.executed[e]!)).attr('fill', `url(#${ids.kpad})`)
    .attr('stroke', bw >= 4 ? theme.border : 'none');
  ex.append('rect').attr('class', 'executed-padding').attr('x', (e) => x(e)!).attr('width', bw)
    .attr('y', (e) => y(m.counts[e]!)).attr('height', (e) => y(m.executed[e]!) - y(m.counts[e]!)).attr('fill', `url(#${ids.pad})`);
  ex.append('rect').attr('class', 'valid-rows').attr('x', (e) => x(e)!).attr('width', bw)
    .attr('y', 0).attr('height', (e) => y(m.counts[e]!)).attr('fill', tone);
  ex.append('title').text((e) =>
    `expert ${e}: masked_m ${m.counts[e]} of ${m.maxM} rows (fill ${pct(m.counts[e]!, m.maxM)}); the kernel executes ${m.executed[e]} rows ` +
      `(${m.executed[e]! - m.counts[e]!} padding); ${m.maxM - m.executed[e]!} stale rows untouched`);
  if (bw >= 22)
    ex.append('text').attr('class', 'fill-label').attr('x', (e) => x(e)! + bw / 2).attr('y', () => y(m.maxM) + 12).attr('text-anchor', 'middle')
      .attr('font-size', 9).attr('fill', theme.muted).text((e) => pct(m.counts[e]!, m.maxM));
  // the masked kernel's row blocks: where its tiles start in every buffer
  const blocks = d3.range(m.rowBlock, m.maxM, m.rowBlock).filter((_, i, all) => all.length <= 64 || i % Math.ceil(all.length / 64) === 0);
  left.selectAll('line.row-block').data(blocks).join('line').attr('class', 'row-block').attr('x1', 0).attr('x2', panelW)
    .attr('y1', (r) => y(r)).attr('y2', (r) => y(r)).attr('stroke', theme.charts.orange).attr('stroke-dasharray', '4,3').attr('stroke-width', 1);
  left.append('line').attr('class', 'buffer-end').attr('x1', 0).attr('x2', panelW).attr('y1', y(m.maxM)).attr('y2', y(m.maxM)).attr('stroke', theme.foreground);

  // ---- contiguous: the same counts as align(count, blockM) segments
  const right = svg.append('g').attr('class', 'panel contiguous').attr('transform', `translate(${margin.l + panelW + gap},${top})`);
  right.append('text').attr('class', 'panel-header').attr('y', -12).attr('font-weight', 600).text(`Contiguous: align(count, ${m.contiguous.blockM}), M_sum ${m.contiguous.mSum}`);
  right.append('g').attr('class', 'axis').call(d3.axisLeft(y).ticks(5).tickSizeOuter(0)).call((a) => styleAxis(a, theme));
  const sx = right.selectAll('g.segment').data(d3.range(m.experts).filter((e) => m.contiguous.segLen[e]! > 0)).join('g').attr('class', 'segment').attr('data-expert', (e) => e);
  sx.append('rect').attr('class', 'segment-padding').attr('x', (e) => x(e)!).attr('width', bw)
    .attr('y', (e) => y(m.counts[e]!)).attr('height', (e) => y(m.contiguous.segLen[e]!) - y(m.counts[e]!)).attr('fill', `url(#${ids.pad})`)
    .attr('stroke', bw >= 4 ? theme.border : 'none');
  sx.append('rect').attr('class', 'segment-rows').attr('x', (e) => x(e)!).attr('width', bw).attr('y', 0).attr('height', (e) => y(m.counts[e]!)).attr('fill', tone);
  sx.append('title').text((e) => `expert ${e}: ${m.counts[e]} rows in a ${m.contiguous.segLen[e]}-row segment (${m.contiguous.segLen[e]! - m.counts[e]!} padding)`);

  for (const [g, label] of [[left, 'local expert'], [right, 'local expert']] as const)
    g.append('text').attr('x', panelW / 2).attr('y', panelH + 30).attr('text-anchor', 'middle').attr('fill', theme.muted).attr('font-size', 11).text(label);
  svg.append('text').attr('x', 14).attr('y', top + panelH / 2).attr('fill', theme.muted).attr('font-size', 11)
    .attr('transform', `rotate(-90, 14, ${top + panelH / 2})`).attr('text-anchor', 'middle').text('rows');

  legendRow(svg.append('g').attr('class', 'legend').attr('transform', `translate(14,${legendY})`), [
    { label: 'valid rows (masked_m)', fill: tone },
    { label: 'executed padding (row blocks) / contiguous padding', fill: `url(#${ids.pad})` },
    { label: 'stale rows (never read)', fill: `url(#${ids.kpad})` },
    { label: `masked kernel row block (${m.rowBlock})`, fill: 'none', stroke: theme.charts.orange, dash: '4,3' },
  ], theme, W - 28);
  svg.append('g').attr('class', 'waste').attr('transform', `translate(14,${wasteY})`).selectAll('text').data(lines).join('text')
    .attr('class', 'waste-line').attr('y', (_l, i) => i * 17).attr('font-size', 12).text((l) => l);
  return svg;
}

/** The live view: the same SVG in the view host. */
export function mount(el: HTMLElement, ctx: ViewContext): ViewHandle {
  const root = d3.select(el);
  root.classed('moe-view masked-view', true);
  const svg = maskedBuffersSvg(el.ownerDocument, maskedModel(ctx.trace), { theme: ctx.theme, width: ctx.width, idPrefix: 'live-masked', title: `Masked buffers — ${ctx.trace.spec.name}` });
  el.appendChild(svg.node()!);
  ctx.notePicture();
  return { destroy: () => root.selectAll('*').remove() };
}

export function standalone(doc: Document, input: ExportInput, o: StandaloneOptions): SVGSVGElement {
  return maskedBuffersSvg(doc, maskedModel(input.trace), { theme: o.theme, width: o.width, idPrefix: 'x-masked', title: `Masked buffers — ${input.trace.spec.name}` }).node()!;
}
