/**
 * Per-kernel timing: one row per stage, a bar per trace (CPU and CUDA side by side), on a log time axis because the
 * two backends differ by orders of magnitude. Each bar carries its roofline floor (a tick: the fastest the stage
 * could run given its bytes and FLOPs) against the device that ran it — a CPU run against this CPU's measured peaks —
 * the fraction reached, whether it is memory- or compute-bound, and for a CPU run what the stage would take at
 * least on the GPU model ("on H200 ≥ …"). An imported profiler trace (MoE: Import Profiler Trace…) adds a bar per
 * stage with the kernels' measured time against this run's GPU floor, and lists which kernel went to which stage
 * and the kernels no rule matched.
 */
import * as d3 from 'd3';
import type { Trace, StageRecord } from '../../kernels/trace';
import type { Theme } from '../theme';
import { createSvg, legendRow, fmtTime, fmtBytes, fmtFlops, fmtPct, labelWidth, type Svg } from './svgkit';
import { styleAxis } from './permutation';
import type { ExportInput, StandaloneOptions, ViewContext, ViewHandle } from './context';
import type { ImportedStage, ImportedTimings } from '../../kernels/profile/onStages';

export interface TimingViewData {
  traces: Trace[];
  /** imported profiler times on the first trace's stages */
  profile?: ImportedTimings;
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
  if (data.profile) importedTables(container, data.profile, data.traces[0]!);
  return { svg: svg.node()!, destroy: () => root.selectAll('*').remove() };
}

export { labelWidth };

/** The stage's own throughput as measured: GFLOP/s (useful FLOPs) when compute-bound, else GB/s. */
export function measuredRate(s: StageRecord): string {
  if (!(s.timeMs > 0)) return 'too fast to time';
  if (s.roofline.bound === 'compute' && s.usefulFlops > 0) return `${fmtRate(s.usefulFlops / (s.timeMs * 1e6))} GFLOP/s`;
  return `${fmtRate(s.bytes / (s.timeMs * 1e6))} GB/s`;
}
/** Axis ticks are decades: "1 ns", "10 µs", "100 ms" (no trailing ".00"). */
export function fmtTick(ms: number): string {
  const [v, u] = ms >= 1000 ? [ms / 1000, 's'] : ms >= 1 ? [ms, 'ms'] : ms >= 1e-3 ? [ms * 1e3, 'µs'] : [ms * 1e6, 'ns'];
  return `${+v.toPrecision(3)} ${u}`;
}

const fmtRate = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2));

/** "—" for stages that do no arithmetic (a count of "0 FLOP" reads like a measurement). */
export const flopsOrDash = (f: number): string => (f > 0 ? fmtFlops(f) : '— FLOP');

/** what the stage rooflines of a trace are measured against: this CPU's measured peaks on a CPU run, else the GPU model */
export const rooflineLabel = (t: Trace): string => (t.backend.name === 'cpu' ? (t.rooflineModel?.label ? `this CPU (${t.rooflineModel.label})` : 'this CPU') : t.gpuModel);

/** the GPU floor of a stage: the roofline floor of a CUDA run, the `gpuFloorMs` a CPU run records (undefined if it has none) */
export const gpuFloorOf = (t: Trace, s: StageRecord): number | undefined => (t.backend.name === 'cuda' ? s.roofline.floorMs : s.gpuFloorMs);

export function subtitleOf(traces: Trace[], profile?: ImportedTimings): string {
  return [
    ...traces.map((t) =>
      t.backend.name === 'cpu'
        ? `${traceLabel(t)}: total ${fmtTime(t.totalMs)} · roofline of ${rooflineLabel(t)}; GPU floors on ${t.gpuModel}`
        : `${traceLabel(t)}: total ${fmtTime(t.totalMs)} (${t.gpuModel} roofline)`,
    ),
    ...(profile ? [`imported: ${profile.file} (${profile.launches} launches) vs ${traces[0]!.gpuModel} floors`] : []),
  ].join('   ·   ');
}

