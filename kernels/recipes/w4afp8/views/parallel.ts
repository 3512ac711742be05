/**
 * The TP vs EP picture of a W4AFP8 run (docs/layouts-and-stages.md §9): two panels for the same GPU count, each an
 * experts × intermediate-size rectangle coloured by the GPU that holds that part of the weights — TP cuts it into
 * horizontal bands (every GPU: all experts, I/tp of I), EP into vertical ones (every GPU: E/ep experts, full I) —
 * with the per-GPU shapes and the scale-interleave factor α each mode gives underneath. The run's own mode is
 * framed, and under EP its rank. Drawn only from the Trace: the load stage's plan tensor (who holds what, α) and
 * the spec (E, H, I). Pure D3, no VS Code.
 */
import * as d3 from 'd3';
import type { Trace } from '../../../trace';
import type { Theme } from '../../../../webview/theme';
import { THEMES } from '../../../../webview/theme';
import { createSvg, type G } from '../../../../webview/views/svgkit';
import { parallelLayout, PLAN_COLUMNS, type ParallelMode } from '../parallel';
import { WT } from '../tensors';

export interface ParallelViewOptions {
  theme?: Theme;
  /** width of one panel's rectangle in px (default 300) */
  panelWidth?: number;
}

interface Share {
  gpu: number;
  expertFirst: number;
  expertCount: number;
  expertStride: number;
  iBegin: number;
  iEnd: number;
  alpha13: number;
  alpha2: number;
}

/** rows of the plan tensor by mode, or a reason there are none */
export function planOf(trace: Trace): Record<ParallelMode, Share[]> | string {
  const ref = trace.tensors[WT.parallel_plan];
  if (!ref) return trace.pending?.some((p) => p.outputs.includes(WT.parallel_plan)) ? 'waiting for the load stage, which writes the parallel plan' : `this trace has no ${WT.parallel_plan} (not a W4AFP8 run)`;
  const cols = PLAN_COLUMNS.length;
  if (!ref.inline || ref.shape.length !== 2 || ref.shape[1] !== cols) return `${WT.parallel_plan}: expected an inline [rows, ${cols}] tensor, got ${JSON.stringify(ref.shape)}${ref.inline ? '' : ' without values'}`;
  const out: Record<ParallelMode, Share[]> = { tp: [], ep: [] };
  for (let r = 0; r < ref.shape[0]!; r++) {
    const v = ref.inline.slice(r * cols, (r + 1) * cols);
    out[v[0] === 0 ? 'tp' : 'ep'].push({ gpu: v[1]!, expertFirst: v[2]!, expertCount: v[3]!, expertStride: v[4]!, iBegin: v[5]!, iEnd: v[6]!, alpha13: v[7]!, alpha2: v[8]! });
  }
  return out;
}

const tpOf = (trace: Trace): number => trace.spec.recipe.options?.tp ?? 1;

/** the mode and rank this run computed */
export function runMode(trace: Trace): { mode: ParallelMode; size: number; rank?: number } {
  const tp = tpOf(trace);
  if (tp > 1) return { mode: 'tp', size: tp };
  const ep = trace.spec.expertParallel;
  if (ep && ep.size > 1) return { mode: 'ep', size: ep.size, rank: ep.rank };
  return { mode: 'tp', size: 1 };
}

const fmt = (s: readonly number[]): string => `(${s.join(', ')})`;

