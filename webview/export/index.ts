/**
 * Node-side export entry (CLI and extension host): one call from a view, a format and a trace to the file's bytes.
 * Node only (jsdom, resvg); the webview bundle never imports it.
 */
import type { Trace } from '../../kernels/trace';
import { MoeError } from '../../kernels/errors';
import type { ExportFormat, ViewId } from '../../kernels/protocol';
import { toSvg, type ExportInput, type ExportOptions } from './headless';
import { svgToPng } from './png';
import { toTikz, exportableView } from './standalone';

export { toSvg, svgToPng, toTikz };
export type { ExportInput, ExportOptions };

export interface ExportViewOptions extends ExportOptions, Omit<ExportInput, 'trace'> {
  /** PNG pixel scale (default 2) */
  pngScale?: number;
}

export function exportView(view: ViewId, format: ExportFormat, trace: Trace, options: ExportViewOptions = {}): Buffer {
  const { pngScale, theme, width, maxRects, ...input } = options;
  const entry = exportableView(view, trace);
  if (!entry.exportFormats.includes(format))
    throw new MoeError('E_SPEC', `export: the ${entry.id} view exports as ${entry.exportFormats.join(', ')}, not ${format}`);
  const data: ExportInput = { trace, ...input };
  if (format === 'tikz') return Buffer.from(toTikz(view, data), 'utf8');
  const svg = toSvg(view, data, { theme, width, maxRects });
  return format === 'png' ? svgToPng(svg, pngScale ?? 2) : Buffer.from(svg, 'utf8');
}
