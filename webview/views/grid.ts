/**
 * Geometry of a panel of cells: one tile per group (expert), tiles wrapped into a near-square grid, all in abstract
 * units (one logical cell = 1 × 1). Both directions are index math — cell → rectangle for drawing, point → cell for
 * hovering — so SVG, canvas and export share one definition and nothing scales with the number of cells.
 */
export interface TileGrid {
  tiles: number;
  tileW: number;
  tileH: number;
  gap: number;
  tilesPerRow: number;
  /** whole panel in units */
  width: number;
  height: number;
}

/** Picks tiles per row so that the panel's aspect ratio is closest to `aspect` (width / height). */
export function tileGrid(tiles: number, tileW: number, tileH: number, aspect = 1, gap?: number): TileGrid {
  const g = gap ?? (tiles > 1 ? Math.max(1, Math.round(Math.min(tileW, tileH) / 8)) : 0);
  let best = 1;
  let bestErr = Infinity;
  for (let per = 1; per <= tiles; per++) {
    const rows = Math.ceil(tiles / per);
    const w = per * tileW + (per - 1) * g;
    const h = rows * tileH + (rows - 1) * g;
    const err = Math.abs(Math.log(w / h / aspect));
    if (err < bestErr - 1e-9) {
      bestErr = err;
      best = per;
    }
  }
  const rows = Math.ceil(tiles / best);
  return { tiles, tileW, tileH, gap: g, tilesPerRow: best, width: best * tileW + (best - 1) * g, height: rows * tileH + (rows - 1) * g };
}

export const tileOrigin = (G: TileGrid, t: number): [number, number] => [
  (t % G.tilesPerRow) * (G.tileW + G.gap),
  Math.floor(t / G.tilesPerRow) * (G.tileH + G.gap),
];

/** Point (units) → tile and position inside it (integer cell coordinates), or null over a gap / outside. */
export function hitTile(G: TileGrid, u: number, v: number): { tile: number; x: number; y: number } | null {
  if (u < 0 || v < 0 || u >= G.width || v >= G.height) return null;
  const tc = Math.floor(u / (G.tileW + G.gap));
  const tr = Math.floor(v / (G.tileH + G.gap));
  const x = Math.floor(u - tc * (G.tileW + G.gap));
  const y = Math.floor(v - tr * (G.tileH + G.gap));
  if (x >= G.tileW || y >= G.tileH || tc >= G.tilesPerRow) return null;
  const tile = tr * G.tilesPerRow + tc;
  return tile < G.tiles ? { tile, x, y } : null;
}
