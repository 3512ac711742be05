/**
 * The bytes of an exported diagram for each format, and the save dialog's file name and filters. No 'vscode':
 * unit tested, including the refusals (no SVG markup, markup that is not SVG, no run to export).
 */
import { MoeError } from '../kernels/errors';
import type { Trace } from '../kernels/trace';
import type { ExportFormat, ViewId } from '../kernels/protocol';

export const EXPORT_FILTERS: Record<ExportFormat, Record<string, string[]>> = {
  svg: { 'SVG image': ['svg'] },
  png: { 'PNG image': ['png'] },
  tikz: { 'TikZ (LaTeX)': ['tex', 'tikz'] },
};

/** A file name, never a path: every part is reduced to [A-Za-z0-9._-] (the view id is a registry id already). */
export function defaultExportName(view: ViewId, format: ExportFormat, trace: Trace | undefined): string {
  const part = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '') || 'x';
  const model = part(trace?.spec.name ?? 'layer');
  const arch = part(trace?.spec.arch ?? 'sm90');
  return `moe-${model}-${part(view)}-${arch}.${format === 'tikz' ? 'tex' : format}`;
}

function checkSvg(svg: string | undefined, view: ViewId): string {
  if (!svg) throw new MoeError('E_VALUE', `export ${view}: expected SVG markup from the webview, got none`);
  const head = svg.trimStart().slice(0, 512);
  if (!/^(<\?xml[^>]*>\s*)?<svg[\s>/]/.test(head)) throw new MoeError('E_FORMAT', `export ${view}: expected markup starting with <svg, got "${head.slice(0, 40)}…"`);
  return svg.includes('xmlns=') ? svg : svg.replace(/<svg/, '<svg xmlns="http://www.w3.org/2000/svg"');
}

export interface Converters {
  svgToPng(svg: string): Promise<Uint8Array> | Uint8Array;
  /** `tensor`: the tensor the view shows (scale layout) */
  toTikz(view: ViewId, trace: Trace, tensor?: string): string;
}

let converters: Converters | undefined;
/** Set by the extension at activation from webview/export (kept injectable so tests need no rasteriser). */
export function setConverters(c: Converters): void {
  converters = c;
}

export async function exportBytes(view: ViewId, format: ExportFormat, svg: string | undefined, trace: Trace | undefined, tensor?: string): Promise<Uint8Array> {
  switch (format) {
    case 'svg':
      return new TextEncoder().encode(checkSvg(svg, view));
    case 'png': {
      const markup = checkSvg(svg, view);
      if (!converters) throw new MoeError('E_BACKEND', 'export png: no rasteriser is available in this build');
      return converters.svgToPng(markup);
    }
    case 'tikz': {
      if (!trace) throw new MoeError('E_VALUE', `export ${view} as TikZ: no run is loaded in this panel`);
      if (!converters) throw new MoeError('E_BACKEND', 'export tikz: no TikZ writer is available in this build');
      return new TextEncoder().encode(converters.toTikz(view, trace, tensor));
    }
    default:
      throw new MoeError('E_VALUE', `export ${view}: format must be svg, png or tikz, got ${String(format)}`);
  }
}
