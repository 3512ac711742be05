/**
 * grouped_layout with its padding (docs/layouts-and-stages.md §8, §5.3): the padded buffer's rows as one strip — each expert's
 * token rows in its colour, the tail that pads its group to 128 rows and the buffer's slack after the last group
 * hatched (−1) — with the 128-row tiles of the M-grouped GEMM and, below, which 64-row WGMMA sub-tiles of DeepGEMM's
 * SM90 kernel run their MMAs (a sub-tile runs iff its first row is ≥ 0; a skipped one stores zeros). Drawn as runs,
 * not rows, so a buffer of tens of thousands of rows stays a few hundred nodes.
 */
import type { Trace } from '../../../trace';
import { addPatterns, createSvg, legendRow } from '../../../../webview/views/svgkit';
import { frame, type TrainingViewOptions } from './frame';
import { expertColor, rowRange } from './model';
import { TT } from '../tensors';

/** sub-tiles drawn one by one up to this many; above, their counts are given in words */
export const SUBTILE_LIMIT = 1024;

export function render(container: HTMLElement, trace: Trace, options: TrainingViewOptions = {}): void {
  const f = frame(container, trace, 'grouped-layout-view', options);
  if (!f) return;
  const { model: m, theme, width, prefix } = f;
  const g = m.groups;
  const rows = g.bufferRows;
  const left = 16;
  const plotW = width - 2 * left;
  const x = (r: number): number => left + (rows > 0 ? (r / rows) * plotW : 0);
  const height = 210;
  const svg = createSvg(container.ownerDocument, width, height, theme, `grouped_layout: ${rows} rows, ${m.E} experts`);
  const pat = addPatterns(svg, theme, prefix);
  svg.append('text').attr('class', 'title').attr('x', left).attr('y', 20).attr('font-weight', 'bold').text(`grouped_layout (${rows},) int32 — row → expert for the M-grouped GEMMs, −1 = padding`);
  svg
    .append('text')
    .attr('class', 'subtitle')
    .attr('x', left)
    .attr('y', 38)
    .attr('fill', theme.muted)
    .text(`${rows} rows = align(M + E·128, 128) = align(${m.M} + ${m.E}·128, 128); the groups fill S = ${g.paddedTokens} rows (${m.M} tokens), the rest is slack`);

  const strip = svg.append('g').attr('class', 'strip');
  const y0 = 56;
  const h = 34;
  // −1 runs are split where the groups end: group padding before S, the buffer's slack after
  const segments = m.runs.flatMap((r) => (r.expert < 0 && r.start < g.paddedTokens && r.end > g.paddedTokens ? [{ ...r, end: g.paddedTokens }, { ...r, start: g.paddedTokens }] : [r]));
  for (const run of segments) {
    const w = Math.max(0.5, x(run.end) - x(run.start));
    const slack = run.expert < 0 && run.start >= g.paddedTokens;
    const owner = run.expert < 0 && !slack ? ownerOf(g.starts, g.padded, run.start) : -1;
    const rect = strip
      .append('rect')
      .attr('class', run.expert >= 0 ? 'run' : slack ? 'slack-run' : 'pad-run')
      .attr('data-start', run.start)
      .attr('data-end', run.end)
      .attr('data-expert', run.expert)
      .attr('x', x(run.start))
      .attr('y', y0)
      .attr('width', w)
      .attr('height', h)
      .attr('fill', run.expert >= 0 ? expertColor(run.expert, theme.charts) : `url(#${slack ? pat.unalloc : pat.pad})`)
      .attr('stroke', theme.border);
    rect
      .append('title')
      .text(
        run.expert >= 0
          ? `rows ${rowRange(run.start, run.end)} → ${run.expert}: expert ${run.expert}'s ${run.end - run.start} tokens`
          : slack
            ? `rows ${rowRange(run.start, run.end)} → −1: slack of the worst-case buffer (zero rows, never computed)`
            : `rows ${rowRange(run.start, run.end)} → −1: expert ${owner}'s group padded to ${g.padded[owner]} rows`,
      );
  }
  // the 128-row tiles (every tile when there are few, else every k-th)
  const tiles = Math.ceil(rows / 128);
  const step = Math.max(1, Math.ceil(tiles / 128));
  const ticks = svg.append('g').attr('class', 'tiles');
  for (let t = 0; t <= tiles; t += step)
    ticks.append('line').attr('class', 'tile-tick').attr('x1', x(t * 128)).attr('x2', x(t * 128)).attr('y1', y0 - 4).attr('y2', y0 + h + 4).attr('stroke', theme.foreground).attr('stroke-width', 0.6);

  // per-expert labels under the strip, on two lines; a label that fits on neither is left to the tooltip
  const labels = svg.append('g').attr('class', 'labels');
  const lineEnd = [-Infinity, -Infinity];
  for (let e = 0; e < m.E; e++) {
    if (g.padded[e] === 0) continue;
    const text = `e${e}: ${g.sizes[e]} rows at ${g.starts[e]} + ${g.padded[e]! - g.sizes[e]!} pad`;
    const lx = x(g.starts[e]!) + 2;
    const line = lineEnd.findIndex((end) => end < lx);
    if (line < 0) continue;
    lineEnd[line] = lx + text.length * 5.6 + 6;
    labels.append('text').attr('class', 'expert-label').attr('data-expert', e).attr('x', lx).attr('y', y0 + h + 16 + line * 13).attr('font-size', 10).attr('fill', theme.foreground).text(text);
  }

  // WGMMA sub-tiles of 64 rows: runs iff the first row is ≥ 0
  const subtiles = Math.ceil(rows / 64);
  const firstRowExpert = (r: number): number => {
    for (const run of m.runs) if (r >= run.start && r < run.end) return run.expert;
    return -1;
  };
  let running = 0;
  for (let s = 0; s < subtiles; s++) if (firstRowExpert(s * 64) >= 0) running++;
  const ys = y0 + h + 48;
  svg.append('text').attr('class', 'subtile-caption').attr('x', left).attr('y', ys - 6).attr('font-size', 11).attr('fill', theme.muted)
    .text(`DeepGEMM SM90 kernel: ${running} of ${subtiles} 64-row sub-tiles run their MMAs (first row ≥ 0); the others store zeros`);
  if (subtiles <= SUBTILE_LIMIT) {
    const sg = svg.append('g').attr('class', 'subtiles');
    for (let s = 0; s < subtiles; s++) {
      const e = firstRowExpert(s * 64);
      sg.append('rect')
        .attr('class', `subtile ${e >= 0 ? 'runs' : 'skipped'}`)
        .attr('data-subtile', s)
        .attr('x', x(s * 64) + 0.5)
        .attr('y', ys)
        .attr('width', Math.max(0.5, x(Math.min(rows, (s + 1) * 64)) - x(s * 64) - 1))
        .attr('height', 10)
        .attr('fill', e >= 0 ? expertColor(e, theme.charts) : 'none')
        .attr('stroke', theme.border)
        .append('title')
        .text(`rows ${rowRange(s * 64, Math.min(rows, (s + 1) * 64))}: ${e >= 0 ? `MMAs with expert ${e}'s weights` : 'skipped (first row −1)'}`);
    }
  }

  // the trace's own grouped_layout, when it came inline, must be the one drawn
  const inline = trace.tensors[TT.grouped_layout]?.inline;
  if (inline) {
    const bad = inline.findIndex((v, r) => v !== firstRowExpert(r));
    if (bad >= 0 || inline.length !== rows)
      svg.append('text').attr('class', 'warning').attr('x', left).attr('y', ys + 30).attr('fill', theme.charts.red)
        .text(`the trace's grouped_layout differs from the layout of its group sizes${bad >= 0 ? ` at row ${bad}` : ` (length ${inline.length})`}`);
  }

  const legend = svg.append('g').attr('transform', `translate(${left}, ${height - 30})`);
  legendRow(
    legend,
    [
      ...Array.from({ length: Math.min(m.E, 4) }, (_, e) => ({ label: `expert ${e}`, fill: expertColor(e, theme.charts) })),
      { label: 'padding to 128 (−1)', fill: `url(#${pat.pad})` },
      { label: 'slack (−1)', fill: `url(#${pat.unalloc})` },
    ],
    theme,
    plotW,
  );
  container.appendChild(svg.node()!);
}

/** the expert whose padded group holds row r */
function ownerOf(starts: Int32Array, padded: Int32Array, r: number): number {
  for (let e = 0; e < starts.length; e++) if (r >= starts[e]! && r < starts[e]! + padded[e]!) return e;
  return -1;
}
