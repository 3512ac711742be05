/**
 * Scale-layout view: one scale tensor in logical order and in storage order side by side, padding slots and UE8M0
 * packing drawn with patterns (not colour alone), hover cross-highlight between the two pictures, an SM90 ↔ SM100
 * toggle that re-lays the same scales. Small tensors are SVG (one node per cell, exportable as is); above
 * SVG_CELL_LIMIT cells the pictures are canvases rasterised per screen pixel by index math, so a 256 × 32 × 56
 * weight-scale tensor pans and zooms at frame rate whatever its size.
 */
import * as d3 from 'd3';
import type { Arch } from '../../kernels/spec';
import type { Theme } from '../theme';
import type { ScaleTensor, LogicalRef, StorageRef } from '../model/scaleLayout';
import { logicalIndex, storageOfLogical } from '../model/scaleLayout';
import { createSvg, addPatterns, legendRow, type Svg, type G, type LegendItem, type PatternIds } from './svgkit';
import {
  scalePanels, logicalAt, storageAt, logicalRect, storageRect, storageCellCount, storageCell, scaleColours,
  describeLogical, describeStorage, type ScalePanels, type ScaleColours, type HoverInfo, type PanelCell,
} from './scalePanels';
import type { TileGrid } from './grid';
import { hitTile } from './grid';

/** Above this many cells (logical + storage) the live view draws on canvas. */
export const SVG_CELL_LIMIT = 5000;

export interface ScalesViewData {
  tensors: ScaleTensor[];
}

export interface ZoomState {
  k: number;
  x: number;
  y: number;
}

export interface ScalesViewOptions {
  theme: Theme;
  arch: Arch;
  /** name of the tensor to show (default: the first) */
  tensor?: string;
  width?: number;
  height?: number;
  /** 'auto' picks SVG or canvas by cell count */
  mode?: 'auto' | 'svg' | 'canvas';
  /** unique prefix for pattern ids when several SVGs share a document */
  idPrefix?: string;
  onArchChange?: (arch: Arch) => void;
  onTensorChange?: (name: string) => void;
  onHover?: (info: HoverInfo | null) => void;
  onZoom?: (panel: 'logical' | 'storage', z: ZoomState) => void;
  /** called after every canvas frame with its draw time (benchmark hook) */
  onFrame?: (ms: number) => void;
  zoom?: ZoomState;
}

export interface ScalesHandle {
  readonly mode: 'svg' | 'canvas';
  readonly panels: ScalePanels;
  hoverLogical(ref: LogicalRef): HoverInfo;
  hoverStorage(slot: number, byte?: number): HoverInfo | null;
  clearHover(): void;
  setArch(arch: Arch): void;
  destroy(): void;
}

export function pickTensor(data: ScalesViewData, name?: string): ScaleTensor {
  if (data.tensors.length === 0) throw new Error('scales view: the trace holds no scale tensor with inline values');
  return data.tensors.find((t) => t.name === name) ?? data.tensors[0]!;
}

export function render(container: HTMLElement, data: ScalesViewData, options: ScalesViewOptions): ScalesHandle {
  const doc = container.ownerDocument;
  let arch = options.arch;
  let tensor = pickTensor(data, options.tensor);
  const root = d3.select(container);
  root.selectAll('*').remove();
  root.classed('moe-view scales-view', true);

  const toolbar = root.append('div').attr('class', 'toolbar').attr('role', 'toolbar').attr('aria-label', 'Scale layout options');
  const picker = toolbar.append('label').attr('class', 'field');
  picker.append('span').text('Tensor');
  const select = picker.append('select').attr('aria-label', 'Scale tensor');
  select.selectAll('option').data(data.tensors).join('option').attr('value', (t) => t.name).text((t) => `${t.name} (${t.groups > 1 ? `${t.groups} × ` : ''}${t.rows} × ${t.kBlocks})`);
  select.property('value', tensor.name);
  const seg = toolbar.append('div').attr('class', 'segmented').attr('role', 'radiogroup').attr('aria-label', 'Target architecture');
  const archButtons = seg.selectAll('button').data<Arch>(['sm90', 'sm100']).join('button')
    .attr('type', 'button').attr('role', 'radio').attr('data-arch', (a) => a)
    .text((a) => (a === 'sm90' ? 'SM90 · float32 MN-major' : 'SM100 · packed UE8M0'));
  const summary = toolbar.append('span').attr('class', 'summary');
  const stage = root.append('div').attr('class', 'stage-area');
  const tooltip = root.append('div').attr('class', 'tooltip').attr('role', 'status').attr('aria-live', 'polite');

  let current: Inner | null = null;
  const draw = (): void => {
    current?.destroy();
    stage.selectAll('*').remove();
    archButtons.attr('aria-checked', (a) => String(a === arch)).classed('active', (a) => a === arch);
    const P = scalePanels(tensor, arch);
    summary.text(
      `${P.layout.summary} · ${P.layout.allocated} slots allocated, ${P.layout.addressed} addressed, ${P.layout.allocated - P.layout.addressed} padding` +
        (P.layout.roundedUp ? ` · ${P.layout.roundedUp} scales are not powers of two: the SM100 packer refuses them; shown rounded up (UE8M0 ceil)` : ''),
    );
    const cells = tensor.values.length + storageCellCount(P);
    const mode = options.mode === 'svg' || options.mode === 'canvas' ? options.mode : cells > SVG_CELL_LIMIT ? 'canvas' : 'svg';
    current = mode === 'svg' ? svgInner(stage.node()!, P, options, tooltip.node()!) : canvasInner(stage.node()!, P, options, tooltip.node()!);
  };
  select.on('change', () => {
    tensor = pickTensor(data, select.property('value') as string);
    options.onTensorChange?.(tensor.name);
    draw();
  });
  archButtons.on('click', (_e, a) => {
    if (a === arch) return;
    arch = a;
    options.onArchChange?.(a);
    draw();
  });
  draw();
  void doc;
  return {
    get mode() {
      return current!.mode;
    },
    get panels() {
      return current!.panels;
    },
    hoverLogical: (ref) => current!.hover({ kind: 'data', logical: ref }, 'logical')!,
    hoverStorage: (slot, byte) => current!.hover(storageCell(current!.panels, current!.panels.layout.packed ? slot * 4 + (byte ?? 0) : slot), 'storage'),
    clearHover: () => current!.hover(null, 'logical'),
    setArch: (a) => {
      arch = a;
      draw();
    },
    destroy: () => {
      current?.destroy();
      root.selectAll('*').remove();
    },
  };
}

