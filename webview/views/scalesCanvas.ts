/**
 * The scale view's canvas picture, for tensors above the SVG budget: each panel is rasterised per screen pixel by
 * the layout's index math (column/row lookups computed once per frame, a 256-entry colour table keyed by the log2
 * of the scale), so the cost of a frame depends on the canvas size, not on the tensor. Pan and zoom by d3-zoom,
 * hover through the same index math as the SVG picture; with a canvas focused, the keyboard pans and zooms too
 * (zoomKeys.ts).
 */
import * as d3 from 'd3';
import type { Theme } from '../theme';
import { logicalIndex, slotInfo, type SlotInfo } from '../model/scaleLayout';
import { addPatterns, legendRow, type Svg, type G, type LegendItem } from './svgkit';
import { logicalAt, storageAt, scaleColours, ZERO_SCALE, type ScalePanels, type ScaleColours, type PanelCell, type HoverInfo } from './scalePanels';
import type { TileGrid } from './grid';
import { addRamp, logicalAxes, type LivePictureOptions } from './scalesSvg';
import { cellLabel, highlightRects, hoverInfo, notTouch, showTooltip, toRgbaSafe, type ScaleInner } from './scaleHover';
import { bindZoomKeys, ZOOM_KEYS_HINT } from './zoomKeys';

interface CanvasPanel {
  name: 'logical' | 'storage';
  grid: TileGrid;
  canvas: HTMLCanvasElement;
  ctx: CanvasRenderingContext2D | null;
  transform: d3.ZoomTransform;
  cssW: number;
  cssH: number;
  /** highlight rectangles (units) */
  hl: number[][];
  /** the picture fitted to the canvas (what the 0 key returns to) */
  fitted: d3.ZoomTransform;
}

/** Canvas colours as 0xAABBGGRR words. */
interface Palette {
  bg: number;
  border: number;
  hatch: number;
  ramp: Uint32Array;
}

export function canvasPicture(host: HTMLElement, P: ScalePanels, options: LivePictureOptions, tip: HTMLElement): ScaleInner {
  const theme = options.theme;
  const colours = scaleColours(P.layout.tensor, theme);
  const width = options.width ?? 960;
  const dpr = (host.ownerDocument.defaultView?.devicePixelRatio ?? 1) || 1;
  const wrap = d3.select(host).append('div').attr('class', 'canvas-panels');
  const panels = createPanels(wrap.node()!, P, width, Math.max(240, (options.height ?? 640) - 110), dpr);
  const legend = legendStrip(host, P, theme, colours, width, options.idPrefix ?? 'scales');
  const palette: Palette = { bg: toRgbaSafe(theme.background), border: toRgbaSafe(theme.border), hatch: toRgbaSafe(theme.hatch), ramp: colours.rgba };

  const draw = (p: CanvasPanel): void => {
    if (!p.ctx) return;
    const t0 = performance.now();
    rasterise(p, P, colours, palette, dpr);
    overlay(p, P, theme, dpr);
    options.onFrame?.(performance.now() - t0);
  };
  const frames = frameScheduler(host.ownerDocument.defaultView, draw);

  const hover = (cell: PanelCell | null, panel: 'logical' | 'storage'): HoverInfo | null => {
    const info = hoverInfo(P, cell, panel);
    const rects = highlightRects(P, info);
    panels[0]!.hl = rects.logical;
    panels[1]!.hl = rects.storage;
    frames.schedule(panels[0]!);
    frames.schedule(panels[1]!);
    showTooltip(tip, info);
    options.onHover?.(info);
    return info;
  };
  for (const p of panels) attachZoomAndHover(p, P, options, frames.schedule, hover);
  frames.flush();
  return {
    mode: 'canvas',
    panels: P,
    hover,
    destroy: () => {
      frames.cancel();
      wrap.remove();
      legend.remove();
    },
  };
}

/** The two canvases with their headers, each fitted to its grid. */
function createPanels(wrap: HTMLElement, P: ScalePanels, width: number, height: number, dpr: number): CanvasPanel[] {
  const cssW = Math.floor((width - 24) / 2);
  const t = P.layout.tensor;
  return (['logical', 'storage'] as const).map((name) => {
    const box = d3.select(wrap).append('div').attr('class', `panel ${name}`);
    box.append('div').attr('class', 'panel-header').text(
      name === 'logical'
        ? `Logical order — ${logicalAxes(t)} (${t.values.length.toLocaleString('en-US')} scales)`
        : `Storage order — ${P.pitch} slots per line${P.layout.packed ? ` × ${P.slotW} bytes` : ''} (${P.layout.drawn.toLocaleString('en-US')} slots)`,
    );
    const canvas = box.append('canvas').attr('class', 'cells').attr('tabindex', 0)
      .attr('role', 'img').attr('aria-label', `${name} order of ${t.name}; scroll to zoom, drag to pan; ${ZOOM_KEYS_HINT}`)
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
    return { name, grid, canvas, ctx, transform: t0, cssW, cssH: height, hl: [], fitted: t0 };
  });
}

