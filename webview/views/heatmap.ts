/**
 * Tensor heatmap: any stage tensor as a 2-D picture of values or of |error| against the float64 reference, drawn on
 * canvas and zoomable. Small tensors come inline with the trace; large ones are asked for as tiles of the visible
 * window through `requestTile`, only once the window holds at most `maxVisibleCells` — never the whole tensor.
 */
import * as d3 from 'd3';
import type { TensorRef } from '../../kernels/trace';
import type { Tile } from '../../kernels/protocol';
import type { ExportInput, StandaloneOptions, ViewContext, ViewHandle, RequestTile } from './context';
import { heatmapTensorsOf } from '../model/traceData';
import { rowSegmentsOf } from '../model/partial';
import { MoeError } from '../../kernels/errors';
import type { Theme } from '../theme';
import { as2d } from '../model/traceData';
import type { RowSegments } from '../model/partial';
import { rowMap, PADDING_BAND_ROWS, type RowBand, type RowMap } from '../model/rowBands';
import { createSvg, addPatterns, legendRow, type Svg } from './svgkit';
import { notTouch } from './scaleHover';
import { bindZoomKeys, ZOOM_KEYS_HINT } from './zoomKeys';

export type HeatmapMode = 'value' | 'error';
export type { RequestTile } from './context';

export interface HeatmapViewData {
  tensor: TensorRef;
  mode: HeatmapMode;
  /** tiles already known (export, restore) */
  tiles?: Tile[];
  /** padding rows of a permuted tensor (m_indices = −1): hatched, and the view starts on the first data rows */
  rowSegments?: RowSegments;
}

export interface HeatmapViewOptions {
  theme: Theme;
  width?: number;
  height?: number;
  requestTile?: RequestTile;
  /** tile edge in cells */
  tileSize?: number;
  /** tiles are requested only when the visible window holds at most this many cells */
  maxVisibleCells?: number;
  onFrame?: (ms: number) => void;
  /** draw each run of padding rows as a thin band (default: when padding is more than half the rows) */
  compressPadding?: boolean;
}

export interface HeatmapHandle {
  /** values known at (row, col), undefined when that tile is not loaded */
  valueAt(row: number, col: number): number | undefined;
  readonly tilesLoaded: number;
  readonly requests: number;
  /** resolves when every request made so far has settled */
  idle(): Promise<void>;
  /** the visible window in tensor rows/cols (half-open) */
  window(): { rows: [number, number]; cols: [number, number] };
  /** whether row r is a padding row (m_indices = −1) */
  isPaddingRow(r: number): boolean;
  /** tensor rows ↔ display rows (padding runs compressed or not) */
  readonly rows: RowMap;
  setCompressPadding(on: boolean): void;
  destroy(): void;
}

interface CachedTile {
  tile: Tile;
  canvas?: HTMLCanvasElement;
}

/** Colour scale: diverging around 0 for values, sequential for |error|. */
export function heatmapColour(mode: HeatmapMode, extent: number, theme: Theme): (v: number) => string {
  const m = extent > 0 && Number.isFinite(extent) ? extent : 1;
  if (mode === 'value') {
    const neg = d3.interpolateLab(theme.background, theme.charts.blue);
    const pos = d3.interpolateLab(theme.background, theme.charts.red);
    return (v) => (Number.isNaN(v) ? theme.charts.yellow : v < 0 ? neg(Math.min(1, Math.sqrt(-v / m))) : pos(Math.min(1, Math.sqrt(v / m))));
  }
  const seq = d3.interpolateLab(theme.background, theme.charts.orange);
  return (v) => (Number.isNaN(v) ? theme.charts.yellow : seq(Math.min(1, Math.sqrt(Math.abs(v) / m))));
}

export function validateTile(t: Tile, shape2d: [number, number]): void {
  const [R, C] = shape2d;
  const [r0, r1] = t.rows;
  const [c0, c1] = t.cols;
  const ok = r0 >= 0 && c0 >= 0 && r1 <= R && c1 <= C && r0 < r1 && c0 < c1;
  if (!ok) throw new Error(`tile of ${t.tensor}: rows [${r0}, ${r1}) cols [${c0}, ${c1}) outside the tensor's ${R} × ${C}`);
  if (t.values.length !== (r1 - r0) * (c1 - c0))
    throw new Error(`tile of ${t.tensor}: expected ${(r1 - r0) * (c1 - c0)} values for rows [${r0}, ${r1}) × cols [${c0}, ${c1}), got ${t.values.length}`);
}