interface Inner {
  mode: 'svg' | 'canvas';
  panels: ScalePanels;
  hover(cell: PanelCell | null, panel: 'logical' | 'storage'): HoverInfo | null;
  destroy(): void;
}

function showTooltip(tip: HTMLElement, info: HoverInfo | null): void {
  const t = d3.select(tip);
  t.selectAll('*').remove();
  t.classed('visible', !!info);
  if (!info) return;
  t.append('div').attr('class', 'tip-title').text(info.title);
  t.selectAll('div.tip-line').data(info.lines).join('div').attr('class', 'tip-line').text((l) => l);
}

function hoverInfo(P: ScalePanels, cell: PanelCell | null, panel: 'logical' | 'storage'): HoverInfo | null {
  if (!cell) return null;
  if (panel === 'logical') return cell.logical ? describeLogical(P, cell.logical) : null;
  return describeStorage(P, cell);
}

/** Highlight rectangles (units) in both panels for a hover. Broadcast weights highlight at most 128 bytes. */
function highlightRects(P: ScalePanels, info: HoverInfo | null): { logical: number[][]; storage: number[][] } {
  if (!info) return { logical: [], storage: [] };
  const logical = info.logical ? [logicalRect(P, info.logical)] : [];
  let refs: StorageRef[] = info.storage;
  if (info.panel === 'storage' && info.logical && P.layout.packed && P.layout.tensor.kind === 'weight') refs = describeLogical(P, info.logical).storage;
  return { logical, storage: refs.slice(0, 256).map((r) => storageRect(P, r.slot, r.byte)) };
}

// ---------------------------------------------------------------- SVG

export interface ScalesSvgOptions {
  width: number;
  maxPanelHeight: number;
  idPrefix: string;
  title: string;
  /** at most this many rectangles per panel; above it cells are aggregated into bins */
  maxRects?: number;
}

interface SvgParts {
  svg: Svg;
  logicalG: G;
  storageG: G;
  unitL: number;
  unitS: number;
}

function cellLabel(v: number): string {
  if (v > 0 && Number.isInteger(Math.log2(v))) return `2^${Math.log2(v)}`;
  return Number.isFinite(v) ? v.toPrecision(2) : String(v);
}

function kindFill(kind: PanelCell['kind'], ids: PatternIds): string {
  return kind === 'pad' ? `url(#${ids.pad})` : kind === 'kpad' ? `url(#${ids.kpad})` : kind === 'unalloc' ? `url(#${ids.unalloc})` : 'none';
}

/**
 * The whole picture as one SVG (both panels, headers, legend). Used live for small tensors and by every export;
 * tensors with more cells than maxRects per panel are drawn as bins (mean colour, majority kind).
 */
