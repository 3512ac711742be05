/**
 * The weight re-layouts of MegaMoE (docs/layouts-and-stages.md §7.5):
 * - the granularity-8 gate/up interleave of w13: output row r, b = ⌊r/16⌋, w = r mod 16, takes source row 8b + w
 *   (w < 8, a gate row) or IH + 8b + (w − 8) (an up row), so the L1 output alternates 8 gate and the 8 matching up
 *   columns and the fused epilogue finds both halves of a SwiGLU pair in one 16-column chunk;
 * - the UTCCP transpose of SM100 per-row packed scales: within every 128-row chunk c, new row 128c + 4b + a ← old row
 *   128c + 32a + b (a ∈ [0,4), b ∈ [0,32)).
 * Both are row permutations of a rank-3 (E, rows, cols) tensor; `permuteRows` applies one to any dtype and keeps the
 * input's storage order (an MN-major packed scale tensor stays MN-major, as torch.empty_like does).
 */
import { MoeError, shapeStr } from '../../errors';
import { UTCCP_ROWS, checkIh, interleaveMap, utccpSourceRow } from './rowMaps';
import { Tensor, stridedExtent } from '../../tensor';
import { allocStorage, type DType, type StorageFor } from '../../dtypes/index';
import { sharedBytes } from '../../ops/gemm';

export { INTERLEAVE_GRAN, UTCCP_ROWS, checkIh, interleaveMap, interleaveSourceRow, isGateRow, utccpSourceRow } from './rowMaps';

function checkRank3(t: Tensor, name: string): [number, number, number] {
  if (t.rank !== 3) throw new MoeError('E_SHAPE', `${name}: expected shape [E, rows, cols] (one matrix per local expert), got ${shapeStr(t.shape)}`, name);
  return t.shape as [number, number, number];
}

/**
 * out[e, r, :] = t[e, src[r], :] for every expert, in a fresh storage with t's strides (offset 0). Row-major inputs
 * copy whole rows; `experts` limits the copy to some experts (the others stay zero) — a run copies only the experts
 * its GEMM reads.
 */
export function permuteRows<D extends DType>(t: Tensor<D>, src: Int32Array, name: string, experts?: Iterable<number>): Tensor<D> {
  const [E, rows, cols] = checkRank3(t, name);
  if (src.length !== rows) throw new MoeError('E_SHAPE', `${name}: a row permutation of ${src.length} rows cannot apply to ${rows} rows (shape ${shapeStr(t.shape)})`, name);
  const dense = stridedExtent(t.shape, t.strides) === t.numel;
  const strides = dense ? [...t.strides] : [rows * cols, cols, 1];
  // FP8 bytes on shared memory, like every weight tensor of the engine (kernels/inputs.ts asFp8)
  const out = (t.dtype === 'f8e4m3fn' || t.dtype === 'u8' ? sharedBytes(t.numel) : allocStorage(t.dtype, t.numel)) as StorageFor<D>;
  const dst = new Tensor(t.dtype, t.shape, out, strides, 0, name);
  const list = experts ? [...experts] : Array.from({ length: E }, (_, e) => e);
  const rowMajor = t.isContiguous() && strides[2] === 1;
  const inS = t.storage as unknown as { subarray(a: number, b: number): ArrayLike<number | bigint> };
  const outS = out as unknown as { set(a: ArrayLike<number | bigint>, at: number): void; [i: number]: number | bigint };
  const srcS = t.storage as unknown as { [i: number]: number | bigint };
  for (const e of list) {
    if (!Number.isInteger(e) || e < 0 || e >= E) throw new MoeError('E_RANGE', `${name}: expert ${e} outside 0…${E - 1}`, name);
    for (let r = 0; r < rows; ) {
      const s = src[r]!;
      if (rowMajor) {
        // a run of consecutive source rows (8 for the interleave) is one contiguous copy
        let n = 1;
        while (r + n < rows && src[r + n] === s + n) n++;
        const from = t.offset + (e * rows + s) * cols;
        outS.set(inS.subarray(from, from + n * cols), (e * rows + r) * cols);
        r += n;
      } else {
        for (let c = 0; c < cols; c++) outS[dst.index(e, r, c)] = srcS[t.index(e, s, c)]!;
        r++;
      }
    }
  }
  return dst;
}

/** w13 (E, 2·IH, C) of any dtype → the §7.5 interleave, plus the map it used */
export function interleaveW13<D extends DType>(t: Tensor<D>, name: string, experts?: Iterable<number>): { tensor: Tensor<D>; map: Int32Array } {
  const [, rows] = checkRank3(t, name);
  if (rows % 2 !== 0) throw new MoeError('E_SHAPE', `${name}: expected an even number of rows (IH gate rows, then IH up rows), got ${shapeStr(t.shape)}`, name);
  checkIh(rows / 2, name);
  const map = interleaveMap(rows / 2);
  return { tensor: permuteRows(t, map, name, experts), map };
}

/** (E, mn, words) packed scales → the §7.5 UTCCP transpose; mn must be a multiple of 128 */
export function utccpTranspose<D extends DType>(t: Tensor<D>, name: string): Tensor<D> {
  const [, mn] = checkRank3(t, name);
  if (mn % UTCCP_ROWS !== 0)
    throw new MoeError(
      'E_SHAPE',
      `${name}: the UTCCP transpose (docs/layouts-and-stages.md §7.5) works on whole 128-row chunks, but the scales have ${mn} rows (shape ${shapeStr(t.shape)}); SM100 MegaMoE needs the row count (2·IH for L1, H for L2) to be a multiple of 128`,
      name,
    );
  const src = new Int32Array(mn);
  for (let r = 0; r < mn; r++) src[r] = utccpSourceRow(r);
  return permuteRows(t, src, name);
}
