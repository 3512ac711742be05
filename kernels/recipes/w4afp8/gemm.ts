/**
 * The int4 × FP8 grouped GEMM of SGLang's W4AFP8 experts (cutlass_w4a8_moe_mm; docs/layouts-and-stages.md §9) on the CPU:
 *   out[r, n] = bf16( fl( alpha · Σ_j fl( s[e, n, j] · Σ_{k ∈ group j} a[r, k] · w[e, n, k] ) ) ),  e = expert of row r,
 * a FP8 E4M3 activations (R, K) in expert order (rows [offsets[e], offsets[e+1]) belong to local expert e, no padding:
 * the CUTLASS grouped GEMM takes one problem size per expert), w signed int4 (E, N, K) packed two per byte along K,
 * s the BF16 group scales (one per output row and 128 K-elements) read from the INTERLEAVED tensor the kernel reads,
 * alpha the per-tensor activation scale (the kernel's epilogue alpha). Accumulation across groups in float32.
 *
 * Numerics: an FP8 value times an int4 has ≤ 7 significant bits and is a multiple of 2^−9 below 2^12, so a group's
 * 128-term sum is exact in float64 in any order; the group scaling, the float32 accumulation and the epilogue round,
 * in that order, in every kernel here — the tiled kernel and the naive loop agree bit for bit. Where the CUTLASS
 * kernel applies the group scale (to the int4 → FP8 converted weight in registers, before the wgmma, in which
 * precision) is not visible from SGLang's Python path: ✖ unverified, and a GPU run would be compared to this
 * within a tolerance, not bit for bit.
 */
import { Tensor } from '../../tensor';
import { MoeError, shapeStr } from '../../errors';
import { E4M3_DECODE } from '../../dtypes/fp8e4m3';
import { decodeBf16, encodeBf16 } from '../../dtypes/bf16';
import { interleaveAlpha, interleavedOffset, interleavedShape } from './interleave';

const fround = Math.fround;
const F64_E4M3 = Float64Array.from(E4M3_DECODE);
/** signed value of the low and the high nibble of every byte */
const LO = new Float64Array(256);
const HI = new Float64Array(256);
for (let b = 0; b < 256; b++) {
  const lo = b & 0xf;
  const hi = b >> 4;
  LO[b] = lo >= 8 ? lo - 16 : lo;
  HI[b] = hi >= 8 ? hi - 16 : hi;
}

export interface Int4GemmArgs {
  /** (R, K) FP8 activations, rows grouped by local expert */
  a: Tensor<'f8e4m3fn'>;
  /** (E, N, K/2) packed int4 */
  w: Tensor<'i4x2'>;
  /** (E, (K/128)/α, N·α) BF16 interleaved group scales */
  scales: Tensor<'bf16'>;
  /** per-tensor activation scale (float32) */
  alpha: number;
  /** (E + 1) row offsets: expert e owns rows [offsets[e], offsets[e+1]) */
  offsets: Int32Array;
  /** names for error messages */
  names?: { a?: string; w?: string; scales?: string };
}

interface Checked {
  R: number;
  K: number;
  N: number;
  E: number;
  Kg: number;
  alpha: 1 | 4;
  a: Uint8Array;
  aOff: number;
  w: Uint8Array;
  wOff: number;
  s: Uint16Array;
  sOff: number;
}

function check(args: Int4GemmArgs): Checked {
  const an = args.names?.a ?? 'a';
  const wn = args.names?.w ?? 'w';
  const sn = args.names?.scales ?? 'scales';
  const { a, w, scales, offsets } = args;
  if (a.dtype !== 'f8e4m3fn' || a.rank !== 2) throw new MoeError('E_SHAPE', `${an}: expected FP8 activations [R, K], got ${a.dtype} ${shapeStr(a.shape)}`, an);
  const [R, K] = a.shape as [number, number];
  if (w.dtype !== 'i4x2' || w.rank !== 3 || w.shape[2] !== K / 2)
    throw new MoeError('E_SHAPE', `${wn}: expected packed int4 [E, N, ${K / 2}] (K = ${K} of ${an}, two per byte), got ${w.dtype} ${shapeStr(w.shape)}`, wn);
  const [E, N] = w.shape as [number, number, number];
  if (K % 128 !== 0) throw new MoeError('E_SHAPE', `${an}: K = ${K} is not a multiple of the 128-element scale group`, an);
  const Kg = K / 128;
  const want = interleavedShape(E, N, Kg);
  if (scales.dtype !== 'bf16' || shapeStr(scales.shape) !== shapeStr(want))
    throw new MoeError('E_SHAPE', `${sn}: expected interleaved BF16 group scales ${shapeStr(want)}, got ${scales.dtype} ${shapeStr(scales.shape)}`, sn);
  if (offsets.length !== E + 1 || offsets[0] !== 0 || offsets[E] !== R)
    throw new MoeError('E_SHAPE', `expert offsets: expected ${E + 1} entries from 0 to ${R} (rows of ${an}), got [${Array.from(offsets.slice(0, 8)).join(', ')}${offsets.length > 8 ? ', …' : ''}] (${offsets.length} entries)`);
  for (let e = 0; e < E; e++)
    if (offsets[e + 1]! < offsets[e]!) throw new MoeError('E_VALUE', `expert offsets: entry ${e + 1} (${offsets[e + 1]}) is below entry ${e} (${offsets[e]}); offsets must not decrease`);
  const ac = a.contiguous();
  const wc = w.contiguous();
  const sc = scales.contiguous();
  return { R, K, N, E, Kg, alpha: interleaveAlpha(Kg), a: ac.storage, aOff: ac.offset, w: wc.storage, wOff: wc.offset, s: sc.storage, sOff: sc.offset };
}