/** the stats column of a run's bar: floor and fraction on its own roofline, for a CPU run its GPU floor, bytes, FLOPs, bound */
export function statsOf(t: Trace, s: StageRecord): string {
  const gpu = t.backend.name === 'cpu' && s.gpuFloorMs !== undefined ? ` · on ${t.gpuModel} ≥ ${fmtTime(s.gpuFloorMs)}` : '';
  const of = t.backend.name === 'cpu' ? ' of CPU roofline' : '';
  return `floor ${fmtTime(s.roofline.floorMs)} (${fmtPct(s.roofline.fraction)}%${of})${gpu} · ${fmtBytes(s.bytes)} · ${flopsOrDash(s.flops)} · ${s.roofline.bound}`;
}

/** the stats column of an imported bar: the run's GPU floor and the fraction of it the measured kernels reached */
export function importedStatsOf(t: Trace, s: StageRecord, imp: ImportedStage): string {
  const floor = gpuFloorOf(t, s);
  const ms = imp.totalUs / 1000;
  const wall = imp.wallUs !== undefined && imp.wallUs < imp.totalUs * 0.999 ? ` · wall ${fmtTime(imp.wallUs / 1000)} (overlap)` : '';
  const frac = floor !== undefined && ms > 0 ? ` (${fmtPct(Math.min(1, floor / ms))}% of roofline)` : '';
  return `${floor !== undefined ? `${t.gpuModel} floor ${fmtTime(floor)}${frac}` : 'no GPU floor in this run'}${wall} · ${imp.count} launch${imp.count === 1 ? '' : 'es'}`;
}

