/**
 * Scale-layout view: one scale tensor in logical order and in storage order side by side, padding slots and UE8M0
 * packing drawn with patterns (not colour alone), hover cross-highlight between the two pictures. The storage
 * picture is the tensor's own layout descriptor (model/scaleLayout.ts): the view shows the layout the engine
 * produced for the run's architecture, so another architecture is another run. Small tensors are SVG (one node per
 * cell, exportable as is); above SVG_CELL_LIMIT cells the pictures are canvases (scalesCanvas.ts).
 */
import * as d3 from 'd3';
import type { ScaleTensor, LogicalRef } from '../model/scaleLayout';
import { scalePanels, storageCellCount, storageCell, type ScalePanels, type HoverInfo } from './scalePanels';
import { svgPicture, type LivePictureOptions } from './scalesSvg';
import { canvasPicture } from './scalesCanvas';
import type { ScaleInner } from './scaleHover';
import { scalesSvg } from './scalesSvg';
import { defaultScaleName, scaleRefsOf, scaleTensorsOf } from '../model/traceData';
import type { ExportInput, StandaloneOptions, ViewContext, ViewHandle } from './context';
import { MoeError } from '../../kernels/errors';

export { notTouch } from './scaleHover';

/** Above this many cells (logical + storage) the live view draws on canvas. */
export const SVG_CELL_LIMIT = 5000;

export interface ScalesViewData {
  tensors: ScaleTensor[];
  /** scale tensors listed in the picker whose values are not loaded yet: picking one calls onTensorChange */
  more?: string[];
}

export interface ZoomState {
  k: number;
  x: number;
  y: number;
}

export interface ScalesViewOptions extends LivePictureOptions {
  /** name of the tensor to show (default: the first) */
  tensor?: string;
  /** 'auto' picks SVG or canvas by cell count */
  mode?: 'auto' | 'svg' | 'canvas';
  onTensorChange?: (name: string) => void;
}

export interface ScalesHandle {
  readonly mode: 'svg' | 'canvas';
  readonly panels: ScalePanels;
  hoverLogical(ref: LogicalRef): HoverInfo;
  hoverStorage(slot: number, byte?: number): HoverInfo | null;
  clearHover(): void;
  destroy(): void;
}

/** The tensor named (or the first); `strict`: a name that is not there is an error, not silently another tensor. */
export function pickTensor(data: ScalesViewData, name?: string, strict = false): ScaleTensor {
  if (data.tensors.length === 0) throw new Error('scales view: the trace holds no scale tensor with values to draw');
  const t = data.tensors.find((x) => x.name === name);
  if (!t && strict && name !== undefined)
    throw new MoeError('E_SPEC', `scale layout: no scale tensor '${name}' with values here; scale tensors: ${data.tensors.map((x) => x.name).join(', ')}`, name);
  return t ?? data.tensors[0]!;
}

export function render(container: HTMLElement, data: ScalesViewData, options: ScalesViewOptions): ScalesHandle {
  let tensor = pickTensor(data, options.tensor);
  const root = d3.select(container);
  root.selectAll('*').remove();
  root.classed('moe-view scales-view', true);

  const toolbar = root.append('div').attr('class', 'toolbar').attr('role', 'toolbar').attr('aria-label', 'Scale layout options');
  const picker = toolbar.append('label').attr('class', 'field');
  picker.append('span').text('Tensor');
  const select = picker.append('select').attr('aria-label', 'Scale tensor');
  const choices = [
    ...data.tensors.map((t) => ({ name: t.name, text: `${t.name} (${t.groups > 1 ? `${t.groups} × ` : ''}${t.rows} × ${t.kBlocks})` })),
    ...(data.more ?? []).map((name) => ({ name, text: `${name} (values load when picked)` })),
  ];
  select.selectAll('option').data(choices).join('option').attr('value', (c) => c.name).text((c) => c.text);
  select.property('value', tensor.name);
  const summary = toolbar.append('span').attr('class', 'summary');
  const stage = root.append('div').attr('class', 'stage-area');
  const tooltip = root.append('div').attr('class', 'tooltip').attr('role', 'status').attr('aria-live', 'polite');

  let current: ScaleInner | null = null;
  const draw = (): void => {
    current?.destroy();
    stage.selectAll('*').remove();
    const P = scalePanels(tensor);
    const L = P.layout;
    summary.text(`${L.summary} · ${L.allocated} slots allocated, ${L.addressed} addressed, ${L.allocated - L.addressed} padding`);
    const cells = tensor.values.length + storageCellCount(P);
    const mode = options.mode === 'svg' || options.mode === 'canvas' ? options.mode : cells > SVG_CELL_LIMIT ? 'canvas' : 'svg';
    current = (mode === 'svg' ? svgPicture : canvasPicture)(stage.node()!, P, options, tooltip.node()!);
  };
  select.on('change', () => {
    const name = select.property('value') as string;
    options.onTensorChange?.(name);
    if (!data.tensors.some((t) => t.name === name)) return; // the app loads its values and draws again
    tensor = pickTensor(data, name);
    draw();
  });
  draw();
  return {
    get mode() {
      return current!.mode;
    },
    get panels() {
      return current!.panels;
    },
    hoverLogical: (ref) => current!.hover({ kind: 'data', logical: ref }, 'logical')!,
    hoverStorage: (slot, byte) => current!.hover(storageCell(current!.panels, current!.panels.layout.packed ? slot * current!.panels.slotW + (byte ?? 0) : slot), 'storage'),
    clearHover: () => current!.hover(null, 'logical'),
    destroy: () => {
      current?.destroy();
      root.selectAll('*').remove();
    },
  };
}

