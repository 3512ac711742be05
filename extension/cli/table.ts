/** Plain-text tables for the terminal (the per-stage table of `moe-inspect run`). */
import type { Trace } from '../../kernels/trace';
import { fmtBytes, fmtFlops, fmtPercent, fmtTime, fmtBandwidth, fmtRate } from '../../kernels/format';

export function renderTable(head: string[], rows: string[][], rightAlign: boolean[] = []): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (rightAlign[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function stageTable(trace: Trace): string {
  // CPU runs: the floor on this CPU, and what the stage would take at least on the trace's GPU model
  const gpuCol = trace.stages.some((s) => s.gpuFloorMs !== undefined);
  const head = ['stage', 'time', 'bytes', 'FLOPs', 'throughput', 'roofline floor', '% of roofline', 'bound', ...(gpuCol ? [`on ${trace.gpuModel} ≥`] : [])];
  const rows = trace.stages.map((s) => [
    s.title,
    fmtTime(s.timeMs),
    fmtBytes(s.bytes),
    s.flops ? fmtFlops(s.flops) : '—',
    s.flops ? fmtRate(s.usefulFlops || s.flops, s.timeMs) : fmtBandwidth(s.bytes, s.timeMs),
    fmtTime(s.roofline.floorMs),
    fmtPercent(s.roofline.fraction),
    s.roofline.bound,
    ...(gpuCol ? [s.gpuFloorMs !== undefined ? fmtTime(s.gpuFloorMs) : '—'] : []),
  ]);
  const total = trace.stages.reduce((a, s) => a + s.timeMs, 0);
  rows.push(['total', fmtTime(total), '', '', '', '', '', '', ...(gpuCol ? [fmtTime(trace.stages.reduce((a, s) => a + (s.gpuFloorMs ?? 0), 0))] : [])]);
  return renderTable(head, rows, [false, true, true, true, true, true, true, false, true]);
}