export function timingSvg(doc: Document, data: TimingViewData, options: TimingViewOptions): Svg {
  const theme = options.theme;
  const traces = data.traces.filter((t) => t.stages.length > 0);
  if (traces.length === 0) throw new Error('timing view: no trace with stages to draw');
  const W = options.width ?? 960;
  // rows: the finished stages, then (partial trace) the ones still to come, greyed
  const rows: { id: string; title: string; pending: boolean }[] = [
    ...traces[0]!.stages.map((s) => ({ id: s.id, title: s.title, pending: false })),
    ...(traces[0]!.pending ?? []).filter((p) => !traces[0]!.stages.some((s) => s.id === p.id)).map((p) => ({ id: p.id, title: p.title, pending: true })),
  ];
  const labels = rows.map((r, i) => `${i + 1}. ${r.title}`);
  // the label column is as wide as the longest label (never clipped at the left edge), within 45% of the width
  const labelW = Math.min(Math.round(W * 0.45), Math.max(120, ...labels.map((l) => labelWidth(l))) + 24);
  const profile = data.profile;
  const importedOf = (id: string): ImportedStage | undefined => profile?.stages.find((p) => p.stage === id);
  // the stats column fits its longest line (within 40% of the width; the rest is cut by the svg)
  const statLines = traces.flatMap((t) => t.stages.map((s) => statsOf(t, s)));
  for (const s of traces[0]!.stages) {
    const imp = importedOf(s.id);
    if (imp) statLines.push(importedStatsOf(traces[0]!, s, imp));
  }
  const statW = Math.min(Math.round(W * 0.4), Math.max(300, ...statLines.map((l) => labelWidth(l, 10.5))));
  const innerW = Math.max(200, W - labelW - statW - 32);
  const barH = 16;
  const bars = traces.length + (profile ? 1 : 0);
  const rowH = bars * (barH + 4) + 14;
  const top = 70;
  const H = top + rows.length * rowH + 70;
  const svg = createSvg(doc, W, H, theme, 'Per-kernel timing');
  svg.append('text').attr('class', 'title').attr('x', 14).attr('y', 20).attr('font-size', 14).attr('font-weight', 600).text('Per-kernel timing and roofline');
  svg.append('text').attr('class', 'subtitle').attr('x', 14).attr('y', 38).attr('font-size', 11).attr('fill', theme.muted).text(subtitleOf(traces, profile));
  const all = [
    ...traces.flatMap((t) => t.stages.flatMap((s) => [s.timeMs, s.roofline.floorMs, s.gpuFloorMs ?? 0])),
    ...(profile?.stages.filter((p) => traces[0]!.stages.some((s) => s.id === p.stage)).map((p) => p.totalUs / 1000) ?? []),
  ].filter((v) => v > 0 && Number.isFinite(v));
  // the axis starts at the decade below the smallest positive value (no "0.00 µs" tick) and ends past the largest
  const lo = Math.pow(10, Math.floor(Math.log10(d3.min(all) ?? 1e-3)));
  const hi = Math.max(lo * 10, (d3.max(all) ?? 1) * 1.5);
  const x = d3.scaleLog().domain([lo, hi]).range([0, innerW]).clamp(true);
  const g = svg.append('g').attr('transform', `translate(${labelW},${top})`);
  g.append('g').attr('class', 'axis').attr('transform', 'translate(0,-6)')
    .call(d3.axisTop(x).ticks(6, (v: d3.NumberValue) => fmtTick(+v)).tickSizeOuter(0)).call((a) => styleAxis(a, theme));
  const colours = [theme.charts.blue, theme.charts.green, theme.charts.purple];
  rows.forEach((rowInfo, i) => {
    const id = rowInfo.id;
    const row = g.append('g').attr('class', `stage-row${options.stage === id ? ' current' : ''}${rowInfo.pending ? ' pending' : ''}`).attr('data-stage', id).attr('transform', `translate(0,${i * rowH + 6})`);
    if (options.stage === id) row.append('rect').attr('x', -labelW + 6).attr('y', -4).attr('width', W - 20).attr('height', rowH - 6).attr('fill', theme.focus).attr('fill-opacity', 0.12);
    row.append('text').attr('class', 'stage-label').attr('x', -10).attr('y', barH - 3).attr('text-anchor', 'end').attr('font-weight', 600)
      .attr('fill', rowInfo.pending ? theme.muted : theme.foreground).text(labels[i]!);
    if (rowInfo.pending) {
      row.append('text').attr('class', 'pending-note').attr('x', 6).attr('y', barH - 3).attr('font-size', 10.5).attr('fill', theme.muted).attr('font-style', 'italic').text('not computed yet');
      return;
    }
    traces.forEach((t, ti) => {
      const s: StageRecord | undefined = t.stages.find((st) => st.id === id);
      if (!s) return;
      const yb = ti * (barH + 4);
      const bar = row.append('g').attr('class', 'bar').attr('data-backend', t.backend.name);
      const end = x(Math.max(lo, s.timeMs));
      const fx = x(Math.max(lo, s.roofline.floorMs));
      bar.append('rect').attr('class', 'time').attr('y', yb).attr('height', barH).attr('width', Math.max(1, end))
        .attr('fill', colours[ti % colours.length]!).attr('rx', 2);
      // the roofline floor: a red band from 0 to the floor under the bar's lower edge, and a tick with a marker
      bar.append('rect').attr('class', 'roofline-floor').attr('y', yb + barH - 4).attr('height', 4).attr('width', Math.max(1, fx))
        .attr('fill', theme.charts.red).attr('fill-opacity', 0.85);
      bar.append('line').attr('class', 'roofline').attr('x1', fx).attr('x2', fx).attr('y1', yb - 4).attr('y2', yb + barH + 3)
        .attr('stroke', theme.charts.red).attr('stroke-width', 2.5);
      bar.append('path').attr('class', 'roofline-marker').attr('d', `M${fx - 4},${yb - 8}L${fx + 4},${yb - 8}L${fx},${yb - 3}Z`).attr('fill', theme.charts.red);
      const pct = fmtPct(s.roofline.fraction);
      const label = `${fmtTime(s.timeMs)} · ${measuredRate(s)}`;
      // outside the bar when it fits before the stats column, else inside it (right-aligned, background-coloured)
      const inside = end + 6 + label.length * 6.2 > innerW;
      bar.append('text').attr('class', 'bar-label').attr('x', inside ? end - 6 : end + 6).attr('y', yb + barH - 5).attr('font-size', 10.5)
        .attr('text-anchor', inside ? 'end' : 'start').attr('fill', inside ? theme.background : theme.foreground)
        .text(label);
      bar.append('text').attr('class', 'stats').attr('x', innerW + 12).attr('y', yb + barH - 5).attr('font-size', 10.5).attr('fill', theme.muted)
        .text(statsOf(t, s));
      const gpuFloor = t.backend.name === 'cpu' && s.gpuFloorMs !== undefined ? `; on ${t.gpuModel} this stage would take ≥ ${fmtTime(s.gpuFloorMs)}` : '';
      bar.append('title').text(`${s.title} on ${traceLabel(t)}: ${fmtTime(s.timeMs)} (${measuredRate(s)} measured); floor ${fmtTime(s.roofline.floorMs)} on ${rooflineLabel(t)} (${s.roofline.bound}-bound, ${s.flops > 0 ? `${s.roofline.intensity.toFixed(1)} FLOP/B` : 'no FLOPs'}), ${pct}% of roofline${gpuFloor}; ${fmtBytes(s.bytes)} moved, ${flopsOrDash(s.flops)} executed, ${flopsOrDash(s.usefulFlops)} useful`);
    });
    const s0 = traces[0]!.stages.find((st) => st.id === id);
    const imp = importedOf(id);
    if (s0 && imp) {
      // the imported kernels' measured time on this stage, against this run's GPU floor
      const yb = traces.length * (barH + 4);
      const ms = imp.totalUs / 1000;
      const end = x(Math.max(lo, ms));
      const floor = gpuFloorOf(traces[0]!, s0);
      const bar = row.append('g').attr('class', 'bar imported').attr('data-source', 'imported');
      bar.append('rect').attr('class', 'time').attr('y', yb).attr('height', barH).attr('width', Math.max(1, end)).attr('fill', theme.charts.orange).attr('rx', 2);
      if (floor !== undefined) {
        const fx = x(Math.max(lo, floor));
        bar.append('line').attr('class', 'roofline').attr('x1', fx).attr('x2', fx).attr('y1', yb - 2).attr('y2', yb + barH + 3).attr('stroke', theme.charts.red).attr('stroke-width', 2.5);
      }
      const label = `${fmtTime(ms)} imported`;
      const inside = end + 6 + label.length * 6.2 > innerW;
      bar.append('text').attr('class', 'bar-label').attr('x', inside ? end - 6 : end + 6).attr('y', yb + barH - 5).attr('font-size', 10.5)
        .attr('text-anchor', inside ? 'end' : 'start').attr('fill', inside ? theme.background : theme.foreground).text(label);
      bar.append('text').attr('class', 'stats').attr('x', innerW + 12).attr('y', yb + barH - 5).attr('font-size', 10.5).attr('fill', theme.muted).text(importedStatsOf(traces[0]!, s0, imp));
      bar.append('title').text(`${s0.title}: ${imp.count} kernel launch${imp.count === 1 ? '' : 'es'} in ${profile!.file}, ${fmtTime(ms)} in total: ${imp.kernels.map((k) => k.name).join(', ')}`);
    }
  });
  const legend = svg.append('g').attr('class', 'legend').attr('transform', `translate(14,${H - 28})`);
  legendRow(legend, [
    ...traces.map((t, i) => ({ label: `${traceLabel(t)} (measured)`, fill: colours[i % colours.length]! })),
    ...(profile ? [{ label: `imported from ${profile.file}`, fill: theme.charts.orange }] : []),
    { label: `roofline floor on ${rooflineLabel(traces[0]!)}: max(bytes/BW, FLOPs/peak)`, fill: theme.charts.red },
  ], theme);
  return svg;
}

