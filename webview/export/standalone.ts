/**
 * One view rendered as a standalone SVG element in any Document: the browser's (export button in the webview) or
 * jsdom's (headless export, CLI, tests). Canvas-drawn views are re-drawn as vectors (each registry entry's `svg`):
 * the scale layout as cells (binned to ≤ maxRects rectangles per panel when huge), the heatmap as binned rectangles
 * of the values known.
 */
import type { ViewId } from '../../kernels/protocol';
import { THEMES, type Theme } from '../theme';
import { MoeError } from '../../kernels/errors';
import { VIEWS, viewById, viewsFor } from '../views/registry';
import type { ExportInput, ViewEntry } from '../views/context';

export type { ExportInput } from '../views/context';

export interface ExportOptions {
  theme?: Theme | Theme['kind'];
  width?: number;
  /** per-panel rectangle budget of the vector scale layout before binning */
  maxRects?: number;
}

export const resolveTheme = (t: ExportOptions['theme']): Theme => (typeof t === 'object' ? t : THEMES[t ?? 'light']);

/** The registry entry of `view` if it applies to the trace, else a MoeError naming the views that do. */
export function exportableView(view: ViewId, trace: ExportInput['trace'], compare?: ExportInput['compare']): ViewEntry {
  const entry = viewById(view);
  if (!entry) throw new MoeError('E_SPEC', `export: unknown view '${String(view)}' (views: ${VIEWS.map((v) => v.id).join(', ')})`);
  if (!entry.applies(trace, compare))
    throw new MoeError('E_SPEC', `export: the ${entry.label} view does not apply to this run (${trace.recipe.label}); views for it: ${viewsFor(trace, compare).map((v) => v.id).join(', ')}`);
  return entry;
}

export function renderViewSvg(doc: Document, view: ViewId, input: ExportInput, options: ExportOptions = {}): SVGSVGElement {
  const entry = exportableView(view, input.trace, input.compare);
  return entry.svg(doc, input, { theme: resolveTheme(options.theme), width: options.width ?? 1000, ...(options.maxRects ? { maxRects: options.maxRects } : {}) });
}

/** TikZ source of a view that has a TikZ writer (its registry entry lists 'tikz'). */
export function toTikz(view: ViewId, input: ExportInput): string {
  const entry = exportableView(view, input.trace);
  if (!entry.tikz) throw new MoeError('E_SPEC', `TikZ export exists for ${VIEWS.filter((v) => v.tikz).map((v) => v.id).join(', ')}, not ${entry.id}; export SVG or PNG`);
  return entry.tikz(input);
}

/** XML serialisation (not outerHTML): an SVG file must be well-formed XML with its namespace. */
export function serializeSvg(el: SVGSVGElement): string {
  const win = el.ownerDocument.defaultView as (Window & typeof globalThis) | null;
  if (!win?.XMLSerializer) throw new Error('serializeSvg: the document has no XMLSerializer');
  const xml = new win.XMLSerializer().serializeToString(el);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${xml}\n`;
}
