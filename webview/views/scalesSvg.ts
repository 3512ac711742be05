/**
 * The scale view's vector picture: both panels, headers and legend as one SVG. Drawn live for small tensors (with
 * hover and zoom) and by every export; tensors with more cells than maxRects per panel are binned (mean colour,
 * majority kind), so an export never embeds a bitmap.
 */
import * as d3 from 'd3';
import type { Theme } from '../theme';
import type { LogicalRef } from '../model/scaleLayout';
import { logicalIndex, storageOfLogical } from '../model/scaleLayout';
import { createSvg, addPatterns, legendRow, type Svg, type G, type LegendItem, type PatternIds } from './svgkit';
import {
  logicalAt, storageAt, logicalRect, storageRect, storageCellCount, storageCell, scaleColours, ZERO_SCALE,
  type ScalePanels, type ScaleColours, type HoverInfo, type PanelCell,
} from './scalePanels';
import type { TileGrid } from './grid';
import { showTooltip, hoverInfo, highlightRects, notTouch, type ScaleInner } from './scaleHover';

/** What the live pictures (SVG and canvas) take from the view's options. */
export interface LivePictureOptions {
  theme: Theme;
  width?: number;
  height?: number;
  idPrefix?: string;
  title?: string;
  onHover?: (info: HoverInfo | null) => void;
  onZoom?: (panel: 'logical' | 'storage', z: { k: number; x: number; y: number }) => void;
  /** called after every canvas frame with its draw time (the app shell's frame statistics) */
  onFrame?: (ms: number) => void;
  zoom?: { k: number; x: number; y: number };
}

export interface ScalesSvgOptions {
  width: number;
  maxPanelHeight: number;
  idPrefix: string;
  title: string;
  /** at most this many rectangles per panel; above it cells are aggregated into bins */
  maxRects?: number;
}

/** What the logical picture's rows and columns are. */
export function logicalAxes(t: ScalePanels['layout']['tensor']): string {
  if (t.kind === 'weight') return `${t.groups > 1 ? 'experts × ' : ''}N-blocks × K-blocks`;
  return `${t.groups > 1 ? 'experts × ' : ''}rows × K-blocks`;
}

export interface SvgParts {
  svg: Svg;
  logicalG: G;
  storageG: G;
  unitL: number;
  unitS: number;
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
    .text(`${P.layout.summary} · allocated ${P.layout.allocated} · addressed ${P.layout.addressed} · padding ${P.layout.allocated - P.layout.addressed} (slots of ${P.layout.itemBytes} bytes)`);

  const maxRects = o.maxRects ?? Infinity;
  const logicalG = addPanel(svg, 'logical', margin, top, `Logical order — ${logicalAxes(t)}`, unitL, P.logical, o.idPrefix);
  const storageX = margin + pw + gapBetween + addrW;
  const storageG = addPanel(svg, 'storage', storageX, top, storageHeader(P), unitS, P.storage, o.idPrefix);

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
        .text(where);
    }
    if (P.logical.tiles === 1 && unitL >= 10) {
      const axis = svg.select<SVGGElement>('g.panel.logical');
      axis.selectAll('text.row-index').data(d3.range(t.rows)).join('text').attr('class', 'row-index')
        .attr('x', -4).attr('y', (r) => (r + 0.5) * unitL + 3).attr('text-anchor', 'end').attr('font-size', Math.min(9, unitL * 0.7)).attr('fill', theme.muted).text((r) => r);
      axis.selectAll('text.col-index').data(d3.range(t.kBlocks)).join('text').attr('class', 'col-index')
        .attr('x', (j) => (j + 0.5) * unitL).attr('y', -8).attr('text-anchor', 'middle').attr('font-size', Math.min(9, unitL * 0.7)).attr('fill', theme.muted).text((j) => `k${j}`);
    }
  } else {
    aggregateInto(logicalG, P.logical, unitL, maxRects, (u, v) => logicalAt(P, u, v), colours.css, (d) => colours.index[logicalIndex(t, d.group, d.row, d.kBlock)]!, ids);
  }

  const logicalColour = (d: LogicalRef): number => colours.index[logicalIndex(t, d.group, d.row, d.kBlock)]!;
  drawStorage(svg.select<SVGGElement>('g.panel.storage'), storageG, P, unitS, { maxRects, ids, theme, css: colours.css, colourOf: logicalColour });

  // legend: patterns as well as colours, so the distinction survives greyscale print and colour blindness
  const items: LegendItem[] = [{ label: `scale, log2 ${colours.lo.toFixed(0)} … ${colours.hi.toFixed(0)}`, fill: `url(#${addRamp(svg, `${o.idPrefix}-ramp`, colours)})` }];
  if (P.layout.allocated > P.layout.addressed || P.layout.paddedRows > P.layout.storageRows) items.push({ label: 'TMA padding slot', fill: `url(#${ids.pad})` });
  if (colours.zeros) items.push({ label: 'scale 0 (row not quantized)', fill: colours.css[ZERO_SCALE]! });
  if (P.layout.drawn > P.layout.allocated) items.push({ label: 'not allocated', fill: `url(#${ids.unalloc})`, stroke: theme.muted, dash: '2,2' });
  if (P.layout.packed) items.push({ label: 'zero K-block byte', fill: `url(#${ids.kpad})` });
  if (P.layout.packed)
    items.push({ label: `${P.layout.itemBytes}-byte word = bytes ${Array.from({ length: P.slotW }, (_, i) => `b${i}`).join(' ')} (little-endian, K-block ${P.slotW}w+i in byte i)`, fill: 'none', stroke: theme.foreground });
  const legend = svg.append('g').attr('class', 'legend').attr('transform', `translate(${margin},${top + panelH + 22})`);
  legendRow(legend, items, theme, o.width - 2 * margin);
  return { svg, logicalG, storageG, unitL, unitS };
}

