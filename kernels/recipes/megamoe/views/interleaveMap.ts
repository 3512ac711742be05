/**
 * The gate/up interleave of w13 (docs/layouts-and-stages.md §7.5): which row of the natural gate-then-up w13 each row of the
 * interleaved w13 came from, for the first rows (the pattern repeats every 16 rows), and the natural-order block
 * scale the Hopper kernel reads for it. Draws from the trace's `w13_interleave_map` (inline), or, when the trace holds
 * only its summary (large IH), from the §7.5 formula with IH = the spec's intermediate size — and says which.
 */
import type { Trace } from '../../../trace';
import { createSvg, legendRow } from '../../../../webview/views/svgkit';
import { MG } from '../tensors';
import { interleaveMap } from '../rowMaps';
import { inlineOf, messageSvg, mount, themeOf, type MegamoeViewOptions } from './common';

export interface InterleaveModel {
  ih: number;
  /** output rows drawn */
  rows: number;
  /** source row of each drawn output row */
  map: number[];
  /** the map came from the trace (else from the formula) */
  fromTrace: boolean;
}

export interface InterleaveViewOptions extends MegamoeViewOptions {
  /** output rows to draw (default 48: three 16-row periods) */
  rows?: number;
}

export function interleaveModel(trace: Trace, rows = 48): InterleaveModel | string {
  const ih = trace.spec.intermediate;
  const inline = inlineOf(trace, MG.w13_interleave_map);
  let map: number[];
  if (inline) map = inline;
  else if (Number.isInteger(ih) && ih > 0 && ih % 8 === 0) map = [...interleaveMap(ih)];
  else return `no interleave map: the trace has no inline ${MG.w13_interleave_map} and IH = ${ih} is not a multiple of 8`;
  const n = Math.min(map.length, Math.max(16, rows));
  return { ih, rows: n, map: map.slice(0, n), fromTrace: !!inline };
}

