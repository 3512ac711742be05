/**
 * Per-kernel timing: one row per stage, a bar per trace (CPU and CUDA side by side), on a log time axis because the
 * two backends differ by orders of magnitude. Each bar carries its roofline floor (a tick: the fastest the stage
 * could run given its bytes and FLOPs), the fraction reached, and whether it is memory- or compute-bound.
 */
import * as d3 from 'd3';
import type { Trace, StageRecord } from '../../kernels/trace';
import type { Theme } from '../theme';
import { createSvg, legendRow, fmtTime, fmtBytes, fmtFlops, type Svg } from './svgkit';
import { styleAxis } from './permutation';

export interface TimingViewData {
  traces: Trace[];
}

export interface TimingViewOptions {
  theme: Theme;
  width?: number;
  idPrefix?: string;
  /** highlighted stage */
  stage?: string;
}

export function traceLabel(t: Trace): string {
  return `${t.backend.name.toUpperCase()} · ${t.backend.device}`;
}

export function render(container: HTMLElement, data: TimingViewData, options: TimingViewOptions): { svg: SVGSVGElement; destroy(): void } {
  const root = d3.select(container);
  root.selectAll('*').remove();
  root.classed('moe-view timing-view', true);
  const svg = timingSvg(container.ownerDocument, data, options);
  container.appendChild(svg.node()!);
  return { svg: svg.node()!, destroy: () => root.selectAll('*').remove() };
}

export function timingSvg(doc: Document, data: TimingViewData, options: TimingViewOptions): Svg {
  const theme = options.theme;
  const traces = data.traces.filter((t) => t.stages.length > 0);
  if (traces.length === 0) throw new Error('timing view: no trace with stages to draw');
  const W = options.width ?? 960;
  const labelW = 190;
  const statW = 270;
  const innerW = Math.max(200, W - labelW - statW - 32);
  const barH = 16;
  const rowH = traces.length * (barH + 4) + 14;
  const stageIds = traces[0]!.stages.map((s) => s.id);
  const top = 70;
  const H = top + stageIds.length * rowH + 70;
  const svg = createSvg(doc, W, H, theme, 'Per-kernel timing');
  svg.append('text').attr('class', 'title').attr('x', 14).attr('y', 20).attr('font-size', 14).attr('font-weight', 600).text('Per-kernel timing and roofline');
  svg.append('text').attr('class', 'subtitle').attr('x', 14).attr('y', 38).attr('font-size', 11).attr('fill', theme.muted)
    .text(traces.map((t) => `${traceLabel(t)}: total ${fmtTime(t.totalMs)} (${t.gpuModel} roofline)`).join('   ·   '));
  const all = traces.flatMap((t) => t.stages.flatMap((s) => [s.timeMs, s.roofline.floorMs])).filter((v) => v > 0 && Number.isFinite(v));
  const lo = Math.max(1e-6, (d3.min(all) ?? 1e-3) / 2);
  const hi = (d3.max(all) ?? 1) * 1.5;
  const x = d3.scaleLog().domain([lo, hi]).range([0, innerW]).clamp(true);
  const g = svg.append('g').attr('transform', `translate(${labelW},${top})`);
  g.append('g').attr('class', 'axis').attr('transform', 'translate(0,-6)')
    .call(d3.axisTop(x).ticks(6, (v: d3.NumberValue) => fmtTime(+v)).tickSizeOuter(0)).call((a) => styleAxis(a, theme));
  const colours = [theme.charts.blue, theme.charts.green, theme.charts.purple];
  stageIds.forEach((id, i) => {
    const row = g.append('g').attr('class', `stage-row${options.stage === id ? ' current' : ''}`).attr('data-stage', id).attr('transform', `translate(0,${i * rowH + 6})`);
    if (options.stage === id) row.append('rect').attr('x', -labelW + 6).attr('y', -4).attr('width', W - 20).attr('height', rowH - 6).attr('fill', theme.focus).attr('fill-opacity', 0.12);
    const first = traces[0]!.stages.find((s) => s.id === id)!;
    row.append('text').attr('x', -10).attr('y', barH - 3).attr('text-anchor', 'end').attr('font-weight', 600).text(`${i + 1}. ${first.title}`);
    traces.forEach((t, ti) => {
      const s: StageRecord | undefined = t.stages.find((st) => st.id === id);
      if (!s) return;
      const yb = ti * (barH + 4);
      const bar = row.append('g').attr('class', 'bar').attr('data-backend', t.backend.name);
      bar.append('rect').attr('y', yb).attr('height', barH).attr('width', Math.max(1, x(Math.max(lo, s.timeMs))))
        .attr('fill', colours[ti % colours.length]!).attr('rx', 2);
      const fx = x(Math.max(lo, s.roofline.floorMs));
      bar.append('line').attr('class', 'roofline').attr('x1', fx).attr('x2', fx).attr('y1', yb - 3).attr('y2', yb + barH + 3)
        .attr('stroke', theme.charts.red).attr('stroke-width', 2.5);
      const label = `${fmtTime(s.timeMs)} · ${(s.roofline.fraction * 100).toFixed(s.roofline.fraction < 0.1 ? 2 : 0)}% of roofline`;
      const end = x(Math.max(lo, s.timeMs));
      // outside the bar when it fits before the stats column, else inside it (right-aligned, background-coloured)
      const inside = end + 6 + label.length * 6.2 > innerW;
      bar.append('text').attr('x', inside ? end - 6 : end + 6).attr('y', yb + barH - 4).attr('font-size', 10.5)
        .attr('text-anchor', inside ? 'end' : 'start').attr('fill', inside ? theme.background : theme.foreground)
        .text(label);
      bar.append('text').attr('x', innerW + 12).attr('y', yb + barH - 4).attr('font-size', 10.5).attr('fill', theme.muted)
        .text(`${t.backend.name}: ${fmtBytes(s.bytes)}, ${fmtFlops(s.flops)}, ${s.roofline.bound}-bound`);
      bar.append('title').text(`${s.title} on ${traceLabel(t)}: ${fmtTime(s.timeMs)}; floor ${fmtTime(s.roofline.floorMs)} (${s.roofline.bound}-bound, ${s.roofline.intensity.toFixed(1)} FLOP/B); ${fmtBytes(s.bytes)} moved, ${fmtFlops(s.flops)} executed, ${fmtFlops(s.usefulFlops)} useful`);
    });
  });
  const legend = svg.append('g').attr('class', 'legend').attr('transform', `translate(14,${H - 28})`);
  legendRow(legend, [
    ...traces.map((t, i) => ({ label: traceLabel(t), fill: colours[i % colours.length]! })),
    { label: 'roofline floor (max of bytes/BW, FLOPs/peak)', fill: theme.charts.red },
  ], theme);
  return svg;
}
