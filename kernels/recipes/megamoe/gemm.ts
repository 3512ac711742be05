/**
 * The CPU reference of MegaMoE's two grouped GEMMs (docs/layouts-and-stages.md §5.7 numerics, §7.4 shapes). It differs from
 * kernels/ops/gemm.ts in the two ways the fused kernel does:
 * - the weight-scale row of output column n is given per column (`bScaleRow`): over the interleaved w13 the kernel
 *   reads the natural-order block scale of the column's SOURCE row (§7.5: Hopper does not interleave the scales);
 * - the activation scales may be per 64 columns (the L2 group, §7.4) while the weight blocks stay 128 wide: group j
 *   uses weight K-block ⌊64j/128⌋.
 * Numerics are kernels/ops/gemm.ts's: every group's Σ a·b is exact in float64 (E4M3 products have ≤ 8 significant
 * bits on a 2^−18 grid), then acc = fl(acc + fl(fl(sa·sb) · Σ)) in group order. With 128-wide groups and the natural
 * scale rows the result is bit for bit groupedGemmContiguous's (tested). Single-threaded; it yields to the event loop
 * between chunks of work so an extension host stays responsive, and checks the abort signal there.
 */
import { MoeError } from '../../errors';
import { E4M3_DECODE } from '../../dtypes/fp8e4m3';
import { encodeBf16 } from '../../dtypes/bf16';

const F64_DECODE = Float64Array.from(E4M3_DECODE);
const fround = Math.fround;
/** multiply-adds between two yields to the event loop */
const YIELD_EVERY = 1 << 25;

export interface BlockScaledGemmArgs {
  /** rows × K FP8 codes, row-major */
  a: Uint8Array;
  /** rows × (K / aGroup) activation scales, row-major */
  aScale: Float32Array;
  /** activation scale group along K: 128 (L1) or 64 (L2) */
  aGroup: number;
  rows: number;
  K: number;
  /** local expert of each row; −1 rows are skipped (left 0) */
  rowExpert: Int32Array;
  /** E × N × K FP8 weight codes, row-major */
  b: Uint8Array;
  E: number;
  N: number;
  /** E × Nb × ⌈K/128⌉ weight block scales, row-major */
  bScale: Float32Array;
  Nb: number;
  /** weight-scale block row of each output column */
  bScaleRow: Int32Array;
}

function check(x: BlockScaledGemmArgs): void {
  const { aGroup, K, rows, N, E, Nb } = x;
  if (!(aGroup === 64 || aGroup === 128)) throw new MoeError('E_VALUE', `blockScaledGemm: activation group must be 64 or 128 (it must divide the 128-wide weight blocks), got ${aGroup}`);
  if (K <= 0 || K % aGroup !== 0) throw new MoeError('E_SHAPE', `blockScaledGemm: K = ${K} must be a positive multiple of the activation group ${aGroup}`);
  const Kb = Math.ceil(K / 128);
  const need: [string, number, number][] = [
    ['a', x.a.length, rows * K],
    ['aScale', x.aScale.length, rows * (K / aGroup)],
    ['rowExpert', x.rowExpert.length, rows],
    ['b', x.b.length, E * N * K],
    ['bScale', x.bScale.length, E * Nb * Kb],
    ['bScaleRow', x.bScaleRow.length, N],
  ];
  for (const [n, have, want] of need) if (have < want) throw new MoeError('E_SHAPE', `blockScaledGemm: ${n} holds ${have} elements, needs ${want}`);
  for (let n = 0; n < N; n++)
    if (x.bScaleRow[n]! < 0 || x.bScaleRow[n]! >= Nb) throw new MoeError('E_RANGE', `blockScaledGemm: column ${n} reads weight-scale row ${x.bScaleRow[n]}, outside 0…${Nb - 1}`);
  for (let r = 0; r < rows; r++) if (x.rowExpert[r]! >= E || x.rowExpert[r]! < -1) throw new MoeError('E_RANGE', `blockScaledGemm: row ${r} belongs to expert ${x.rowExpert[r]}, outside −1…${E - 1}`);
}