/** the group scales of weight row n of expert e, in K order, from the interleaved tensor */
function rowScales(c: Checked, e: number, n: number, dst: Float64Array): void {
  for (let j = 0; j < c.Kg; j++) dst[j] = decodeBf16(c.s[c.sOff + interleavedOffset(c.N, c.Kg, c.alpha, e, n, j)]!);
}

function decodeWeightRow(c: Checked, e: number, n: number, dst: Float64Array): void {
  const base = c.wOff + (e * c.N + n) * (c.K / 2);
  for (let i = 0; i < c.K / 2; i++) {
    const b = c.w[base + i]!;
    dst[2 * i] = LO[b]!;
    dst[2 * i + 1] = HI[b]!;
  }
}

/**
 * 4 activation rows (starting at p0, row stride K) against one decoded weight row: acc[0..3] ← Σ_j fl(s_j · group sum).
 * A small function of its own, so V8 optimizes it after a few calls instead of waiting for on-stack replacement.
 */
function tile4(aF: Float64Array, p0: number, K: number, wF: Float64Array, sN: Float64Array, Kg: number, acc: Float64Array): void {
  const p1 = p0 + K, p2 = p1 + K, p3 = p2 + K;
  let acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
  for (let j = 0; j < Kg; j++) {
    let b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    const k1 = (j + 1) * 128;
    for (let k = j * 128; k < k1; k++) {
      const wv = wF[k]!;
      b0 += aF[p0 + k]! * wv;
      b1 += aF[p1 + k]! * wv;
      b2 += aF[p2 + k]! * wv;
      b3 += aF[p3 + k]! * wv;
    }
    const s = sN[j]!;
    acc0 = fround(acc0 + fround(s * b0));
    acc1 = fround(acc1 + fround(s * b1));
    acc2 = fround(acc2 + fround(s * b2));
    acc3 = fround(acc3 + fround(s * b3));
  }
  acc[0] = acc0;
  acc[1] = acc1;
  acc[2] = acc2;
  acc[3] = acc3;
}

/** one activation row against one decoded weight row */
function dot1(aF: Float64Array, p: number, wF: Float64Array, sN: Float64Array, Kg: number): number {
  let acc = 0;
  for (let j = 0; j < Kg; j++) {
    let b = 0;
    const k1 = (j + 1) * 128;
    for (let k = j * 128; k < k1; k++) b += aF[p + k]! * wF[k]!;
    acc = fround(acc + fround(sN[j]! * b));
  }
  return acc;
}

/** The tiled kernel: per expert, its activation rows decoded once; per weight row, 4 activation rows at a time. */
export function int4Fp8GroupedGemm(args: Int4GemmArgs, opts: { signal?: AbortSignal } = {}): Tensor<'bf16'> {
  const c = check(args);
  const { R, K, N, E, Kg } = c;
  const alpha = fround(args.alpha);
  const out = new Uint16Array(R * N);
  const wF = new Float64Array(K);
  const sN = new Float64Array(Kg);
  const acc = new Float64Array(4);
  for (let e = 0; e < E; e++) {
    if (opts.signal?.aborted) throw new MoeError('E_CANCELLED', 'int4 × FP8 grouped GEMM cancelled');
    const r0 = args.offsets[e]!;
    const rows = args.offsets[e + 1]! - r0;
    if (rows === 0) continue;
    const aF = new Float64Array(rows * K);
    for (let i = 0; i < rows * K; i++) aF[i] = F64_E4M3[c.a[c.aOff + r0 * K + i]!]!;
    for (let n = 0; n < N; n++) {
      decodeWeightRow(c, e, n, wF);
      rowScales(c, e, n, sN);
      let i = 0;
      for (; i + 4 <= rows; i += 4) {
        tile4(aF, i * K, K, wF, sN, Kg, acc);
        for (let d = 0; d < 4; d++) out[(r0 + i + d) * N + n] = encodeBf16(fround(alpha * acc[d]!));
      }
      for (; i < rows; i++) out[(r0 + i) * N + n] = encodeBf16(fround(alpha * dot1(aF, i * K, wF, sN, Kg)));
    }
  }
  return new Tensor('bf16', [R, N], out);
}

/** The same sum written as plainly as possible (the test oracle of the tiled kernel). */
export function int4Fp8GroupedGemmNaive(args: Int4GemmArgs): Tensor<'bf16'> {
  const c = check(args);
  const { R, K, N, E, Kg } = c;
  const out = new Uint16Array(R * N);
  const wF = new Float64Array(K);
  const sN = new Float64Array(Kg);
  for (let e = 0; e < E; e++)
    for (let r = args.offsets[e]!; r < args.offsets[e + 1]!; r++)
      for (let n = 0; n < N; n++) {
        decodeWeightRow(c, e, n, wF);
        rowScales(c, e, n, sN);
        let acc = 0;
        for (let j = 0; j < Kg; j++) {
          let b = 0;
          for (let k = 0; k < 128; k++) b += F64_E4M3[c.a[c.aOff + r * K + j * 128 + k]!]! * wF[j * 128 + k]!;
          acc = fround(acc + fround(sN[j]! * b));
        }
        out[r * N + n] = encodeBf16(fround(fround(args.alpha) * acc));
      }
  return new Tensor('bf16', [R, N], out);
}
