/**
 * One view rendered as a standalone SVG element in any Document: the browser's (export button in the webview) or
 * jsdom's (headless export, CLI, tests). Canvas-drawn views are re-drawn as vectors here: the scale layout as cells
 * (binned to ≤ maxRects rectangles per panel when huge), the heatmap as binned rectangles of the values known.
 */
import type { Trace } from '../../kernels/trace';
import type { Arch } from '../../kernels/spec';
import type { Tile, ViewId } from '../protocol';
import { THEMES, type Theme } from '../theme';
import { scaleTensorsOf, permutationOf } from '../model/traceData';
import { scalePanels } from '../views/scalePanels';
import { scalesSvg, pickTensor } from '../views/scales';
import { permutationSvg } from '../views/permutation';
import { timingSvg } from '../views/timing';
import { heatmapSvg, type HeatmapMode } from '../views/heatmap';
import { MoeError } from '../../kernels/errors';

export interface ExportInput {
  trace: Trace;
  /** a second trace (e.g. CUDA next to CPU) for the timing view */
  compare?: Trace;
  arch?: Arch;
  /** scale tensor (scales view) or tensor (heatmap view) to draw */
  tensor?: string;
  heatmapMode?: HeatmapMode;
  tiles?: Tile[];
}

export interface ExportOptions {
  theme?: Theme | Theme['kind'];
  width?: number;
  /** per-panel rectangle budget of the vector scale layout before binning */
  maxRects?: number;
}

export const resolveTheme = (t: ExportOptions['theme']): Theme => (typeof t === 'object' ? t : THEMES[t ?? 'light']);

export function renderViewSvg(doc: Document, view: ViewId, input: ExportInput, options: ExportOptions = {}): SVGSVGElement {
  const theme = resolveTheme(options.theme);
  const width = options.width ?? 1000;
  switch (view) {
    case 'scales': {
      const tensor = pickTensor({ tensors: scaleTensorsOf(input.trace) }, input.tensor);
      const arch = input.arch ?? input.trace.spec.arch;
      const P = scalePanels(tensor, arch);
      return scalesSvg(doc, P, theme, {
        width, maxPanelHeight: 560, idPrefix: 'x-scales', title: `${tensor.name} on ${arch.toUpperCase()} — ${input.trace.spec.name}`, maxRects: options.maxRects ?? 4000,
      }).svg.node()!;
    }
    case 'permutation': {
      const m = permutationOf(input.trace);
      if (typeof m === 'string') throw new MoeError('E_SPEC', m, 'topk_ids');
      return permutationSvg(doc, { model: m, title: `Expert permutation — ${input.trace.spec.name}` }, { theme, width, idPrefix: 'x-perm' }).svg.node()!;
    }
    case 'timing':
      return timingSvg(doc, { traces: input.compare ? [input.trace, input.compare] : [input.trace] }, { theme, width }).node()!;
    case 'heatmap': {
      const name = input.tensor ?? 'a1q_scale';
      const ref = input.trace.tensors[name];
      if (!ref) throw new MoeError('E_SPEC', `heatmap export: tensor ${name} is not in the trace (has ${Object.keys(input.trace.tensors).join(', ')})`, name);
      return heatmapSvg(doc, { tensor: ref, mode: input.heatmapMode ?? 'value', tiles: input.tiles }, theme, { width, idPrefix: 'x-heat' }).node()!;
    }
    default:
      throw new MoeError('E_SPEC', `export: unknown view ${String(view)} (expected scales, permutation, timing or heatmap)`);
  }
}

/** XML serialisation (not outerHTML): an SVG file must be well-formed XML with its namespace. */
export function serializeSvg(el: SVGSVGElement): string {
  const win = el.ownerDocument.defaultView as (Window & typeof globalThis) | null;
  if (!win?.XMLSerializer) throw new Error('serializeSvg: the document has no XMLSerializer');
  const xml = new win.XMLSerializer().serializeToString(el);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${xml}\n`;
}
