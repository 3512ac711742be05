/** Numbers shown to a user carry units: shared by the CLI table, the webview and exports. */
export function fmtTime(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${(ms * 1000).toFixed(1)} µs`;
}

function scaled(v: number, units: readonly string[], base = 1000): string {
  if (!Number.isFinite(v)) return '—';
  let i = 0;
  while (Math.abs(v) >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(v >= 10 ? 1 : 2)} ${units[i]}`;
}

export const fmtBytes = (b: number): string => scaled(b, ['B', 'kB', 'MB', 'GB', 'TB']);
export const fmtFlops = (f: number): string => scaled(f, ['FLOP', 'kFLOP', 'MFLOP', 'GFLOP', 'TFLOP']);
/** bytes per millisecond → GB/s or TB/s */
export const fmtBandwidth = (bytes: number, ms: number): string => (ms > 0 ? perSecond(bytes / ms / 1e6, 'GB/s', 'TB/s') : '—');
/** FLOPs per millisecond → GFLOP/s or TFLOP/s */
export const fmtRate = (flops: number, ms: number): string => (ms > 0 ? perSecond(flops / ms / 1e6, 'GFLOP/s', 'TFLOP/s') : '—');

function perSecond(giga: number, gUnit: string, tUnit: string): string {
  return giga >= 1000 ? `${(giga / 1000).toFixed(2)} ${tUnit}` : `${giga.toFixed(2)} ${gUnit}`;
}
export const fmtPercent = (f: number): string => (Number.isFinite(f) ? `${(f * 100).toFixed(f < 0.01 ? 3 : 1)} %` : '—');