export function render(container: HTMLElement, trace: Trace, options: InterleaveViewOptions = {}): void {
  const doc = container.ownerDocument;
  const theme = themeOf(options);
  const m = interleaveModel(trace, options.rows);
  const title = 'w13 gate/up interleave (granularity 8)';
  if (typeof m === 'string') return mount(container, messageSvg(doc, theme, title, m), 'megamoe-interleave-view');
  const W = options.width ?? 760;
  const rowH = 12;
  const top = 86;
  const gap = 22;
  const half = Math.ceil(m.rows / 2);
  const H = top + m.rows * rowH + gap + 70;
  const svg = createSvg(doc, W, H, theme, title);
  svg.append('text').attr('class', 'title').attr('x', 14).attr('y', 22).attr('font-size', 14).attr('font-weight', 600).text(title);
  svg.append('text').attr('class', 'subtitle').attr('x', 14).attr('y', 40).attr('fill', theme.muted).attr('font-size', 11)
    .text(`IH = ${m.ih}: output row r, b = ⌊r/16⌋, w = r mod 16 ← gate row 8b + w (w < 8) or up row IH + 8b + w − 8 · first ${m.rows} of ${2 * m.ih} rows${m.fromTrace ? '' : ' (computed from IH: the map is not inline in this trace)'}`);
  const gate = theme.charts.blue;
  const up = theme.charts.orange;
  const srcX = 24, boxW = 140, outX = W - 60 - 2 * boxW;
  const scaleX = outX + boxW + 24;
  const labels = svg.append('g').attr('class', 'headers').attr('font-size', 11).attr('fill', theme.muted);
  labels.append('text').attr('x', srcX).attr('y', top - 10).text('natural w13 (checkpoint order)');
  labels.append('text').attr('x', outX).attr('y', top - 10).text('interleaved w13 (L1 operand)');
  labels.append('text').attr('x', scaleX).attr('y', top - 22).text('SM90 scale row');
  labels.append('text').attr('x', scaleX).attr('y', top - 10).text('(natural order)');

  // source rows in view: the gate rows and the up rows the drawn output rows use
  const sources = [...m.map].sort((a, b) => a - b);
  const srcY = new Map<number, number>();
  sources.forEach((s, i) => srcY.set(s, top + i * rowH + (s >= m.ih ? gap : 0)));
  const src = svg.append('g').attr('class', 'sources');
  for (const s of sources) {
    const isGate = s < m.ih;
    const g = src.append('g').attr('class', `source-row ${isGate ? 'gate' : 'up'}`).attr('data-row', s);
    g.append('rect').attr('x', srcX).attr('y', srcY.get(s)!).attr('width', boxW).attr('height', rowH - 1).attr('fill', isGate ? gate : up).attr('opacity', 0.85);
    g.append('text').attr('x', srcX + 4).attr('y', srcY.get(s)! + rowH - 3).attr('font-size', 9).attr('fill', theme.background)
      .text(isGate ? `row ${s} · gate ${s}` : `row ${s} · up ${s - m.ih}`);
  }
  if (sources.some((s) => s >= m.ih))
    svg.append('text').attr('x', srcX).attr('y', top + half * rowH + gap / 2 + 4).attr('font-size', 10).attr('fill', theme.muted).text(m.ih > half ? `… gate rows ${half}…${m.ih - 1} (not drawn) …` : '');

  const links = svg.append('g').attr('class', 'links').attr('fill', 'none');
  const out = svg.append('g').attr('class', 'outputs');
  m.map.forEach((s, r) => {
    const isGate = s < m.ih;
    const y = top + r * rowH;
    const y0 = srcY.get(s)! + rowH / 2;
    const y1 = y + rowH / 2;
    const x0 = srcX + boxW, x1 = outX;
    links.append('path').attr('class', `link ${isGate ? 'gate' : 'up'}`).attr('data-out', r).attr('data-src', s)
      .attr('d', `M${x0},${y0} C${(x0 + x1) / 2},${y0} ${(x0 + x1) / 2},${y1} ${x1},${y1}`)
      .attr('stroke', isGate ? gate : up).attr('stroke-width', 1).attr('opacity', 0.7);
    const g = out.append('g').attr('class', `out-row ${isGate ? 'gate' : 'up'}`).attr('data-row', r).attr('data-src', s);
    g.append('rect').attr('x', outX).attr('y', y).attr('width', boxW).attr('height', rowH - 1).attr('fill', isGate ? gate : up).attr('opacity', 0.85);
    const name = isGate ? `g${s}` : `u${s - m.ih}`;
    g.append('text').attr('x', outX + 4).attr('y', y + rowH - 3).attr('font-size', 9).attr('fill', theme.background).text(`out ${r} ← ${name}`);
    g.append('text').attr('class', 'scale-row').attr('x', scaleX).attr('y', y + rowH - 3).attr('font-size', 9).attr('fill', theme.muted)
      .text(`block ${Math.floor(s / 128)}`);
    g.append('title').text(`interleaved row ${r} ← w13 row ${s} (${isGate ? `gate ${s}` : `up ${s - m.ih}`}); its SM90 scale is w13_weight_scale_inv[e, ${Math.floor(s / 128)}, :] (natural order)`);
    if (r % 16 === 15 && r + 1 < m.rows)
      out.append('line').attr('class', 'period').attr('x1', outX - 6).attr('x2', scaleX + 60).attr('y1', y + rowH - 0.5).attr('y2', y + rowH - 0.5).attr('stroke', theme.border).attr('stroke-dasharray', '3,2');
  });
  const legend = svg.append('g').attr('class', 'legend').attr('transform', `translate(14,${H - 30})`);
  legendRow(legend, [
    { label: 'gate row (first IH rows of w13)', fill: gate },
    { label: 'up row (rows IH…2·IH−1)', fill: up },
    { label: '16-row period', fill: 'none', dash: '3,2' },
  ], theme);
  mount(container, svg, 'megamoe-interleave-view');
}