/** Legend as a small SVG, so the patterns match the exported picture. */
function legendStrip(host: HTMLElement, P: ScalePanels, theme: Theme, colours: ScaleColours, width: number, prefix: string): d3.Selection<SVGSVGElement, unknown, null, undefined> {
  const svg = d3.select(host).append('svg').attr('class', 'legend-strip').attr('width', width).attr('height', 24);
  const ids = addPatterns(svg as unknown as Svg, theme, `${prefix}-lg`);
  const items: LegendItem[] = [{ label: `scale, log2 ${colours.lo.toFixed(0)} … ${colours.hi.toFixed(0)}`, fill: `url(#${addRamp(svg as unknown as Svg, `${prefix}-lg-ramp`, colours)})` }];
  if (colours.zeros) items.push({ label: 'scale 0 (row not quantized)', fill: colours.css[ZERO_SCALE]! });
  if (P.layout.allocated > P.layout.addressed || P.layout.paddedRows > P.layout.storageRows) items.push({ label: 'TMA padding', fill: `url(#${ids.pad})` });
  if (P.layout.packed) items.push({ label: 'zero K-block byte', fill: `url(#${ids.kpad})` }, { label: 'word = b0 b1 b2 b3, little-endian', fill: 'none', stroke: theme.foreground });
  const lw = legendRow(svg.append('g').attr('transform', 'translate(4,5)') as unknown as G, items, theme, width - 8);
  svg.attr('height', lw > width - 8 ? 46 : 26);
  return svg as unknown as d3.Selection<SVGSVGElement, unknown, null, undefined>;
}

/** For each device pixel column (row): the tile column (row) under it and the cell inside the tile, −1 off-grid. */
function pixelLookups(G: TileGrid, n: number, k: number, offset: number, along: 'x' | 'y'): { tile: Int32Array; cell: Int32Array } {
  const tile = new Int32Array(n);
  const cell = new Int32Array(n);
  const step = along === 'x' ? G.tileW + G.gap : G.tileH + G.gap;
  const inner = along === 'x' ? G.tileW : G.tileH;
  for (let i = 0; i < n; i++) {
    const u = (i + 0.5 - offset) / k;
    const tc = Math.floor(u / step);
    const xi = Math.floor(u - tc * step);
    const ok = u >= 0 && xi < inner && (along === 'y' || tc < G.tilesPerRow);
    tile[i] = ok ? tc : -1;
    cell[i] = ok ? xi : -1;
  }
  return { tile, cell };
}

/** The colour of cell (xi, yr) of logical tile group g. */
function logicalPixel(P: ScalePanels, c: ScaleColours, pal: Palette, g: number, yr: number, xi: number): number {
  const t = P.layout.tensor;
  return yr < t.rows ? pal.ramp[c.index[(g * t.rows + yr) * t.kBlocks + xi]!]! : pal.bg;
}

/** The colour of storage slot (or byte) at line yr, unit xi of storage tile g; patterns by pixel parity. */
function storagePixel(P: ScalePanels, c: ScaleColours, pal: Palette, g: number, yr: number, xi: number, x: number, y: number, scratch: SlotInfo): number {
  const L = P.layout;
  const q = yr * P.pitch + ((xi / P.slotW) | 0);
  const s = g * P.groupSlots + q;
  if (yr >= P.lines || q >= P.groupSlots || s >= L.drawn) return pal.bg;
  const info = slotInfo(L, s, scratch);
  if (info.kind === 'unalloc') return ((x + y) & 3) === 0 ? pal.border : pal.bg;
  if (info.kind === 'pad') return (x + y) % 6 < 2 ? pal.hatch : pal.bg;
  const t = L.tensor;
  const j = L.packed ? info.col * L.perWord + (xi % P.slotW) : info.col;
  if (j >= t.kBlocks) return x % 3 === 0 && y % 3 === 0 ? pal.hatch : pal.bg;
  return pal.ramp[c.index[logicalIndex(t, info.group, info.row, j)]!]!;
}

