/**
 * A small SVG of how the hovered tensor's last two dimensions sit in storage: one cell per logical element
 * (clipped to 12×16), shaded light → dark in storage order, so MN-major reads as columns and K-major as rows;
 * TMA padding slots the strides skip over are drawn hatched after the rows/columns they pad. Pure string building:
 * it runs in the extension host, which has no DOM.
 */

export interface Thumbnail {
  svg: string;
  /** logical cells drawn */
  cells: number;
  /** padding slots drawn */
  padCells: number;
}

const MAX_ROWS = 12;
const MAX_COLS = 16;
const MAX_PAD = 4;
const CELL = 10;
const MARGIN = 4;

/** light → dark blue, readable on light and dark hover backgrounds */
function shade(f: number): string {
  const lerp = (a: number, b: number): number => Math.round(a + (b - a) * f);
  return `rgb(${lerp(198, 8)},${lerp(219, 69)},${lerp(239, 148)})`;
}

export function layoutThumbnail(shape: readonly number[], strides: readonly number[] | null): Thumbnail {
  const n = shape.length;
  const rows = n >= 2 ? shape[n - 2]! : 1;
  const cols = n >= 1 ? shape[n - 1]! : 1;
  const rs = n >= 2 && strides ? strides[n - 2]! : 0;
  const cs = n >= 1 && strides ? strides[n - 1]! : 1;
  const showR = Math.min(rows, MAX_ROWS);
  const showC = Math.min(cols, n >= 2 ? MAX_COLS : 32);

  // padding is visible only when the padded dimension is shown whole
  const mnMajor = rs === 1 && rows > 1 && cs !== 1;
  const kMajor = cs === 1 && cols > 1 && rs !== 1;
  const padRows = mnMajor && cs > rows && rows === showR && showC > 0 ? Math.min(cs - rows, MAX_PAD) : 0;
  const padCols = kMajor && rs > cols && cols === showC && showR > 0 ? Math.min(rs - cols, MAX_PAD) : 0;

  const offsets: number[] = [];
  for (let i = 0; i < showR; i++) for (let j = 0; j < showC; j++) offsets.push(i * rs + j * cs);
  const lo = Math.min(...offsets, 0);
  const hi = Math.max(...offsets, 1);

  const width = (showC + padCols) * CELL + 2 * MARGIN + (cols > showC ? 12 : 0);
  const height = (showR + padRows) * CELL + 2 * MARGIN + (rows > showR ? 12 : 0);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`);
  parts.push(
    '<defs><pattern id="h" width="4" height="4" patternUnits="userSpaceOnUse"><path d="M0 4L4 0" stroke="#999" stroke-width="1"/></pattern></defs>',
  );
  let k = 0;
  for (let i = 0; i < showR; i++)
    for (let j = 0; j < showC; j++) {
      const f = hi === lo ? 0 : (offsets[k++]! - lo) / (hi - lo);
      parts.push(`<rect class="cell" x="${MARGIN + j * CELL}" y="${MARGIN + i * CELL}" width="${CELL - 1}" height="${CELL - 1}" fill="${shade(f)}"/>`);
    }
  let padCells = 0;
  for (let i = 0; i < padRows; i++)
    for (let j = 0; j < showC; j++, padCells++)
      parts.push(`<rect class="pad" x="${MARGIN + j * CELL}" y="${MARGIN + (showR + i) * CELL}" width="${CELL - 1}" height="${CELL - 1}" fill="url(#h)" stroke="#999" stroke-width="0.5"/>`);
  for (let i = 0; i < showR; i++)
    for (let j = 0; j < padCols; j++, padCells++)
      parts.push(`<rect class="pad" x="${MARGIN + (showC + j) * CELL}" y="${MARGIN + i * CELL}" width="${CELL - 1}" height="${CELL - 1}" fill="url(#h)" stroke="#999" stroke-width="0.5"/>`);
  if (cols > showC) parts.push(`<text x="${width - 11}" y="${MARGIN + CELL}" font-size="10" fill="#888">…</text>`);
  if (rows > showR) parts.push(`<text x="${MARGIN}" y="${height - 3}" font-size="10" fill="#888">⋮</text>`);
  parts.push('</svg>');
  return { svg: parts.join(''), cells: showR * showC, padCells };
}

export const svgDataUri = (svg: string): string => `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