const usText = (us: number): string => fmtTime(us / 1000);

/**
 * Below the chart (live view only): which kernel of the imported trace went to which stage (and by which rule), the
 * kernels on stages this recipe does not have, and every unmatched kernel — never dropped.
 */
function importedTables(container: HTMLElement, p: ImportedTimings, trace: Trace): void {
  const sec = d3.select(container).append('section').attr('class', 'imported-kernels').attr('aria-label', `Kernels imported from ${p.file}`);
  sec.append('h3').text(`Imported from ${p.file}: ${p.launches} GPU launches (${p.format})`);
  sec.append('p').attr('class', 'muted').text(
    `Floors are this run's (M=${trace.spec.tokens}, ${trace.spec.name}, ${trace.gpuModel}): a trace of other shapes compares in proportion only. Kernels map to stages by name (docs/profiles.md).`,
  );
  const title = (id: string): string => trace.stages.find((s) => s.id === id)?.title ?? id;
  const rows = [
    ...p.stages.flatMap((s) => s.kernels.map((k) => ({ stage: title(s.stage), k, outside: false }))),
    ...p.outside.flatMap((s) => s.kernels.map((k) => ({ stage: `${s.stage} (not a stage of this recipe)`, k, outside: true }))),
  ];
  const table = (cls: string, head: string[], body: string[][]): void => {
    const t = sec.append('table').attr('class', cls);
    t.append('thead').append('tr').selectAll('th').data(head).join('th').text((h) => h);
    // long template names are cut by the stylesheet: the whole name is the cell's tooltip
    t.append('tbody').selectAll('tr').data(body).join('tr').selectAll('td').data((r) => r).join('td').attr('title', (c) => c).text((c) => c);
  };
  if (rows.length) table('kernel-map', ['stage', 'kernel', 'launches', 'total', 'rule'], rows.map((r) => [r.stage, r.k.name, String(r.k.count), usText(r.k.totalUs), r.k.rule ?? '']));
  if (p.unmatched.length) {
    sec.append('h4').text(`Unmatched kernels (${p.unmatched.reduce((a, u) => a + u.count, 0)} launches, on no stage)`);
    table('unmatched', ['kernel', 'launches', 'total'], p.unmatched.map((u) => [u.name, String(u.count), usText(u.totalUs)]));
  }
  if (p.omitted) sec.append('p').attr('class', 'muted').text(`${p.omitted} more kernel names not listed here: moe-inspect import-trace ${p.file} prints them all.`);
  const missing = trace.stages.filter((s) => !p.stages.some((x) => x.stage === s.id));
  if (missing.length) sec.append('p').attr('class', 'muted missing-stages').text(`No imported kernel on: ${missing.map((s) => s.title).join(', ')}.`);
}

/** The live view: the run's stages (and a second run's beside them, and imported kernel times), the selected stage highlighted. */
export function mount(el: HTMLElement, ctx: ViewContext): ViewHandle {
  const h = render(el, { traces: ctx.compare ? [ctx.trace, ctx.compare] : [ctx.trace], ...(ctx.profile ? { profile: ctx.profile } : {}) }, { theme: ctx.theme, width: ctx.width, ...(ctx.state.stage ? { stage: ctx.state.stage } : {}) });
  ctx.notePicture();
  return h;
}

export function standalone(doc: Document, input: ExportInput, o: StandaloneOptions): SVGSVGElement {
  return timingSvg(doc, { traces: input.compare ? [input.trace, input.compare] : [input.trace], ...(input.profile ? { profile: input.profile } : {}) }, { theme: o.theme, width: o.width }).node()!;
}
