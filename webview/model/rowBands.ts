/**
 * Display rows of a heatmap whose tensor is mostly padding (mm1_out with 16 tokens: 98% of its rows are padding):
 * each run of padding rows can be compressed to a thin band, so the routed rows fill the picture. Pure index math
 * between tensor rows and display rows; the heatmap draws and hit-tests through it.
 */

export interface RowBand {
  /** tensor rows [r0, r1) */
  r0: number;
  r1: number;
  /** display rows [d0, d1) */
  d0: number;
  d1: number;
  padding: boolean;
}

export interface RowMap {
  rows: number;
  displayRows: number;
  compressed: boolean;
  bands: RowBand[];
  /** the band and tensor row at display row d (undefined outside) */
  at(d: number): { band: RowBand; row: number } | undefined;
  /** display row where tensor row r starts */
  toDisplay(r: number): number;
}

/** Display rows a compressed run of padding rows takes. */
export const PADDING_BAND_ROWS = 2;

/** `paddingRuns`: sorted, disjoint [start, end) runs inside [0, rows). */
export function rowMap(rows: number, paddingRuns: readonly (readonly [number, number])[], compress: boolean, bandRows = PADDING_BAND_ROWS): RowMap {
  const bands: RowBand[] = [];
  let r = 0;
  let d = 0;
  const push = (r0: number, r1: number, padding: boolean): void => {
    if (r1 <= r0) return;
    const len = padding && compress ? Math.min(r1 - r0, bandRows) : r1 - r0;
    bands.push({ r0, r1, d0: d, d1: d + len, padding });
    d += len;
  };
  for (const [s, e] of paddingRuns) {
    const s0 = Math.max(r, Math.min(rows, s));
    const e0 = Math.max(s0, Math.min(rows, e));
    push(r, s0, false);
    push(s0, e0, true);
    r = e0;
  }
  push(r, rows, false);
  const find = <K extends 'd0' | 'r0'>(v: number, lo: K, hi: K extends 'd0' ? 'd1' : 'r1'): RowBand | undefined => {
    let a = 0;
    let b = bands.length - 1;
    while (a <= b) {
      const m = (a + b) >> 1;
      const band = bands[m]!;
      if (v < band[lo]) b = m - 1;
      else if (v >= band[hi]) a = m + 1;
      else return band;
    }
    return undefined;
  };
  return {
    rows,
    displayRows: d,
    compressed: compress,
    bands,
    at(dr) {
      const band = find(dr, 'd0', 'd1');
      if (!band) return undefined;
      const row = band.r0 + Math.floor(((dr - band.d0) * (band.r1 - band.r0)) / (band.d1 - band.d0));
      return { band, row: Math.min(band.r1 - 1, row) };
    },
    toDisplay(tr) {
      const band = find(tr, 'r0', 'r1');
      if (!band) return tr <= 0 ? 0 : d;
      return band.d0 + ((tr - band.r0) * (band.d1 - band.d0)) / (band.r1 - band.r0);
    },
  };
}