export function scalesSvg(doc: Document, P: ScalePanels, theme: Theme, o: ScalesSvgOptions): SvgParts {
  const t = P.layout.tensor;
  const colours = scaleColours(t, theme);
  const margin = 14;
  const gapBetween = 36;
  const addrW = 52;
  const avail = o.width - 2 * margin - gapBetween - addrW - 24;
  // one unit for both pictures where possible, so a logical cell and a storage slot (or byte) are the same size
  const shared = Math.min(30, avail / (P.logical.width + P.storage.width), o.maxPanelHeight / Math.max(P.logical.height, P.storage.height));
  const half = avail / 2;
  const unitOf = (g: TileGrid): number => Math.max(0.05, Math.min(30, half / g.width, o.maxPanelHeight / g.height));
  const ratio = (a: number, b: number): number => Math.max(a, b) / Math.max(1e-9, Math.min(a, b));
  // same cell size unless one picture dwarfs the other (SM100 weights: 128 stored rows per block scale)
  const sameUnit = ratio(P.logical.width, P.storage.width) < 8 && ratio(P.logical.height, P.storage.height) < 8;
  let unitL = sameUnit ? Math.max(0.05, shared) : unitOf(P.logical);
  // leave room for the logical panel's header even when the picture itself is narrow
  const pw = Math.max(P.logical.width * unitL + 24, 300);
  const unitS = Math.max(0.05, Math.min(sameUnit ? shared : unitOf(P.storage), (o.width - 2 * margin - gapBetween - addrW - pw) / P.storage.width));
  if (sameUnit) unitL = Math.min(unitL, unitS);
  const top = 88;
  const panelH = Math.max(P.logical.height * unitL, P.storage.height * unitS);
  const height = top + panelH + 64;
  const svg = createSvg(doc, o.width, height, theme, o.title);
  const ids = addPatterns(svg, theme, o.idPrefix);
  svg.append('text').attr('class', 'title').attr('x', margin).attr('y', 20).attr('font-size', 14).attr('font-weight', 600).text(o.title);
  svg.append('text').attr('class', 'subtitle').attr('x', margin).attr('y', 38).attr('fill', theme.muted).attr('font-size', 11)
    .text(`${P.layout.summary} · allocated ${P.layout.allocated} · addressed ${P.layout.addressed} · padding ${P.layout.allocated - P.layout.addressed} (slots of 4 bytes)`);

  const maxRects = o.maxRects ?? Infinity;
  const mk = (cls: string, x: number, header: string, unit: number, grid: TileGrid): G => {
    const g = svg.append('g').attr('class', `panel ${cls}`).attr('transform', `translate(${x},${top})`);
    g.append('text').attr('class', 'panel-header').attr('y', -30).attr('font-weight', 600).text(header);
    const clipId = `${o.idPrefix}-clip-${cls}`;
    svg.select('defs').append('clipPath').attr('id', clipId).append('rect').attr('width', grid.width * unit + 1).attr('height', grid.height * unit + 1);
    const vp = g.append('g').attr('class', 'viewport').attr('clip-path', `url(#${clipId})`);
    return vp.append('g').attr('class', 'zoom');
  };
  const logicalG = mk('logical', margin, `Logical order — ${t.kind === 'weight' ? 'experts × N-blocks × K-blocks' : 'rows × K-blocks'}`, unitL, P.logical);
  const storageX = margin + pw + gapBetween + addrW;
  const storageG = mk('storage', storageX, `Storage order — ${P.pitch} slot${P.pitch > 1 ? 's' : ''} per line${P.layout.packed ? ', 4 bytes per word' : ''}`, unitS, P.storage);

  const logicalCount = t.values.length;
  if (logicalCount <= maxRects) {
    const refs: LogicalRef[] = [];
    for (let g = 0; g < t.groups; g++) for (let r = 0; r < t.rows; r++) for (let j = 0; j < t.kBlocks; j++) refs.push({ group: g, row: r, kBlock: j });
    const cells = logicalG.selectAll<SVGRectElement, LogicalRef>('rect.cell').data(refs).join('rect')
      .attr('class', 'cell logical-cell')
      .attr('data-g', (d) => d.group).attr('data-r', (d) => d.row).attr('data-j', (d) => d.kBlock)
      .attr('x', (d) => logicalRect(P, d)[0] * unitL).attr('y', (d) => logicalRect(P, d)[1] * unitL)
      .attr('width', unitL).attr('height', unitL)
      .attr('fill', (d) => colours.css[colours.index[logicalIndex(t, d.group, d.row, d.kBlock)]!]!)
      .attr('stroke', unitL >= 4 ? theme.background : 'none').attr('stroke-width', unitL >= 4 ? 1 : 0);
    void cells;
    const maxChars = P.layout.packed ? String(P.layout.drawn).length + 2 : String(P.layout.drawn).length;
    const fontL = Math.min(10, (unitL - 2) / (0.62 * Math.max(3, maxChars)));
    if (fontL >= 6.5) {
      // like CuTe's print_layout: each logical cell shows where it is stored (offset, or word.byte when packed);
      // the value is in the colour and the hover
      const where = (d: LogicalRef): string => {
        const s = storageOfLogical(P.layout, d.group, d.row, d.kBlock)[0]!;
        return s.byte === undefined ? String(s.slot) : `${s.slot}.${s.byte}`;
      };
      logicalG.selectAll('text.cell-label').data(refs).join('text').attr('class', 'cell-label')
        .attr('x', (d) => (logicalRect(P, d)[0] + 0.5) * unitL).attr('y', (d) => (logicalRect(P, d)[1] + 0.5) * unitL + 3)
        .attr('text-anchor', 'middle').attr('font-size', fontL).attr('fill', theme.background).attr('pointer-events', 'none')
        .text((d) => (P.layout.tensor.kind === 'weight' && P.layout.packed ? cellLabel(t.values[logicalIndex(t, d.group, d.row, d.kBlock)]!) : where(d)));
    }
    if (P.logical.tiles === 1 && unitL >= 10) {
      const axis = svg.select<SVGGElement>('g.panel.logical');
      axis.selectAll('text.row-index').data(d3.range(t.rows)).join('text').attr('class', 'row-index')
        .attr('x', -4).attr('y', (r) => (r + 0.5) * unitL + 3).attr('text-anchor', 'end').attr('font-size', Math.min(9, unitL * 0.7)).attr('fill', theme.muted).text((r) => r);
      axis.selectAll('text.col-index').data(d3.range(t.kBlocks)).join('text').attr('class', 'col-index')
        .attr('x', (j) => (j + 0.5) * unitL).attr('y', -8).attr('text-anchor', 'middle').attr('font-size', Math.min(9, unitL * 0.7)).attr('fill', theme.muted).text((j) => `k${j}`);
    }
  } else {
    aggregateInto(logicalG, P.logical, unitL, maxRects, (u, v) => logicalAt(P, u, v), P, colours, ids, theme);
  }

  const storageCount = storageCellCount(P);
  if (storageCount <= maxRects) {
    const idx = d3.range(storageCount);
    const cells = idx.map((i) => storageCell(P, i));
    storageG.selectAll<SVGRectElement, PanelCell>('rect.cell').data(cells).join('rect')
      .attr('class', (d) => `cell storage-cell kind-${d.kind}`)
      .attr('data-slot', (d) => d.slot!).attr('data-byte', (d) => (d.byte === undefined ? null : d.byte))
      .attr('data-kind', (d) => d.kind)
      .attr('x', (d) => storageRect(P, d.slot!, d.byte)[0] * unitS).attr('y', (d) => storageRect(P, d.slot!, d.byte)[1] * unitS)
      .attr('width', unitS).attr('height', unitS)
      .attr('fill', (d) => (d.kind === 'data' && d.logical ? colours.css[colours.index[logicalIndex(t, d.logical.group, d.logical.row, d.logical.kBlock)]!]! : kindFill(d.kind, ids)))
      .attr('stroke', (d) => (d.kind === 'unalloc' ? theme.muted : unitS >= 4 ? theme.background : 'none'))
      .attr('stroke-dasharray', (d) => (d.kind === 'unalloc' ? '2,2' : null))
      .attr('stroke-width', unitS >= 4 ? 1 : 0);
    if (P.layout.packed && unitS >= 4) {
      // word outlines make the 4-byte grouping visible even where byte labels do not fit
      const words = d3.range(P.layout.drawn);
      storageG.selectAll('rect.word').data(words).join('rect').attr('class', 'word')
        .attr('x', (s) => storageRect(P, s)[0] * unitS).attr('y', (s) => storageRect(P, s)[1] * unitS)
        .attr('width', 4 * unitS).attr('height', unitS).attr('fill', 'none').attr('stroke', theme.foreground).attr('stroke-width', 1.2).attr('pointer-events', 'none');
    }
    const fontS = Math.min(10, (unitS - 2) / (0.62 * Math.max(2, P.layout.packed ? 2 : String(P.layout.drawn).length)));
    if (fontS >= 6.5) {
      storageG.selectAll('text.cell-label').data(cells).join('text').attr('class', 'cell-label')
        .attr('x', (d) => (storageRect(P, d.slot!, d.byte)[0] + 0.5) * unitS).attr('y', (d) => (storageRect(P, d.slot!, d.byte)[1] + 0.5) * unitS + 3)
        .attr('text-anchor', 'middle').attr('font-size', fontS).attr('pointer-events', 'none')
        .attr('fill', (d) => (d.kind === 'data' ? theme.background : theme.foreground))
        .text((d) => (P.layout.packed ? `b${d.byte}` : String(d.slot)));
    }
    if (P.storage.tiles === 1 && unitS >= 9) {
      const lines = d3.range(P.storage.height);
      svg.select<SVGGElement>('g.panel.storage').selectAll('text.addr').data(lines).join('text').attr('class', 'addr')
        .attr('x', -6).attr('y', (l) => (l + 0.5) * unitS + 4).attr('text-anchor', 'end').attr('font-family', theme.monoFamily)
        .attr('font-size', Math.min(10, unitS * 0.8)).attr('fill', theme.muted)
        .text((l) => '0x' + (l * P.pitch * 4).toString(16).toUpperCase().padStart(4, '0'));
    }
  } else {
    aggregateInto(storageG, P.storage, unitS, maxRects, (u, v) => storageAt(P, u, v), P, colours, ids, theme);
  }

  // legend: patterns as well as colours, so the distinction survives greyscale print and colour blindness
  const items: LegendItem[] = [{ label: `scale, log2 ${colours.lo.toFixed(0)} … ${colours.hi.toFixed(0)}`, fill: `url(#${addRamp(svg, `${o.idPrefix}-ramp`, colours)})` }];
  if (P.layout.allocated > P.layout.addressed || P.layout.paddedRows > P.layout.storageRows) items.push({ label: 'TMA padding slot', fill: `url(#${ids.pad})` });
  if (P.layout.drawn > P.layout.allocated) items.push({ label: 'not allocated', fill: `url(#${ids.unalloc})`, stroke: theme.muted, dash: '2,2' });
  if (P.layout.packed) items.push({ label: 'zero K-block byte', fill: `url(#${ids.kpad})` });
  if (P.layout.packed) items.push({ label: 'int32 word = bytes b0 b1 b2 b3 (little-endian, K-block 4w+i in byte i)', fill: 'none', stroke: theme.foreground });
  const legend = svg.append('g').attr('class', 'legend').attr('transform', `translate(${margin},${top + panelH + 22})`);
  legendRow(legend, items, theme, o.width - 2 * margin);
  return { svg, logicalG, storageG, unitL, unitS };
}