/** One frame of one panel into its ImageData. */
function rasterise(p: CanvasPanel, P: ScalePanels, c: ScaleColours, pal: Palette, dpr: number): void {
  const ctx = p.ctx!;
  const W = p.canvas.width;
  const H = p.canvas.height;
  const img = ctx.createImageData(W, H);
  const px = new Uint32Array(img.data.buffer);
  const k = p.transform.k * dpr;
  const cols = pixelLookups(p.grid, W, k, p.transform.x * dpr, 'x');
  const rows = pixelLookups(p.grid, H, k, p.transform.y * dpr, 'y');
  const lines = k >= 6;
  const isLogical = p.name === 'logical';
  const bands = isLogical ? P.lBands : P.sBands;
  const bandH = isLogical ? P.lBand : P.sBand;
  const scratch: SlotInfo = { kind: 'data', group: 0, row: 0, col: 0 };
  for (let y = 0; y < H; y++) {
    const tr = rows.tile[y]!;
    const yi = rows.cell[y]!;
    const base = y * W;
    if (tr < 0) {
      px.fill(pal.bg, base, base + W);
      continue;
    }
    const yEdge = lines && y > 0 && rows.cell[y - 1] !== yi;
    for (let x = 0; x < W; x++) {
      const tc = cols.tile[x]!;
      const xi = cols.cell[x]!;
      const tile = tc >= 0 ? tr * p.grid.tilesPerRow + tc : -1;
      let colour = pal.bg;
      if (tile >= 0 && tile < p.grid.tiles) {
        const g = (tile / bands) | 0;
        const yr = (tile - g * bands) * bandH + yi;
        if (lines && (yEdge || (x > 0 && cols.cell[x - 1] !== xi))) colour = pal.border;
        else colour = isLogical ? logicalPixel(P, c, pal, g, yr, xi) : storagePixel(P, c, pal, g, yr, xi, x, y, scratch);
      }
      px[base + x] = colour;
    }
  }
  ctx.putImageData(img, 0, 0);
}

/** Labels when zoomed in far enough, and the hover highlight. */
function overlay(p: CanvasPanel, P: ScalePanels, theme: Theme, dpr: number): void {
  const ctx = p.ctx!;
  ctx.save();
  ctx.scale(dpr, dpr);
  if (p.transform.k >= 26) drawLabels(p, P, theme, ctx);
  ctx.strokeStyle = theme.focus;
  ctx.lineWidth = 2;
  for (const r of p.hl) ctx.strokeRect(p.transform.applyX(r[0]!), p.transform.applyY(r[1]!), r[2]! * p.transform.k, r[3]! * p.transform.k);
  ctx.restore();
}

function drawLabels(p: CanvasPanel, P: ScalePanels, theme: Theme, ctx: CanvasRenderingContext2D): void {
  const tr = p.transform;
  const t = P.layout.tensor;
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
      else if (p.name === 'storage') text = P.layout.packed ? `b${c.byte}` : String(c.slot);
      ctx.fillStyle = c.kind === 'data' ? theme.background : theme.foreground;
      ctx.fillText(text, tr.applyX(u + 0.5), tr.applyY(v + 0.5));
    }
  }
}

/** Redraws requested panels once per animation frame (at once where there is no requestAnimationFrame). */
function frameScheduler(win: Window | null, draw: (p: CanvasPanel) => void): { schedule(p: CanvasPanel): void; flush(): void; cancel(): void } {
  const pending = new Set<CanvasPanel>();
  let raf = 0;
  const flush = (): void => {
    raf = 0;
    for (const p of pending) draw(p);
    pending.clear();
  };
  return {
    schedule(p) {
      pending.add(p);
      if (!win?.requestAnimationFrame) return flush();
      if (!raf) raf = win.requestAnimationFrame(flush);
    },
    flush,
    cancel() {
      if (raf) win?.cancelAnimationFrame(raf);
      raf = 0;
    },
  };
}

function attachZoomAndHover(
  p: CanvasPanel, P: ScalePanels, options: LivePictureOptions, schedule: (p: CanvasPanel) => void,
  hover: (cell: PanelCell | null, panel: 'logical' | 'storage') => HoverInfo | null,
): void {
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
  const z = options.zoom;
  sel.call(zoom).call(zoom.transform, p.name === 'logical' && z ? d3.zoomIdentity.translate(z.x, z.y).scale(z.k) : p.transform);
  bindZoomKeys(p.canvas, zoom, () => p.fitted);
  sel.on('mousemove', (e: MouseEvent) => {
    const [mx, my] = d3.pointer(e, p.canvas);
    const u = p.transform.invertX(mx);
    const v = p.transform.invertY(my);
    hover(p.name === 'logical' ? logicalAt(P, u, v) : storageAt(P, u, v), p.name);
  });
  sel.on('mouseleave', () => hover(null, p.name));
}