/** one expert's rows [r0, r1) against output columns [n0, n0 + 4) (fewer at the edge) */
function tile(x: BlockScaledGemmArgs, aF: Float64Array, r0: number, r1: number, bF: Float64Array, e: number, n0: number, nCols: number, out: Float32Array): void {
  const { K, aGroup, aScale, bScale, Nb, N, bScaleRow } = x;
  const G = K / aGroup;
  const Kb = Math.ceil(K / 128);
  const sb = [0, 0, 0, 0].map((_, i) => (e * Nb + bScaleRow[Math.min(n0 + i, N - 1)]!) * Kb);
  const [sb0, sb1, sb2, sb3] = sb as [number, number, number, number];
  for (let r = r0; r < r1; r++) {
    const pa = (r - r0) * K;
    let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    for (let j = 0; j < G; j++) {
      const k0 = j * aGroup;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = k0; k < k0 + aGroup; k++) {
        const v = aF[pa + k]!;
        s0 += v * bF[k]!;
        s1 += v * bF[K + k]!;
        s2 += v * bF[2 * K + k]!;
        s3 += v * bF[3 * K + k]!;
      }
      const sa = aScale[r * G + j]!;
      const kb = (k0 / 128) | 0;
      c0 = fround(c0 + fround(fround(sa * bScale[sb0 + kb]!) * s0));
      c1 = fround(c1 + fround(fround(sa * bScale[sb1 + kb]!) * s1));
      c2 = fround(c2 + fround(fround(sa * bScale[sb2 + kb]!) * s2));
      c3 = fround(c3 + fround(fround(sa * bScale[sb3 + kb]!) * s3));
    }
    const o = r * N + n0;
    out[o] = c0;
    if (nCols > 1) out[o + 1] = c1;
    if (nCols > 2) out[o + 2] = c2;
    if (nCols > 3) out[o + 3] = c3;
  }
}

/** rows × N float32 accumulators (rows of expert −1 stay 0) */
export async function blockScaledGemm(x: BlockScaledGemmArgs, opts: { signal?: AbortSignal } = {}): Promise<Float32Array> {
  check(x);
  const { rows, K, N, rowExpert } = x;
  const out = new Float32Array(rows * N);
  const bF = new Float64Array(4 * K);
  let work = 0;
  let r = 0;
  while (r < rows) {
    const e = rowExpert[r]!;
    let end = r + 1;
    while (end < rows && rowExpert[end] === e) end++;
    if (e >= 0) {
      const aF = new Float64Array((end - r) * K);
      for (let i = 0; i < aF.length; i++) aF[i] = F64_DECODE[x.a[r * K + i]!]!;
      for (let n0 = 0; n0 < N; n0 += 4) {
        const nCols = Math.min(4, N - n0);
        bF.fill(0);
        for (let i = 0; i < nCols; i++) {
          const off = (e * N + n0 + i) * K;
          for (let k = 0; k < K; k++) bF[i * K + k] = F64_DECODE[x.b[off + k]!]!;
        }
        tile(x, aF, r, end, bF, e, n0, nCols, out);
        work += 4 * (end - r) * K;
        if (work >= YIELD_EVERY) {
          work = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (opts.signal?.aborted) throw new MoeError('E_CANCELLED', 'MegaMoE GEMM cancelled');
        }
      }
    }
    r = end;
  }
  if (opts.signal?.aborted) throw new MoeError('E_CANCELLED', 'MegaMoE GEMM cancelled');
  return out;
}

/** float32 accumulators → BF16 bits */
export function toBf16(acc: Float32Array): Uint16Array {
  const out = new Uint16Array(acc.length);
  for (let i = 0; i < acc.length; i++) out[i] = encodeBf16(acc[i]!);
  return out;
}
