/**
 * docs/layouts-and-stages.md §8's worked example, drawn from a trace: the arithmetic of the padding (sizes → padded sizes →
 * starts → buffer rows), grouped_layout as the spec writes it ("0–99 → 0, 100–127 → −1, …") under a row strip, and
 * the wgrad layout (each expert's byte range in the flat buffer, the scale columns it owns). With the spec's groups
 * (100 and 30; K = N = 256) it reproduces the spec's numbers; with any other trace it is the same walk-through for
 * that layer.
 */
import type { Trace } from '../../../trace';
import { addPatterns, createSvg } from '../../../../webview/views/svgkit';
import { frame, type TrainingViewOptions } from './frame';
import { expertColor, layoutRunsText, rowRange, scaleColumnsText, type TrainingModel } from './model';
import { kGroupedExtent } from '../groups';

/** the lines of the walk-through (also what the tests read) */
export function workedExampleLines(m: Pick<TrainingModel, 'M' | 'K' | 'N' | 'E' | 'groups' | 'runs'>): { padding: string[]; layout: string[]; wgrad: string[] } {
  const g = m.groups;
  const list = (a: ArrayLike<number>): string => `[${Array.from(a).join(', ')}]`;
  const padding = [
    `group sizes c = ${list(g.sizes)}, M = ${m.M}`,
    `padded P_e = align(c_e, 128) = ${list(g.padded)}, starts s_e = ${list(g.starts)}, S = ${g.paddedTokens}`,
    `buffer rows = align(M + E·128, 128) = align(${m.M} + ${m.E}·128, 128) = ${g.bufferRows}`,
  ];
  const layout = [`grouped_layout: ${layoutRunsText(m.runs).join(', ')}`];
  const wgrad: string[] = [];
  for (const [name, D, dn] of [
    ['LHS (grad_output)', m.N, 'N'],
    ['RHS (input)', m.K, 'K'],
  ] as const) {
    const ranges = Array.from({ length: m.E }, (_, e) => e)
      .filter((e) => g.padded[e]! > 0)
      .map((e) => {
        const [b, end] = kGroupedExtent(g, D, e);
        return `expert ${e} [${b}, ${end})`;
      });
    wgrad.push(`${name}: flat length Σ P_e·${dn} = ${g.paddedTokens}·${D} = ${g.paddedTokens * D} bytes; ${ranges.join(', ') || 'empty'}`);
    wgrad.push(`  scales (${D}, ${g.blocks}): ${scaleColumnsText(g).join(', ') || 'none'}`);
  }
  return { padding, layout, wgrad };
}

export function render(container: HTMLElement, trace: Trace, options: TrainingViewOptions = {}): void {
  const f = frame(container, trace, 'worked-example-view', options);
  if (!f) return;
  const { model: m, theme, width, prefix } = f;
  const lines = workedExampleLines(m);
  const svg = createSvg(container.ownerDocument, width, 275, theme, 'torchao FP8 training: padding and layouts, worked through');
  const pat = addPatterns(svg, theme, prefix);
  svg.append('text').attr('class', 'title').attr('x', 16).attr('y', 22).attr('font-weight', 'bold').text('Padding, grouped_layout and the K-grouped buffers, worked through (docs/layouts-and-stages.md §8)');
  let y = 46;
  const line = (t: string, cls: string): void => {
    svg.append('text').attr('class', `line ${cls}`).attr('x', 16).attr('y', y).attr('font-family', theme.monoFamily).attr('font-size', 11).text(t);
    y += 17;
  };
  lines.padding.forEach((t) => line(t, 'padding'));
  y += 4;
  // the row strip with each run's range written under it
  const rows = m.groups.bufferRows;
  const w = width - 32;
  const x = (r: number): number => 16 + (rows > 0 ? (r / rows) * w : 0);
  const strip = svg.append('g').attr('class', 'strip');
  m.runs.forEach((r, i) => {
    strip.append('rect').attr('class', r.expert >= 0 ? 'run' : 'pad-run').attr('data-expert', r.expert)
      .attr('x', x(r.start)).attr('y', y).attr('width', Math.max(0.5, x(r.end) - x(r.start))).attr('height', 22)
      .attr('fill', r.expert >= 0 ? expertColor(r.expert, theme.charts) : `url(#${pat.pad})`).attr('stroke', theme.border);
    strip.append('text').attr('class', 'run-label').attr('x', x(r.start) + 2).attr('y', y + 36 + (i % 2) * 12).attr('font-size', 10)
      .text(`${rowRange(r.start, r.end)} → ${r.expert < 0 ? '−1' : r.expert}`);
  });
  y += 70;
  lines.layout.forEach((t) => line(t, 'layout'));
  y += 4;
  lines.wgrad.forEach((t) => line(t, 'wgrad'));
  container.appendChild(svg.node()!);
}