function inlineTile(ref: TensorRef): Tile {
  const shape2d = as2d(ref.shape);
  return { tensor: ref.name, mode: 'value', rows: [0, shape2d[0]], cols: [0, shape2d[1]], values: Float32Array.from(ref.inline!), shape2d };
}

export function render(container: HTMLElement, data: HeatmapViewData, options: HeatmapViewOptions): HeatmapHandle {
  const theme = options.theme;
  const root = d3.select(container);
  root.selectAll('*').remove();
  root.classed('moe-view heatmap-view', true);
  const ref = data.tensor;
  const [R, C] = as2d(ref.shape);
  const T = options.tileSize ?? 64;
  const maxCells = options.maxVisibleCells ?? 256 * 256;
  const width = options.width ?? 960;
  const height = Math.max(200, (options.height ?? 600) - 80);
  const header = root.append('div').attr('class', 'heatmap-header');
  header.append('span').attr('class', 'chip-name').text(ref.name);
  header.append('span').attr('class', 'muted').text(` ${ref.dtype} [${ref.shape.join(', ')}] viewed as ${R} × ${C} · ${data.mode === 'value' ? 'values' : '|error| vs float64 reference'} · min ${fmt(ref.summary.min)} max ${fmt(ref.summary.max)}${sampleNote(ref)}${ref.summary.nanCount ? ` · ${ref.summary.nanCount} NaN` : ''}`);
  const canvas = root.append('canvas').attr('class', 'heatmap-canvas').attr('tabindex', 0).attr('role', 'img')
    .attr('aria-label', `heatmap of ${ref.name}; scroll to zoom, drag to pan; ${ZOOM_KEYS_HINT}`).style('width', `${width}px`).style('height', `${height}px`).node()!;
  const dpr = (container.ownerDocument.defaultView?.devicePixelRatio ?? 1) || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  let ctx: CanvasRenderingContext2D | null = null;
  try {
    ctx = canvas.getContext('2d');
  } catch {
    ctx = null;
  }
  const status = root.append('div').attr('class', 'status muted').attr('role', 'status').attr('aria-live', 'polite');
  const tip = root.append('div').attr('class', 'tooltip at-cursor').attr('role', 'status');
  const padRuns = data.rowSegments?.paddingRuns ?? [];
  const padRows = padRuns.reduce((a, [s, e]) => a + e - s, 0);
  const isPaddingRow = (r: number): boolean => {
    // runs are sorted: binary search
    let lo = 0, hi = padRuns.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [s, e] = padRuns[mid]!;
      if (r < s) hi = mid - 1;
      else if (r >= e) lo = mid + 1;
      else return true;
    }
    return false;
  };
  let map = rowMap(R, padRuns, padRuns.length > 0 && (options.compressPadding ?? padRows > R / 2));
  let setCompress: (on: boolean) => void = () => undefined;
  if (padRuns.length) {
    // padding is never colour alone (README): a hatched band on the canvas, named in the legend
    const legend = root.insert('div', 'canvas').attr('class', 'heatmap-legend').attr('data-padding-rows', padRows);
    const item = legend.append('span').attr('class', 'legend-padding');
    item.append('span').attr('class', 'swatch').attr('aria-hidden', 'true');
    item.append('span').text(`padding rows, output unspecified (${padRows.toLocaleString('en-US')} of ${R.toLocaleString('en-US')} rows, m_indices = −1)`);
    const lab = legend.append('label').attr('class', 'compress-padding');
    const box = lab.append('input').attr('type', 'checkbox').property('checked', map.compressed)
      .on('change', () => setCompress(box.property('checked') as boolean));
    lab.append('span').text(` compress padding runs to ${PADDING_BAND_ROWS}-row bands`);
  }

  const cache = new Map<string, CachedTile>();
  const pending = new Map<string, Promise<void>>();
  let requests = 0;
  let extent = data.mode === 'value' ? ref.summary.absMax : 0;
  const addTile = (t: Tile): void => {
    validateTile(t, [R, C]);
    cache.set(`${t.rows[0]},${t.cols[0]}`, { tile: t });
    if (data.mode === 'error' || !(extent > 0)) for (const v of t.values) if (Number.isFinite(v)) extent = Math.max(extent, Math.abs(v));
  };
  if (data.mode === 'value' && ref.inline) addTile(inlineTile(ref));
  for (const t of data.tiles ?? []) addTile(t);

  // start fitted when small, else on the top-left window of at most maxCells cells; display rows (D) differ from
  // tensor rows when padding runs are compressed
  const startTransform = (): d3.ZoomTransform => {
    const D = map.displayRows;
    const fitK = Math.min(width / C, height / D);
    const side = Math.sqrt(maxCells);
    const k0 = D * C <= maxCells ? fitK : Math.max(fitK, width / Math.min(C, side), height / Math.min(D, side));
    // a mostly-padding tensor starts on its first routed rows, not on a band of padding
    const first = map.bands.find((b) => !b.padding);
    return d3.zoomIdentity.translate(0, -(first ? first.d0 : 0) * k0).scale(k0);
  };
  let transform = startTransform();
  let hatch: CanvasPattern | null = null;
  const hatchPattern = (c: CanvasRenderingContext2D): CanvasPattern | null => {
    if (hatch) return hatch;
    const p = container.ownerDocument.createElement('canvas');
    p.width = 8;
    p.height = 8;
    const pc = p.getContext('2d');
    if (!pc) return null;
    pc.strokeStyle = theme.hatch;
    pc.lineWidth = 1.5;
    pc.beginPath();
    pc.moveTo(0, 8);
    pc.lineTo(8, 0);
    pc.moveTo(-2, 2);
    pc.lineTo(2, -2);
    pc.moveTo(6, 10);
    pc.lineTo(10, 6);
    pc.stroke();
    return (hatch = c.createPattern(p, 'repeat'));
  };

  let colour = heatmapColour(data.mode, extent, theme);
  const tileCanvas = (c: CachedTile): HTMLCanvasElement | undefined => {
    if (c.canvas || !ctx) return c.canvas;
    const t = c.tile;
    const w = t.cols[1] - t.cols[0];
    const h = t.rows[1] - t.rows[0];
    const cv = container.ownerDocument.createElement('canvas');
    cv.width = w;
    cv.height = h;
    const tctx = cv.getContext('2d')!;
    const img = tctx.createImageData(w, h);
    for (let i = 0; i < w * h; i++) {
      const col = d3.rgb(colour(t.values[i]!));
      img.data[4 * i] = col.r;
      img.data[4 * i + 1] = col.g;
      img.data[4 * i + 2] = col.b;
      img.data[4 * i + 3] = 255;
    }
    tctx.putImageData(img, 0, 0);
    c.canvas = cv;
    return cv;
  };

  const draw = (): void => {
    if (!ctx) return;
    const t0 = performance.now();
    ctx.save();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = theme.background;
    ctx.fillRect(0, 0, width, height);
    ctx.imageSmoothingEnabled = false;
    ctx.translate(transform.x, transform.y);
    ctx.scale(transform.k, transform.k);
    const D = map.displayRows;
    ctx.fillStyle = theme.border;
    ctx.globalAlpha = 0.25;
    ctx.fillRect(0, 0, C, D);
    ctx.globalAlpha = 1;
    for (const c of cache.values()) {
      const cv = tileCanvas(c);
      if (!cv) continue;
      const t = c.tile;
      // each tile through the row map: rows of uncompressed bands 1:1, compressed padding rows not at all
      for (const b of map.bands) {
        if (b.d1 - b.d0 !== b.r1 - b.r0) continue;
        const a = Math.max(t.rows[0], b.r0);
        const e = Math.min(t.rows[1], b.r1);
        if (e <= a) continue;
        const w = t.cols[1] - t.cols[0];
        ctx.drawImage(cv, 0, a - t.rows[0], w, e - a, t.cols[0], b.d0 + (a - b.r0), w, e - a);
      }
    }
    ctx.lineWidth = 1 / transform.k;
    ctx.strokeStyle = theme.foreground;
    ctx.strokeRect(0, 0, C, D);
    ctx.restore();
    if (padRuns.length) {
      // hatch in screen space so the stripes keep their width at any zoom; only runs on screen are drawn
      const pat = hatchPattern(ctx);
      ctx.save();
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      const x0 = Math.max(0, transform.applyX(0));
      const x1 = Math.min(width, transform.applyX(C));
      for (const b of map.bands) {
        if (!b.padding) continue;
        const y0 = Math.max(0, transform.applyY(b.d0));
        const y1 = Math.min(height, transform.applyY(b.d1));
        if (y1 <= y0 || x1 <= x0) continue;
        ctx.fillStyle = theme.background;
        ctx.globalAlpha = 0.55;
        ctx.fillRect(x0, y0, x1 - x0, Math.max(1, y1 - y0));
        ctx.globalAlpha = 1;
        if (pat) {
          ctx.fillStyle = pat;
          ctx.fillRect(x0, y0, x1 - x0, Math.max(1, y1 - y0));
        }
      }
      ctx.restore();
    }
    options.onFrame?.(performance.now() - t0);
  };

  /** the visible window: display rows [d0, d1), tensor rows [r0, r1) and columns */
  const visible = (): { d0: number; d1: number; r0: number; r1: number; c0: number; c1: number } => {
    const d0 = Math.max(0, Math.floor(transform.invertY(0)));
    const d1 = Math.min(map.displayRows, Math.ceil(transform.invertY(height)));
    return {
      d0,
      d1,
      r0: d1 > d0 ? map.at(d0)!.row : 0,
      r1: d1 > d0 ? map.at(d1 - 1)!.row + 1 : 0,
      c0: Math.max(0, Math.floor(transform.invertX(0))),
      c1: Math.min(C, Math.ceil(transform.invertX(width))),
    };
  };
  /** tensor row ranges drawn in the visible window (compressed padding rows show no values) */
  const visibleRowRanges = (v: ReturnType<typeof visible>): [number, number, RowBand][] => {
    const out: [number, number, RowBand][] = [];
    for (const b of map.bands) {
      if (b.d1 <= v.d0 || b.d0 >= v.d1 || b.d1 - b.d0 !== b.r1 - b.r0) continue;
      out.push([b.r0 + Math.max(0, v.d0 - b.d0), b.r0 + Math.min(b.d1, v.d1) - b.d0, b]);
    }
    return out;
  };

  const load = (): void => {
    const v = visible();
    const cells = Math.max(0, v.d1 - v.d0) * Math.max(0, v.c1 - v.c0);
    const covered = data.mode === 'value' && ref.inline;
    if (covered) {
      status.text(`${R * C} values inline`);
      return;
    }
    if (!options.requestTile) {
      status.text(`${cache.size} tile(s) loaded; no tile source`);
      return;
    }
    if (cells > maxCells) {
      status.text(`${cache.size} tile(s) loaded — zoom in to load values (window ${v.d1 - v.d0} × ${v.c1 - v.c0} cells, tiles load below ${maxCells.toLocaleString('en-US')})`);
      return;
    }
    // tiles on the T-row grid, clipped to the visible bands (a band of 2 routed rows asks for 2 rows, not 64)
    const rowTiles = new Map<number, number>();
    for (const [a, b, band] of visibleRowRanges(v))
      for (let r = Math.floor(a / T) * T; r < b; r += T) rowTiles.set(Math.max(r, band.r0), Math.min(r + T, band.r1, R));
    for (const [r, rEnd] of [...rowTiles].sort((x, y) => x[0] - y[0])) {
      for (let c = Math.floor(v.c0 / T) * T; c < v.c1; c += T) {
        const key = `${r},${c}`;
        if (cache.has(key) || pending.has(key)) continue;
        requests++;
        const p = options.requestTile(ref.name, [r, rEnd], [c, Math.min(C, c + T)], data.mode)
          .then((tile) => {
            const before = extent;
            addTile(tile);
            // the colour scale changes only when a tile widens the extent: then (and only then) every tile is re-coloured
            if (extent !== before) {
              colour = heatmapColour(data.mode, extent, theme);
              for (const ct of cache.values()) ct.canvas = undefined;
            }
            scheduleDraw();
            status.text(`${cache.size} tile(s) loaded`);
          })
          .catch((e: unknown) => {
            status.text(`tile rows ${r}… cols ${c}… failed: ${e instanceof Error ? e.message : String(e)}`);
          })
          .finally(() => pending.delete(key));
        pending.set(key, p);
      }
    }
  };

  // tiles arrive in bursts (a window is dozens of them): one redraw per animation frame, not one per tile
  const win = container.ownerDocument.defaultView;
  let frame = 0;
  const scheduleDraw = (): void => {
    if (!win?.requestAnimationFrame) return draw();
    if (!frame)
      frame = win.requestAnimationFrame(() => {
        frame = 0;
        draw();
      });
  };

  const zoom = d3.zoom<HTMLCanvasElement, unknown>().touchable(notTouch).extent([[0, 0], [width, height]])
    // at least 4× past the fitted scale: a tensor of a few cells is fitted above 64 px per cell already
    .scaleExtent([Math.min(width / C, height / R) * 0.5, Math.max(64, Math.min(width / C, height / R) * 4)])
    .on('zoom', (e: d3.D3ZoomEvent<HTMLCanvasElement, unknown>) => {
      transform = e.transform;
      draw();
    })
    .on('end', () => load());
  d3.select(canvas).call(zoom).call(zoom.transform, transform);
  bindZoomKeys(canvas, zoom, () => startTransform());
  d3.select(canvas).on('mousemove', (e: MouseEvent) => {
    const [mx, my] = d3.pointer(e, canvas);
    const hit = map.at(Math.floor(transform.invertY(my)));
    const r = hit ? hit.row : -1;
    const c = Math.floor(transform.invertX(mx));
    const v = valueAt(r, c);
    tip.classed('visible', !!hit && c >= 0 && c < C);
    if (hit && hit.band.padding && hit.band.d1 - hit.band.d0 !== hit.band.r1 - hit.band.r0)
      tip.text(`${ref.name} rows ${hit.band.r0}–${hit.band.r1 - 1}: ${hit.band.r1 - hit.band.r0} padding rows (m_indices = −1), output unspecified`);
    else tip.text(`${ref.name}[${r}, ${c}] = ${v === undefined ? 'not loaded' : fmt(v)}${isPaddingRow(r) ? ' · padding row (output unspecified)' : ''}`);
    // beside the cursor (flipped left near the right edge), not in a corner far from what is pointed at
    const tipW = (tip.node() as HTMLElement).offsetWidth || 260;
    const left = canvas.offsetLeft + mx + 14;
    tip.style('left', `${left + tipW > canvas.offsetLeft + width ? Math.max(0, canvas.offsetLeft + mx - tipW - 10) : left}px`)
      .style('top', `${canvas.offsetTop + my + 16}px`);
  });
  d3.select(canvas).on('mouseleave', () => tip.classed('visible', false));
  const valueAt = (r: number, c: number): number | undefined => {
    if (r < 0 || c < 0 || r >= R || c >= C) return undefined;
    for (const ct of cache.values()) {
      const t = ct.tile;
      if (r >= t.rows[0] && r < t.rows[1] && c >= t.cols[0] && c < t.cols[1]) return t.values[(r - t.rows[0]) * (t.cols[1] - t.cols[0]) + (c - t.cols[0])];
    }
    return undefined;
  };
  const zoomSel = d3.select(canvas);
  setCompress = (on: boolean): void => {
    if (on === map.compressed || !padRuns.length) return;
    map = rowMap(R, padRuns, on);
    zoomSel.call(zoom.transform, startTransform());
    load();
  };
  load();
  draw();
  return {
    get rows() {
      return map;
    },
    setCompressPadding: (on: boolean) => setCompress(on),
    valueAt,
    get tilesLoaded() {
      return cache.size;
    },
    get requests() {
      return requests;
    },
    idle: async () => {
      while (pending.size) await Promise.all([...pending.values()]);
    },
    window: () => {
      const v = visible();
      return { rows: [v.r0, v.r1], cols: [v.c0, v.c1] };
    },
    isPaddingRow,
    destroy: () => {
      if (frame) win?.cancelAnimationFrame(frame);
      root.selectAll('*').remove();
    },
  };
}