/** A horizontal gradient of the colour ramp for the legend swatch. */
function addRamp(svg: Svg, id: string, colours: ScaleColours): string {
  const grad = svg.select('defs').append('linearGradient').attr('id', id);
  for (let i = 0; i <= 8; i++) grad.append('stop').attr('offset', `${i * 12.5}%`).attr('stop-color', colours.css[Math.round((i * 255) / 8)]!);
  return id;
}

/** Bins of b × b units: mean colour of the data cells sampled in the bin, pattern when mostly padding. */
function aggregateInto(
  g: G, grid: TileGrid, unit: number, maxRects: number, at: (u: number, v: number) => PanelCell | null,
  P: ScalePanels, colours: ScaleColours, ids: PatternIds, theme: Theme,
): void {
  const t = P.layout.tensor;
  const b = Math.max(1, Math.ceil(Math.sqrt((grid.width * grid.height) / maxRects)));
  const samples = Math.min(b, 4);
  g.attr('data-aggregated', b);
  for (let v0 = 0; v0 < grid.height; v0 += b) {
    for (let u0 = 0; u0 < grid.width; u0 += b) {
      let data = 0;
      let pad = 0;
      let sum = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const c = at(u0 + ((sx + 0.5) * b) / samples, v0 + ((sy + 0.5) * b) / samples);
          if (!c) continue;
          if (c.kind === 'data' && c.logical) {
            data++;
            sum += colours.index[logicalIndex(t, c.logical.group, c.logical.row, c.logical.kBlock)]!;
          } else pad++;
        }
      }
      if (data + pad === 0) continue;
      const fill = data >= pad ? colours.css[Math.round(sum / data)]! : `url(#${ids.pad})`;
      g.append('rect').attr('class', 'bin').attr('x', u0 * unit).attr('y', v0 * unit)
        .attr('width', Math.min(b, grid.width - u0) * unit).attr('height', Math.min(b, grid.height - v0) * unit).attr('fill', fill);
    }
  }
  void theme;
}