/**
 * The live view: the scale tensor chosen (or the first). A tensor too large to travel inline has its values fetched
 * through tiles first (once the run has finished: a partial run's tensors are not served).
 */
export function mount(el: HTMLElement, ctx: ViewContext): ViewHandle {
  const refs = scaleRefsOf(ctx.trace);
  if (!refs.length) throw new Error('This trace carries no scale tensor to draw.');
  const tensors = scaleTensorsOf(ctx.trace, ctx.values);
  const loaded = new Set(tensors.map((t) => t.name));
  const wanted = refs.find((r) => r.name === ctx.state.scaleTensor)?.name ?? defaultScaleName(ctx.trace) ?? refs[0]!.name;
  // while the run goes on, show a tensor that is here rather than wait for the one picked
  const name = loaded.has(wanted) || !ctx.partial ? wanted : tensors[0]?.name;
  const root = d3.select(el);
  if (!name) {
    root.append('div').attr('class', 'view-pending').attr('role', 'status').text(`Scale layout: the values of ${wanted} load when the run finishes.`);
    return { destroy: () => root.selectAll('*').remove() };
  }
  if (!loaded.has(name)) {
    const note = root.append('div').attr('class', 'view-pending').attr('role', 'status').attr('data-loading', name);
    note.append('span').attr('class', 'spinner running').attr('aria-hidden', 'true');
    note.append('span').text(`Loading the values of ${name} from the host…`);
    let live = true;
    ctx.loadValues(name).then(
      () => live && ctx.redraw(),
      (e: unknown) => live && note.attr('class', 'view-error').attr('role', 'alert').text(`${name}: ${e instanceof Error ? e.message : String(e)}`),
    );
    return { destroy: () => { live = false; root.selectAll('*').remove(); } };
  }
  const h = render(el, { tensors, more: refs.filter((r) => !loaded.has(r.name)).map((r) => r.name) }, {
    theme: ctx.theme, tensor: name, width: ctx.width, height: ctx.height, idPrefix: 'live-scales', onFrame: ctx.onFrame,
    onTensorChange: (n) => {
      ctx.save({ scaleTensor: n });
      if (!loaded.has(n)) ctx.redraw();
    },
    onZoom: (panel, z) => panel === 'logical' && ctx.save({ zoom: z }),
    ...(ctx.state.zoom ? { zoom: ctx.state.zoom } : {}),
  });
  if (h.mode === 'svg') ctx.notePicture();
  return h;
}

export function standalone(doc: Document, input: ExportInput, o: StandaloneOptions): SVGSVGElement {
  const tensors = scaleTensorsOf(input.trace, input.valuesOf);
  const fallback = defaultScaleName(input.trace);
  const tensor = pickTensor({ tensors }, input.tensor ?? (tensors.some((t) => t.name === fallback) ? fallback : undefined), true);
  return scalesSvg(doc, scalePanels(tensor), o.theme, {
    width: o.width, maxPanelHeight: 560, idPrefix: 'x-scales', title: `${tensor.name} — ${input.trace.spec.name} (${input.trace.spec.arch})`, maxRects: o.maxRects ?? 4000,
  }).svg.node()!;
}