/** How a storage panel colours its cells: a table of CSS colours and, per logical scale, its entry in the table. */
export interface StorageDrawOptions {
  maxRects: number;
  ids: PatternIds;
  theme: Theme;
  css: readonly string[];
  colourOf: (ref: LogicalRef) => number;
}

/** The storage panel's header: how many slots a drawn line holds, and the bytes of a packed word. */
export const storageHeader = (P: ScalePanels): string =>
  `Storage order — ${P.pitch} slot${P.pitch > 1 ? 's' : ''} per line${P.layout.packed ? `, ${P.slotW} bytes per word` : ''}`;

/**
 * A panel of the picture at (x, y): its header, a clip to its grid, and the group the cells go in (the one the live
 * view zooms). Used for both panels here and for each run's storage panel in the Compare view.
 */
export function addPanel(svg: Svg, cls: string, x: number, y: number, header: string, unit: number, grid: TileGrid, idPrefix: string): G {
  const g = svg.append('g').attr('class', `panel ${cls}`).attr('transform', `translate(${x},${y})`);
  g.append('text').attr('class', 'panel-header').attr('y', -30).attr('font-weight', 600).text(header);
  const clipId = `${idPrefix}-clip-${cls.replace(/\s+/g, '-')}`;
  svg.select('defs').append('clipPath').attr('id', clipId).append('rect').attr('width', grid.width * unit + 1).attr('height', grid.height * unit + 1);
  const vp = g.append('g').attr('class', 'viewport').attr('clip-path', `url(#${clipId})`);
  return vp.append('g').attr('class', 'zoom');
}

/**
 * The storage-order picture of a scale tensor into `storageG` (a panel made by addPanel; `panel` is its outer group,
 * for the address column): one rectangle per slot (or byte of a packed word) with padding, zero K-block bytes and
 * the unallocated tail as patterns, word outlines and labels where they fit; above maxRects cells, bins.
 */