function svgInner(host: HTMLElement, P: ScalePanels, options: ScalesViewOptions, tip: HTMLElement): Inner {
  const doc = host.ownerDocument;
  const width = options.width ?? 960;
  const parts = scalesSvg(doc, P, options.theme, {
    width,
    maxPanelHeight: Math.max(200, (options.height ?? 640) - 150),
    idPrefix: options.idPrefix ?? 'scales',
    title: `${P.layout.tensor.name} on ${P.layout.arch.toUpperCase()}`,
  });
  host.appendChild(parts.svg.node()!);
  const hl = {
    logical: parts.logicalG.append('g').attr('class', 'hl-layer').attr('pointer-events', 'none'),
    storage: parts.storageG.append('g').attr('class', 'hl-layer').attr('pointer-events', 'none'),
  };
  const theme = options.theme;
  const hover = (cell: PanelCell | null, panel: 'logical' | 'storage'): HoverInfo | null => {
    const info = hoverInfo(P, cell, panel);
    const rects = highlightRects(P, info);
    parts.svg.selectAll('.cell.hl').classed('hl', false);
    const draw = (layer: G, rs: number[][], unit: number): void => {
      layer.selectAll('rect').data(rs).join('rect').attr('x', (r) => r[0]! * unit).attr('y', (r) => r[1]! * unit)
        .attr('width', (r) => r[2]! * unit).attr('height', (r) => r[3]! * unit)
        .attr('fill', 'none').attr('stroke', theme.focus).attr('stroke-width', 2.5);
    };
    draw(hl.logical, rects.logical, parts.unitL);
    draw(hl.storage, rects.storage, parts.unitS);
    if (info?.logical) {
      const l = info.logical;
      parts.logicalG.select(`rect.cell[data-g="${l.group}"][data-r="${l.row}"][data-j="${l.kBlock}"]`).classed('hl', true);
    }
    for (const s of info ? highlightStorage(P, info) : []) {
      parts.storageG.select(`rect.cell[data-slot="${s.slot}"]${s.byte === undefined ? '' : `[data-byte="${s.byte}"]`}`).classed('hl', true);
    }
    showTooltip(tip, info);
    options.onHover?.(info);
    return info;
  };
  parts.logicalG.on('mouseover', (e: MouseEvent) => {
    const el = e.target as Element;
    if (!el.classList?.contains('cell')) return;
    hover({ kind: 'data', logical: { group: +el.getAttribute('data-g')!, row: +el.getAttribute('data-r')!, kBlock: +el.getAttribute('data-j')! } }, 'logical');
  });
  parts.storageG.on('mouseover', (e: MouseEvent) => {
    const el = e.target as Element;
    if (!el.classList?.contains('cell')) return;
    const slot = +el.getAttribute('data-slot')!;
    const b = el.getAttribute('data-byte');
    hover(storageCell(P, P.layout.packed ? slot * 4 + +(b ?? 0) : slot), 'storage');
  });
  parts.svg.on('mouseleave', () => hover(null, 'logical'));
  for (const [name, g] of [['logical', parts.logicalG], ['storage', parts.storageG]] as const) {
    const zoom = d3.zoom<SVGGElement, unknown>().touchable(notTouch).extent([[0, 0], [width, options.height ?? 640]]).scaleExtent([1, 16]).on('zoom', (e: d3.D3ZoomEvent<SVGGElement, unknown>) => {
      g.attr('transform', e.transform.toString());
      options.onZoom?.(name, { k: e.transform.k, x: e.transform.x, y: e.transform.y });
    });
    (g.node()!.parentNode!.parentNode as SVGGElement).setAttribute('tabindex', '-1');
    d3.select(g.node()!.parentNode!.parentNode as SVGGElement).call(zoom);
  }
  return { mode: 'svg', panels: P, hover, destroy: () => parts.svg.remove() };
}