export function render(container: HTMLElement, trace: Trace, options: ParallelViewOptions = {}): void {
  const theme = options.theme ?? THEMES.dark;
  const doc = container.ownerDocument;
  d3.select(container).selectAll('*').remove();
  d3.select(container).classed('moe-view w4afp8-parallel-view', true);
  const plan = planOf(trace);
  if (typeof plan === 'string') {
    const p = doc.createElement('p');
    p.className = 'empty';
    p.textContent = plan;
    container.appendChild(p);
    return;
  }
  const { experts: E, hidden: H } = trace.spec;
  const I = trace.spec.intermediate;
  const run = runMode(trace);
  const size = plan.tp.length;
  const pw = options.panelWidth ?? 300;
  const ph = 180;
  const margin = { left: 54, top: 64, gap: 40 };
  const textBlock = 150;
  // a column holds the panel and the shape lines under it (monospace, up to ~66 characters at 11 px)
  const colW = Math.max(pw, 440);
  const width = margin.left + 2 * colW + margin.gap + 20;
  const height = margin.top + ph + 34 + textBlock;
  const title = `TP vs EP on ${size} GPU${size === 1 ? '' : 's'}: E = ${E} experts, H = ${H}, I = ${I}`;
  const svg = createSvg(doc, width, height, theme, title);
  svg.append('text').attr('class', 'title').attr('x', 12).attr('y', 20).attr('font-weight', 'bold').text(title);
  svg
    .append('text')
    .attr('class', 'subtitle')
    .attr('x', 12)
    .attr('y', 38)
    .attr('fill', theme.muted)
    .text(
      size === 1
        ? 'one GPU: both modes hold every expert and the full I'
        : `this run: ${run.mode.toUpperCase()}${run.size}${run.rank !== undefined ? `, rank ${run.rank}` : ''} — the other panel is the alternative with the same GPUs (SGLang PR #8118)`,
    );
  // ten distinct hues (a GPU count is usually 2–8); the share's label says which GPU where colours repeat
  const colour = (g: number): string => d3.schemeTableau10[g % 10]!;
  (['tp', 'ep'] as const).forEach((mode, i) => {
    const g = svg.append('g').attr('class', `panel panel-${mode}`).attr('data-mode', mode).attr('transform', `translate(${margin.left + i * (colW + margin.gap)},${margin.top})`);
    drawPanel(g, mode, plan[mode], { E, H, I, pw, ph, theme, colour, current: run.mode === mode, rank: run.mode === mode ? run.rank : undefined });
  });
  container.appendChild(svg.node()!);
}

interface PanelCtx {
  E: number;
  H: number;
  I: number;
  pw: number;
  ph: number;
  theme: Theme;
  colour: (g: number) => string;
  current: boolean;
  rank: number | undefined;
}

