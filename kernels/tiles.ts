/**
 * Tiles: 2-D windows of any tensor of a run, decoded values or |value − float64 reference| (the recipe's plan says
 * which tensors have a reference), so the webview fetches only what it shows.
 */
import { MAX_TILE_ELEMS, type Tile } from './protocol';
import type { Tensor } from './tensor';
import type { RunResult } from './pipeline';
import type { ErrorFn } from './recipes/types';
import { decoderFor } from './tensor';
import { MoeError } from './errors';
import { expertPagesOf, expertSlice } from './expertPages';

function as2d(t: Tensor): [number, number] {
  if (t.rank === 0) return [1, 1];
  const cols = t.shape[t.rank - 1]!;
  return [cols === 0 ? 0 : t.numel / cols, cols];
}

/** storage index of (row, col) of the 2-D view (leading dims flattened row-major) */
function storageIndex(t: Tensor, row: number, col: number): number {
  let off = t.offset;
  let r = row;
  for (let d = t.rank - 2; d >= 0; d--) {
    off += (r % t.shape[d]!) * t.strides[d]!;
    r = Math.floor(r / t.shape[d]!);
  }
  return t.rank === 0 ? off : off + col * t.strides[t.rank - 1]!;
}

function checkRange(name: string, what: string, r: [number, number], n: number): void {
  if (!Array.isArray(r) || r.length !== 2 || !Number.isInteger(r[0]) || !Number.isInteger(r[1]) || r[0] < 0 || r[1] > n || r[0] > r[1])
    throw new MoeError('E_RANGE', `tile of ${name}: ${what} [${String(r?.[0])}, ${String(r?.[1])}) must lie inside [0, ${n})`, name);
}

/** (row, col) of the 2-D view of a weight tensor made per expert: the expert of the row is made once per tile */
function pagedValueAt(t: Tensor<'f8e4m3fn'>, dec: (v: number) => number): (r: number, c: number) => number {
  const [, rows, K] = t.shape as [number, number, number];
  let e = -1;
  let slice: Tensor<'f8e4m3fn'> | undefined;
  return (r, c) => {
    const want = Math.floor(r / rows);
    if (want !== e) {
      e = want;
      slice = expertSlice(t, e);
    }
    return dec(slice!.storage[(r % rows) * K + c]!);
  };
}

export function tile(result: RunResult, tensor: string, rows: [number, number], cols: [number, number], mode: 'value' | 'error'): Tile {
  const t = result.tensors.get(tensor);
  if (!t) throw new MoeError('E_VALUE', `tile: no tensor named '${tensor}' in this run (has: ${[...result.tensors.keys()].join(', ')})`, tensor);
  const [R, C] = as2d(t);
  checkRange(tensor, 'rows', rows, R);
  checkRange(tensor, 'cols', cols, C);
  const h = rows[1] - rows[0];
  const w = cols[1] - cols[0];
  if (h * w > MAX_TILE_ELEMS) throw new MoeError('E_RANGE', `tile of ${tensor}: ${h}×${w} = ${h * w} values exceeds ${MAX_TILE_ELEMS}; request smaller tiles`, tensor);
  // binary on the wire (kernels/protocol.ts): a Float32Array that owns its buffer, so exactly these bytes travel
  const values = new Float32Array(h * w);
  const raw = t.dtype === 'i32' || t.dtype === 'i64' || t.dtype === 'u8' || t.dtype === 'i4x2';
  const dec = raw ? (v: number) => v : decoderFor(t.dtype);
  const valueAt = expertPagesOf(t) ? pagedValueAt(t as Tensor<'f8e4m3fn'>, dec) : (r: number, c: number): number => {
    const v = t.storage[storageIndex(t, r, c)]!;
    return dec(typeof v === 'bigint' ? Number(v) : v);
  };
  if (mode === 'value') {
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) values[i * w + j] = valueAt(rows[0] + i, cols[0] + j);
  } else if (mode === 'error') {
    const ref = errorReference(result, tensor);
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) {
        const r = rows[0] + i;
        const c = cols[0] + j;
        values[i * w + j] = Math.abs(ref(r, c, valueAt(r, c)));
      }
  } else throw new MoeError('E_VALUE', `tile: mode must be 'value' or 'error', got '${String(mode)}'`, tensor);
  return { tensor, mode, rows: [rows[0], rows[1]], cols: [cols[0], cols[1]], values, shape2d: [R, C] };
}

/** (row, col, value) → value − reference; NaN where there is no reference (padding rows, non-local pairs) */
function errorReference(result: RunResult, tensor: string): ErrorFn {
  const plan = result.plan;
  const covered = plan?.errorTensors ?? [];
  if (!plan?.errorOf) throw new MoeError('E_VALUE', `tile: this result was not produced by runLayer, so it has no float64 reference`, tensor);
  if (!covered.includes(tensor)) throw new MoeError('E_VALUE', `tile: no float64 reference for '${tensor}'; error mode covers ${covered.join(', ')}`, tensor);
  const fn = plan.errorOf(tensor, result.tensors);
  if (!fn) throw new MoeError('E_VALUE', `tile: the float64 reference of '${tensor}' needs tensors this run did not produce`, tensor);
  return fn;
}