const count = (n: number): string => (n >= 1e6 ? `${+(n / 1e6).toPrecision(3)}M` : n >= 1e3 ? `${+(n / 1e3).toPrecision(3)}k` : String(n));

/** says when min/max (and the colour scale's extent) come from a sample of the tensor, not every value */
function sampleNote(ref: TensorRef): string {
  const s = ref.summary.sampled;
  if (!s) return '';
  const total = ref.shape.reduce((a, b) => a * b, 1);
  if (s.how === 'even') return ` (of ${count(s.values)} of ${count(total)} values, evenly sampled)`;
  return ` (of the first ${count(Math.round(s.values / Math.max(1, ref.shape[0] ?? 1)))} values of each expert only)`;
}

const fmt = (v: number): string => (Number.isFinite(v) ? (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : String(+v.toPrecision(5))) : String(v));

/** Vector version for export: known values binned to at most `bins` × `bins` rectangles; unknown bins hatched. */
export function heatmapSvg(doc: Document, data: HeatmapViewData, theme: Theme, o: { width: number; idPrefix: string; bins?: number }): Svg {
  const ref = data.tensor;
  const [R, C] = as2d(ref.shape);
  const tiles = [...(data.tiles ?? [])];
  if (data.mode === 'value' && ref.inline) tiles.push(inlineTile(ref));
  for (const t of tiles) validateTile(t, [R, C]);
  const maxBins = o.bins ?? 96;
  const bx = Math.max(1, Math.ceil(C / maxBins));
  const by = Math.max(1, Math.ceil(R / maxBins));
  const nx = Math.ceil(C / bx);
  const ny = Math.ceil(R / by);
  const sum = new Float64Array(nx * ny);
  const cnt = new Uint32Array(nx * ny);
  let extent = data.mode === 'value' ? ref.summary.absMax : 0;
  for (const t of tiles) {
    const w = t.cols[1] - t.cols[0];
    for (let i = 0; i < t.values.length; i++) {
      const v = t.values[i]!;
      const r = t.rows[0] + Math.floor(i / w);
      const c = t.cols[0] + (i % w);
      const b = Math.floor(r / by) * nx + Math.floor(c / bx);
      if (Number.isFinite(v)) {
        sum[b] += v;
        cnt[b]!++;
        if (data.mode === 'error' || !(extent > 0)) extent = Math.max(extent, Math.abs(v));
      }
    }
  }
  const colour = heatmapColour(data.mode, extent, theme);
  const plotW = o.width - 28;
  const cellPx = Math.min(24, plotW / nx);
  const top = 56;
  const H = top + ny * cellPx + 50;
  const title = `${ref.name} ${data.mode === 'value' ? 'values' : '|error| vs float64'} (${R} × ${C}${bx * by > 1 ? `, bins of ${by} × ${bx}` : ''})`;
  const svg = createSvg(doc, o.width, H, theme, title);
  const ids = addPatterns(svg, theme, o.idPrefix);
  svg.append('text').attr('class', 'title').attr('x', 14).attr('y', 22).attr('font-size', 14).attr('font-weight', 600).text(title);
  const g = svg.append('g').attr('transform', `translate(14,${top})`);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const b = j * nx + i;
      g.append('rect').attr('class', cnt[b] ? 'bin' : 'bin unknown').attr('x', i * cellPx).attr('y', j * cellPx).attr('width', cellPx).attr('height', cellPx)
        .attr('fill', cnt[b] ? colour(sum[b]! / cnt[b]!) : `url(#${ids.pad})`);
    }
  }
  legendRow(svg.append('g').attr('transform', `translate(14,${H - 28})`), [
    { label: data.mode === 'value' ? `−${fmt(extent)}` : '0', fill: colour(data.mode === 'value' ? -extent : 0) },
    { label: data.mode === 'value' ? `+${fmt(extent)}` : fmt(extent), fill: colour(extent) },
    { label: 'not loaded', fill: `url(#${ids.pad})` },
  ], theme);
  return svg;
}