function drawPanel(g: G, mode: ParallelMode, shares: Share[], c: PanelCtx): void {
  const { E, H, I, pw, ph, theme } = c;
  const size = shares.length;
  const layout = parallelLayout(mode, size, { experts: E, hidden: H, intermediate: I }, shares[0] && shares[0].expertStride > 1 ? 'round_robin' : 'linear');
  const x = d3.scaleLinear().domain([0, E]).range([0, pw]);
  const y = d3.scaleLinear().domain([0, I]).range([0, ph]);
  const head = mode === 'tp' ? `TP${size}: all ${E} experts, I/${size} = ${layout.intermediatePerGpu} each` : `EP${size}: ${layout.localExperts} experts each, full I = ${I}`;
  g.append('text').attr('class', 'panel-title').attr('y', -10).attr('font-weight', c.current ? 'bold' : 'normal').text(`${head}${c.current ? '  (this run)' : ''}`);
  // axes: experts along x, the intermediate size along y
  g.append('text').attr('class', 'axis-label').attr('x', pw / 2).attr('y', ph + 16).attr('text-anchor', 'middle').attr('fill', theme.muted).text(`experts 0 … ${E - 1}`);
  g.append('text').attr('class', 'axis-label').attr('transform', `translate(-8,${ph / 2}) rotate(-90)`).attr('text-anchor', 'middle').attr('fill', theme.muted).text(`I 0 … ${I - 1}`);
  const cells = g.append('g').attr('class', 'shares');
  for (const s of shares) {
    const mine = c.rank !== undefined && s.gpu === c.rank;
    const rects: [number, number][] = [];
    if (s.expertStride === 1) rects.push([s.expertFirst, s.expertCount]);
    else for (let j = 0; j < s.expertCount; j++) rects.push([s.expertFirst + j * s.expertStride, 1]);
    for (const [e0, n] of rects)
      cells
        .append('rect')
        .attr('class', `share${mine ? ' mine' : ''}`)
        .attr('data-gpu', s.gpu)
        .attr('x', x(e0))
        .attr('y', y(s.iBegin))
        .attr('width', Math.max(0.5, x(e0 + n) - x(e0)))
        .attr('height', Math.max(0.5, y(s.iEnd) - y(s.iBegin)))
        .attr('fill', c.colour(s.gpu))
        .attr('fill-opacity', mine || c.rank === undefined ? 0.85 : 0.45)
        .attr('stroke', mine ? theme.focus : theme.background)
        .attr('stroke-width', mine ? 2.5 : 0.5)
        .append('title')
        .text(`GPU ${s.gpu}: experts ${s.expertStride === 1 ? `${s.expertFirst}…${s.expertFirst + s.expertCount - 1}` : `${s.expertFirst}, ${s.expertFirst + s.expertStride}, … (every ${s.expertStride}th)`} × I ${s.iBegin}…${s.iEnd - 1}`);
    // a label where the share is big enough to hold one
    const w = s.expertStride === 1 ? x(s.expertFirst + s.expertCount) - x(s.expertFirst) : pw;
    const h = y(s.iEnd) - y(s.iBegin);
    if (s.expertStride === 1 && w >= 22 && h >= 14)
      cells
        .append('text')
        .attr('class', 'share-label')
        .attr('x', x(s.expertFirst) + w / 2)
        .attr('y', y(s.iBegin) + h / 2 + 4)
        .attr('text-anchor', 'middle')
        .attr('fill', '#111111')
        .attr('font-size', 11)
        .text(`${w >= 44 ? 'GPU ' : ''}${s.gpu}`);
  }
  g.append('rect').attr('class', 'frame').attr('width', pw).attr('height', ph).attr('fill', 'none').attr('stroke', c.current ? theme.focus : theme.border).attr('stroke-width', c.current ? 2 : 1);

  const sh = layout.shapes;
  const alpha = (a: number, groups: number): string => (a === 4 ? `α = 4 (${groups} groups)` : `α = 1 (${groups} group${groups === 1 ? '' : 's'}: transpose)`);
  const lines = [
    `per GPU (E_l = ${layout.localExperts}, I_p = ${layout.intermediatePerGpu}):`,
    `w13_weight  ${fmt(sh.w13_weight)} int4×2`,
    `w13 scales  ${fmt(sh.w13_weight_scale_inv)} f32`,
    `         →  ${fmt(sh.w13_scale_interleaved)} bf16, ${alpha(shares[0]?.alpha13 ?? layout.alpha13, layout.groups13)}`,
    `w2_weight   ${fmt(sh.w2_weight)} int4×2`,
    `w2 scales   ${fmt(sh.w2_weight_scale_inv)} f32`,
    `         →  ${fmt(sh.w2_scale_interleaved)} bf16, ${alpha(shares[0]?.alpha2 ?? layout.alpha2, layout.groups2)}`,
    mode === 'tp' ? (size > 1 ? 'outputs: partial sums, all-reduced across the GPUs' : 'outputs: the layer’s output') : size > 1 ? 'tokens: dispatched to their experts’ GPUs and back' : 'outputs: the layer’s output',
  ];
  const t = g.append('g').attr('class', 'shapes').attr('transform', `translate(0,${ph + 36})`);
  lines.forEach((l, i) => t.append('text').attr('class', 'shape-line').attr('y', i * 16).attr('xml:space', 'preserve').attr('font-family', theme.monoFamily).attr('font-size', 11).text(l));
  if (layout.problem)
    t.append('text').attr('class', 'problem').attr('y', lines.length * 16).attr('fill', theme.charts.red).attr('font-size', 11).text(`not possible in SGLang: ${layout.problem}`);
}