export function drawStorage(panel: G, storageG: G, P: ScalePanels, unitS: number, o: StorageDrawOptions): void {
  const storageCount = storageCellCount(P);
  if (storageCount <= o.maxRects) {
    const idx = d3.range(storageCount);
    const cells = idx.map((i) => storageCell(P, i));
    storageG.selectAll<SVGRectElement, PanelCell>('rect.cell').data(cells).join('rect')
      .attr('class', (d) => `cell storage-cell kind-${d.kind}`)
      .attr('data-slot', (d) => d.slot!).attr('data-byte', (d) => (d.byte === undefined ? null : d.byte))
      .attr('data-kind', (d) => d.kind)
      .attr('x', (d) => storageRect(P, d.slot!, d.byte)[0] * unitS).attr('y', (d) => storageRect(P, d.slot!, d.byte)[1] * unitS)
      .attr('width', unitS).attr('height', unitS)
      .attr('fill', (d) => (d.kind === 'data' && d.logical ? o.css[o.colourOf(d.logical)]! : kindFill(d.kind, o.ids)))
      .attr('stroke', (d) => (d.kind === 'unalloc' ? o.theme.muted : unitS >= 4 ? o.theme.background : 'none'))
      .attr('stroke-dasharray', (d) => (d.kind === 'unalloc' ? '2,2' : null))
      .attr('stroke-width', unitS >= 4 ? 1 : 0);
    if (P.layout.packed && unitS >= 4) {
      // word outlines make the 4-byte grouping visible even where byte labels do not fit
      const words = d3.range(P.layout.drawn);
      storageG.selectAll('rect.word').data(words).join('rect').attr('class', 'word')
        .attr('x', (s) => storageRect(P, s)[0] * unitS).attr('y', (s) => storageRect(P, s)[1] * unitS)
        .attr('width', P.slotW * unitS).attr('height', unitS).attr('fill', 'none').attr('stroke', o.theme.foreground).attr('stroke-width', 1.2).attr('pointer-events', 'none');
    }
    const fontS = Math.min(10, (unitS - 2) / (0.62 * Math.max(2, P.layout.packed ? 2 : String(P.layout.drawn).length)));
    if (fontS >= 6.5) {
      storageG.selectAll('text.cell-label').data(cells).join('text').attr('class', 'cell-label')
        .attr('x', (d) => (storageRect(P, d.slot!, d.byte)[0] + 0.5) * unitS).attr('y', (d) => (storageRect(P, d.slot!, d.byte)[1] + 0.5) * unitS + 3)
        .attr('text-anchor', 'middle').attr('font-size', fontS).attr('pointer-events', 'none')
        .attr('fill', (d) => (d.kind === 'data' ? o.theme.background : o.theme.foreground))
        .text((d) => (P.layout.packed ? `b${d.byte}` : String(d.slot)));
    }
    if (P.storage.tiles === 1 && unitS >= 9) {
      const lines = d3.range(P.storage.height);
      panel.selectAll('text.addr').data(lines).join('text').attr('class', 'addr')
        .attr('x', -6).attr('y', (l) => (l + 0.5) * unitS + 4).attr('text-anchor', 'end').attr('font-family', o.theme.monoFamily)
        .attr('font-size', Math.min(10, unitS * 0.8)).attr('fill', o.theme.muted)
        .text((l) => '0x' + (l * P.pitch * P.layout.itemBytes).toString(16).toUpperCase().padStart(4, '0'));
    }
  } else {
    aggregateInto(storageG, P.storage, unitS, o.maxRects, (u, v) => storageAt(P, u, v), o.css, o.colourOf, o.ids);
  }
}

/** A horizontal gradient of the colour ramp for the legend swatch. */
export function addRamp(svg: Svg, id: string, colours: Pick<ScaleColours, 'css'>): string {
  const grad = svg.select('defs').append('linearGradient').attr('id', id);
  for (let i = 0; i <= 8; i++) grad.append('stop').attr('offset', `${i * 12.5}%`).attr('stop-color', colours.css[Math.round((i * 255) / 8)]!);
  return id;
}

/** Bins of b × b units: mean colour of the data cells sampled in the bin, pattern when mostly padding. */
function aggregateInto(
  g: G, grid: TileGrid, unit: number, maxRects: number, at: (u: number, v: number) => PanelCell | null,
  css: readonly string[], colourOf: (ref: LogicalRef) => number, ids: PatternIds,
): void {
  const b = Math.max(1, Math.ceil(Math.sqrt((grid.width * grid.height) / maxRects)));
  const samples = Math.min(b, 4);
  g.attr('data-aggregated', b);
  for (let v0 = 0; v0 < grid.height; v0 += b) {
    for (let u0 = 0; u0 < grid.width; u0 += b) {
      let data = 0;
      let pad = 0;
      let sum = 0;
      let off = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const c = at(u0 + ((sx + 0.5) * b) / samples, v0 + ((sy + 0.5) * b) / samples);
          if (!c) continue;
          if (c.kind === 'data' && c.logical) {
            const k = colourOf(c.logical);
            // zero and invalid scales are not on the ramp: they win a bin they are most of, never blend into it
            if (k > 255) off++;
            else {
              data++;
              sum += k;
            }
          } else pad++;
        }
      }
      if (data + pad + off === 0) continue;
      const fill = off > data && off >= pad ? css[ZERO_SCALE]! : data >= pad && data > 0 ? css[Math.round(sum / data)]! : `url(#${ids.pad})`;
      g.append('rect').attr('class', 'bin').attr('x', u0 * unit).attr('y', v0 * unit)
        .attr('width', Math.min(b, grid.width - u0) * unit).attr('height', Math.min(b, grid.height - v0) * unit).attr('fill', fill);
    }
  }
}

/** The live SVG picture (small tensors): the exported picture plus hover cross-highlight and zoom. */
export function svgPicture(host: HTMLElement, P: ScalePanels, options: LivePictureOptions, tip: HTMLElement): ScaleInner {
  const doc = host.ownerDocument;
  const width = options.width ?? 960;
  const parts = scalesSvg(doc, P, options.theme, {
    width,
    maxPanelHeight: Math.max(200, (options.height ?? 640) - 150),
    idPrefix: options.idPrefix ?? 'scales',
    title: options.title ?? P.layout.tensor.name,
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
    for (const s of info ? info.storage : []) {
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
    hover(storageCell(P, P.layout.packed ? slot * P.slotW + +(b ?? 0) : slot), 'storage');
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