/** A tensor picker (and, for a tensor not computed yet, what it waits for) above the heatmap. */
function tensorPicker(el: HTMLElement, ctx: ViewContext, list: TensorRef[], label: string, value: string): d3.Selection<HTMLDivElement, unknown, null, undefined> {
  const bar = d3.select(el).append('div').attr('class', 'toolbar');
  const lab = bar.append('label').attr('class', 'field');
  lab.append('span').text(label);
  const sel = lab.append('select').attr('aria-label', 'Tensor to show');
  sel.selectAll('option').data(list).join('option').attr('value', (t) => t.name).text((t) => `${t.name} ${t.dtype}[${t.shape.join('×')}]`);
  sel.property('value', value).on('change', () => {
    ctx.save({ heatmapTensor: sel.property('value') as string });
    ctx.redraw();
  });
  return bar;
}

/** The live view: the tensor chosen (or the first), its values or |error| from tiles the host serves. */
export function mount(el: HTMLElement, ctx: ViewContext): ViewHandle {
  const trace = ctx.trace;
  const list = heatmapTensorsOf(trace);
  const chosen = ctx.state.heatmapTensor;
  const producer = chosen && !trace.tensors[chosen] ? trace.pending?.find((p) => p.outputs.includes(chosen)) : undefined;
  const destroy = (): void => void d3.select(el).selectAll('*').remove();
  if (producer) {
    // a tensor of a stage that has not run: say so, and keep the picker so another tensor can be chosen
    const p = d3.select(el).append('div').attr('class', 'view-pending').attr('role', 'status').attr('data-waiting-for', producer.id);
    p.append('span').attr('class', 'spinner running').attr('aria-hidden', 'true');
    p.append('span').text(`${chosen}: not computed yet — stage “${producer.title}” has not run.`);
    tensorPicker(el, ctx, list, 'Show instead', '');
    return { destroy };
  }
  const name = chosen && trace.tensors[chosen] ? chosen : list[0]?.name;
  if (!name) throw new Error('This trace has no tensor to show.');
  const bar = tensorPicker(el, ctx, list, 'Tensor', name);
  const seg = bar.append('div').attr('class', 'segmented').attr('role', 'radiogroup').attr('aria-label', 'Heatmap mode');
  seg.selectAll('button').data<HeatmapMode>(['value', 'error']).join('button').attr('type', 'button').attr('role', 'radio')
    .attr('aria-checked', (m) => String(m === ctx.ui.heatmapMode)).classed('active', (m) => m === ctx.ui.heatmapMode)
    .text((m) => (m === 'value' ? 'Values' : '|error| vs float64'))
    .on('click', (_e, m) => {
      ctx.ui.heatmapMode = m;
      ctx.redraw();
    });
  const holder = d3.select(el).append('div').node()!;
  const ref = trace.tensors[name]!;
  const segments = rowSegmentsOf(trace, ref);
  const h = render(holder, { tensor: ref, mode: ctx.ui.heatmapMode, ...(segments ? { rowSegments: segments } : {}) }, {
    theme: ctx.theme, width: ctx.width, height: ctx.height - 40, requestTile: ctx.requestTile, onFrame: ctx.onFrame,
  });
  return { destroy: () => { h.destroy(); destroy(); } };
}

export function standalone(doc: Document, input: ExportInput, o: StandaloneOptions): SVGSVGElement {
  const name = input.tensor ?? heatmapTensorsOf(input.trace)[0]?.name ?? '';
  const ref = input.trace.tensors[name];
  if (!ref) throw new MoeError('E_SPEC', `heatmap export: tensor ${name} is not in the trace (has ${Object.keys(input.trace.tensors).join(', ')})`, name);
  return heatmapSvg(doc, { tensor: ref, mode: input.heatmapMode ?? 'value', tiles: input.tiles }, o.theme, { width: o.width, idPrefix: 'x-heat' }).node()!;
}