function highlightStorage(P: ScalePanels, info: HoverInfo): StorageRef[] {
  if (info.panel === 'storage' && info.logical && P.layout.packed && P.layout.tensor.kind === 'weight') return describeLogical(P, info.logical).storage;
  return info.storage;
}

// ---------------------------------------------------------------- canvas

interface CanvasPanel {
  name: 'logical' | 'storage';
  grid: TileGrid;
  canvas: HTMLCanvasElement;
  ctx: CanvasRenderingContext2D | null;
  transform: d3.ZoomTransform;
  cssW: number;
  cssH: number;
  hl: number[][];
}

function canvasInner(host: HTMLElement, P: ScalePanels, options: ScalesViewOptions, tip: HTMLElement): Inner {
  const theme = options.theme;
  const colours = scaleColours(P.layout.tensor, theme);
  const width = options.width ?? 960;
  const height = Math.max(240, (options.height ?? 640) - 110);
  const wrap = d3.select(host).append('div').attr('class', 'canvas-panels');
  const dpr = (host.ownerDocument.defaultView?.devicePixelRatio ?? 1) || 1;
  const cssW = Math.floor((width - 24) / 2);
  const panels: CanvasPanel[] = (['logical', 'storage'] as const).map((name) => {
    const box = wrap.append('div').attr('class', `panel ${name}`);
    box.append('div').attr('class', 'panel-header').text(
      name === 'logical'
        ? `Logical order — ${P.layout.tensor.kind === 'weight' ? 'experts × N-blocks × K-blocks' : 'rows × K-blocks'} (${P.layout.tensor.values.length.toLocaleString('en-US')} scales)`
        : `Storage order — ${P.pitch} slots per line${P.layout.packed ? ' × 4 bytes' : ''} (${P.layout.drawn.toLocaleString('en-US')} slots)`,
    );
    const canvas = box.append('canvas').attr('class', 'cells').attr('tabindex', 0)
      .attr('role', 'img').attr('aria-label', `${name} order of ${P.layout.tensor.name}; scroll to zoom, drag to pan`)
      .style('width', `${cssW}px`).style('height', `${height}px`).node()!;
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(height * dpr);
    let ctx: CanvasRenderingContext2D | null;
    try {
      ctx = canvas.getContext('2d');
    } catch {
      ctx = null; // jsdom without the canvas package: geometry and hover still work
    }
    const grid = name === 'logical' ? P.logical : P.storage;
    const k0 = Math.min(cssW / grid.width, height / grid.height) * 0.96;
    const t0 = d3.zoomIdentity.translate((cssW - grid.width * k0) / 2, (height - grid.height * k0) / 2).scale(k0);
    return { name, grid, canvas, ctx, transform: t0, cssW, cssH: height, hl: [] };
  });
  // legend as a small SVG so the patterns match the exported picture
  const legendSvg = d3.select(host).append('svg').attr('class', 'legend-strip').attr('width', width).attr('height', 24);
  const ids = addPatterns(legendSvg as unknown as Svg, theme, `${options.idPrefix ?? 'scales'}-lg`);
  const items: LegendItem[] = [{ label: `scale, log2 ${colours.lo.toFixed(0)} … ${colours.hi.toFixed(0)}`, fill: `url(#${addRamp(legendSvg as unknown as Svg, `${options.idPrefix ?? 'scales'}-lg-ramp`, colours)})` }];
  if (P.layout.paddedRows > P.layout.storageRows) items.push({ label: 'TMA padding', fill: `url(#${ids.pad})` });
  if (P.layout.packed) items.push({ label: 'zero K-block byte', fill: `url(#${ids.kpad})` }, { label: 'word = b0 b1 b2 b3, little-endian', fill: 'none', stroke: theme.foreground });
  const lw = legendRow(legendSvg.append('g').attr('transform', 'translate(4,5)') as unknown as G, items, theme, width - 8);
  legendSvg.attr('height', lw > width - 8 ? 46 : 26);

  const bg = toRgbaSafe(theme.background);
  const border = toRgbaSafe(theme.border);
  const hatch = toRgbaSafe(theme.hatch);
  const L = P.layout;
  const t = L.tensor;
  let raf = 0;
  const pending = new Set<CanvasPanel>();

  const drawPanel = (p: CanvasPanel): void => {
    const ctx = p.ctx;
    if (!ctx) return;
    const t0 = performance.now();
    const W = p.canvas.width;
    const H = p.canvas.height;
    const img = ctx.createImageData(W, H);
    const px = new Uint32Array(img.data.buffer);
    const k = p.transform.k * dpr;
    const tx = p.transform.x * dpr;
    const ty = p.transform.y * dpr;
    const G = p.grid;
    const stepX = G.tileW + G.gap;
    const stepY = G.tileH + G.gap;
    const colTile = new Int32Array(W);
    const colIn = new Int32Array(W);
    const rowTile = new Int32Array(H);
    const rowIn = new Int32Array(H);
    for (let x = 0; x < W; x++) {
      const u = (x + 0.5 - tx) / k;
      const tc = Math.floor(u / stepX);
      const xi = Math.floor(u - tc * stepX);
      const ok = u >= 0 && tc < G.tilesPerRow && xi < G.tileW;
      colTile[x] = ok ? tc : -1;
      colIn[x] = ok ? xi : -1;
    }
    for (let y = 0; y < H; y++) {
      const v = (y + 0.5 - ty) / k;
      const tr = Math.floor(v / stepY);
      const yi = Math.floor(v - tr * stepY);
      const ok = v >= 0 && yi < G.tileH;
      rowTile[y] = ok ? tr : -1;
      rowIn[y] = ok ? yi : -1;
    }
    const lines = k >= 6;
    const isLogical = p.name === 'logical';
    const R = t.rows;
    const KB = t.kBlocks;
    const pitch = P.pitch;
    const slotW = P.slotW;
    const gs = P.groupSlots;
    const mn = L.order === 'mn-major';
    const pr = L.paddedRows;
    const sc = L.storageCols;
    const sr = L.storageRows;
    const weightRows = t.kind === 'weight' && L.packed;
    const idx = colours.index;
    const lut = colours.rgba;
    const bands = isLogical ? P.lBands : P.sBands;
    const bandH = isLogical ? P.lBand : P.sBand;
    for (let y = 0; y < H; y++) {
      const tr = rowTile[y]!;
      const yi = rowIn[y]!;
      const base = y * W;
      if (tr < 0) {
        px.fill(bg, base, base + W);
        continue;
      }
      const yEdge = lines && y > 0 && rowIn[y - 1] !== yi;
      for (let x = 0; x < W; x++) {
        const tc = colTile[x]!;
        const xi = colIn[x]!;
        let c = bg;
        if (tc >= 0) {
          const tile = tr * G.tilesPerRow + tc;
          if (tile < G.tiles) {
            const g = (tile / bands) | 0;
            const yr = (tile - g * bands) * bandH + yi;
            if (lines && (yEdge || (x > 0 && colIn[x - 1] !== xi))) c = border;
            else if (isLogical) {
              if (yr < R) c = lut[idx[(g * R + yr) * KB + xi]!]!;
            } else {
              const q = yr * pitch + ((xi / slotW) | 0);
              const s = g * gs + q;
              if (yr < P.lines && q < gs && s < L.drawn) {
                let row: number;
                let col: number;
                if (mn) {
                  col = (q / pr) | 0;
                  row = q - col * pr;
                } else {
                  row = (q / sc) | 0;
                  col = q - row * sc;
                }
                if (s >= L.allocated) c = ((x + y) & 3) === 0 ? border : bg;
                else if (row >= sr) c = (x + y) % 6 < 2 ? hatch : bg;
                else if (slotW === 4) {
                  const j = col * 4 + (xi & 3);
                  if (j >= KB) c = x % 3 === 0 && y % 3 === 0 ? hatch : bg;
                  else c = lut[idx[(g * R + (weightRows ? row >> 7 : row)) * KB + j]!]!;
                } else c = lut[idx[(g * R + row) * KB + col]!]!;
              }
            }
          }
        }
        px[base + x] = c;
      }
    }
    ctx.putImageData(img, 0, 0);
    ctx.save();
    ctx.scale(dpr, dpr);
    if (p.transform.k >= 26) drawLabels(p, ctx);
    ctx.strokeStyle = theme.focus;
    ctx.lineWidth = 2;
    for (const r of p.hl) {
      ctx.strokeRect(p.transform.applyX(r[0]!), p.transform.applyY(r[1]!), r[2]! * p.transform.k, r[3]! * p.transform.k);
    }
    ctx.restore();
    options.onFrame?.(performance.now() - t0);
  };

  const drawLabels = (p: CanvasPanel, ctx: CanvasRenderingContext2D): void => {
    const tr = p.transform;
    const u0 = Math.max(0, Math.floor(tr.invertX(0)));
    const u1 = Math.min(p.grid.width, Math.ceil(tr.invertX(p.cssW)));
    const v0 = Math.max(0, Math.floor(tr.invertY(0)));
    const v1 = Math.min(p.grid.height, Math.ceil(tr.invertY(p.cssH)));
    ctx.font = `${Math.min(11, tr.k / 3.2)}px ${theme.monoFamily}`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    for (let v = v0; v < v1; v++) {
      for (let u = u0; u < u1; u++) {
        const c = p.name === 'logical' ? logicalAt(P, u + 0.5, v + 0.5) : storageAt(P, u + 0.5, v + 0.5);
        if (!c) continue;
        let text = '';
        if (p.name === 'logical' && c.logical) text = cellLabel(t.values[logicalIndex(t, c.logical.group, c.logical.row, c.logical.kBlock)]!);
        else if (p.name === 'storage') text = L.packed ? `b${c.byte}` : String(c.slot);
        ctx.fillStyle = c.kind === 'data' ? theme.background : theme.foreground;
        ctx.fillText(text, tr.applyX(u + 0.5), tr.applyY(v + 0.5));
      }
    }
  };

  const schedule = (p: CanvasPanel): void => {
    pending.add(p);
    const win = host.ownerDocument.defaultView;
    if (raf || !win?.requestAnimationFrame) {
      if (!win?.requestAnimationFrame) flush();
      return;
    }
    raf = win.requestAnimationFrame(flush);
  };
  const flush = (): void => {
    raf = 0;
    for (const p of pending) drawPanel(p);
    pending.clear();
  };

  const hover = (cell: PanelCell | null, panel: 'logical' | 'storage'): HoverInfo | null => {
    const info = hoverInfo(P, cell, panel);
    const rects = highlightRects(P, info);
    panels[0]!.hl = rects.logical;
    panels[1]!.hl = rects.storage;
    schedule(panels[0]!);
    schedule(panels[1]!);
    showTooltip(tip, info);
    options.onHover?.(info);
    return info;
  };

  for (const p of panels) {
    const k0 = p.transform.k;
    const zoom = d3.zoom<HTMLCanvasElement, unknown>()
      .touchable(notTouch)
      .extent([[0, 0], [p.cssW, p.cssH]])
      .scaleExtent([k0 * 0.5, Math.max(k0 * 2, 64)])
      .on('zoom', (e: d3.D3ZoomEvent<HTMLCanvasElement, unknown>) => {
        p.transform = e.transform;
        options.onZoom?.(p.name, { k: e.transform.k, x: e.transform.x, y: e.transform.y });
        schedule(p);
      });
    const sel = d3.select(p.canvas);
    sel.call(zoom).call(zoom.transform, p.name === 'logical' && options.zoom ? d3.zoomIdentity.translate(options.zoom.x, options.zoom.y).scale(options.zoom.k) : p.transform);
    sel.on('mousemove', (e: MouseEvent) => {
      const [mx, my] = d3.pointer(e, p.canvas);
      const u = p.transform.invertX(mx);
      const v = p.transform.invertY(my);
      const cell = p.name === 'logical' ? logicalAt(P, u, v) : storageAt(P, u, v);
      hover(cell, p.name);
    });
    sel.on('mouseleave', () => hover(null, p.name));
  }
  flush();
  return {
    mode: 'canvas',
    panels: P,
    hover,
    destroy: () => {
      if (raf) host.ownerDocument.defaultView?.cancelAnimationFrame(raf);
      wrap.remove();
      legendSvg.remove();
    },
  };
}

function toRgbaSafe(c: string): number {
  const r = d3.rgb(c);
  if (Number.isNaN(r.r)) return 0xff000000;
  return ((255 << 24) | (Math.round(r.b) << 16) | (Math.round(r.g) << 8) | Math.round(r.r)) >>> 0;
}
void hitTile;

/** d3-zoom's default reads the global `navigator`, which Node (headless export, tests) does not have before v21. */
export function notTouch(this: Element): boolean {
  return 'ontouchstart' in this;
}
