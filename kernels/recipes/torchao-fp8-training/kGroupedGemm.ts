/**
 * The CPU reference of DeepGEMM's `k_grouped_fp8_gemm_nt_contiguous` as torchao calls it for the weight gradient
 * (docs/layouts-and-stages.md §8; recipe (1, 1, 128), C = zeros, D float32):
 *   d[e][n, k] = Σ_{token blocks J of expert e} fl32(fl32(sa[n, J] · sb[k, J]) · Σ_{m ∈ J} a[n, m] · b[k, m]),
 * accumulated in float32 in block order (the SM90 1D1D kernel promotes each 128-token WGMMA block into a float32
 * accumulator with the product of the two per-row scales, as `final_accum += scale_a * scale_b * accum`).
 * a is the flat LHS (expert e's block is a row-major (N, k_e) matrix at offset T_e·N, T_e = Σ_{e'<e} k_e'), b the flat
 * RHS ((K, k_e) blocks at T_e·K); scales are (N, Σ k_e/128) and (K, Σ k_e/128).
 * Numerics as in kernels/ops/gemm.ts: a 128-element sum of E4M3 products is exact in float64, so only the scaling and
 * the float32 accumulation round — and they round here exactly where the kernel does.
 * Token columns that are zero in either operand add nothing; trailing zero columns of a block (the padding tokens of
 * a group) are skipped, which changes no bit.
 */
import { Tensor } from '../../tensor';
import { MoeError, shapeStr } from '../../errors';
import { E4M3_DECODE } from '../../dtypes/fp8e4m3';
import { TOKEN_BLOCK } from './groups';

const F64_DECODE = Float64Array.from(E4M3_DECODE);
const fround = Math.fround;
const B = TOKEN_BLOCK;

export interface KGroupedOperand {
  /** flat FP8 buffer of Σ k_e · D codes */
  data: Tensor<'f8e4m3fn'>;
  /** (D, Σ k_e / 128) float32 */
  scale: Tensor<'f32'>;
  /** for error messages */
  name: string;
}

/** DeepGEMM's host asserts for the NT K-grouped call, as one-line errors naming the operand */
function checkOperand(op: KGroupedOperand, sumK: number): number {
  if (op.data.dtype !== 'f8e4m3fn') throw new MoeError('E_DTYPE', `${op.name}: expected dtype f8e4m3fn, got ${op.data.dtype}`, op.name);
  if (op.scale.dtype !== 'f32') throw new MoeError('E_DTYPE', `${op.name}_scale: expected dtype f32, got ${op.scale.dtype}`, `${op.name}_scale`);
  if (op.scale.rank !== 2 || op.scale.shape[1] !== sumK / B)
    throw new MoeError('E_SHAPE', `${op.name}_scale: expected shape [D, ${sumK / B}] (one scale per feature and 128-token block), got ${shapeStr(op.scale.shape)}`, `${op.name}_scale`);
  const D = op.scale.shape[0]!;
  if (op.data.numel !== sumK * D)
    throw new MoeError('E_SHAPE', `${op.name}: holds ${op.data.numel} codes but Σ k · D = ${sumK} · ${D} = ${sumK * D} (DeepGEMM asserts sum_mk == sum_k · m)`, op.name);
  return D;
}

/** last token column (+1) of block [col0, col0+128) of a row-major (D, P) matrix at `base` that has a non-zero code */
function usedColumns(codes: Uint8Array, base: number, D: number, P: number, col0: number): number {
  let used = 0;
  for (let d = 0; d < D; d++) {
    const row = base + d * P + col0;
    for (let m = B - 1; m >= used; m--)
      if ((codes[row + m]! & 0x7f) !== 0) {
        used = m + 1;
        break;
      }
    if (used === B) break;
  }
  return used;
}

/** decodes columns [col0, col0+L) of every row of a (D, P) block into dst (D × L, row-major) */
function decodeBlock(codes: Uint8Array, base: number, D: number, P: number, col0: number, L: number, dst: Float64Array): void {
  for (let d = 0; d < D; d++) {
    const row = base + d * P + col0;
    for (let m = 0; m < L; m++) dst[d * L + m] = F64_DECODE[codes[row + m]!]!;
  }
}

export function kGroupedGemmNt(lhs: KGroupedOperand, rhs: KGroupedOperand, ks: ArrayLike<number>, opts: { signal?: AbortSignal } = {}): Tensor<'f32'> {
  let sumK = 0;
  for (let e = 0; e < ks.length; e++) {
    const k = ks[e]!;
    if (!Number.isInteger(k) || k < 0 || k % B !== 0)
      throw new MoeError('E_SHAPE', `ks[${e}] = ${k}: every group's token count must be a multiple of ${B} (DeepGEMM asserts k % 128 == 0; pad the groups)`, 'ks');
    sumK += k;
  }
  const N = checkOperand(lhs, sumK);
  const K = checkOperand(rhs, sumK);
  const E = ks.length;
  const out = new Float32Array(E * N * K);
  const a = lhs.data.contiguous();
  const b = rhs.data.contiguous();
  const aCodes = a.storage.subarray(a.offset, a.offset + a.numel);
  const bCodes = b.storage.subarray(b.offset, b.offset + b.numel);
  const sa = lhs.scale.contiguous().storage;
  const sb = rhs.scale.contiguous().storage;
  const nb = sumK / B;
  const aF = new Float64Array(N * B);
  const bF = new Float64Array(K * B);
  const fa = new Float64Array(N);
  const fb = new Float64Array(K);
  let T = 0;
  for (let e = 0; e < E; e++) {
    const P = ks[e]!;
    const acc = out.subarray(e * N * K, (e + 1) * N * K);
    for (let jj = 0; jj < P / B; jj++) {
      if (opts.signal?.aborted) throw new MoeError('E_CANCELLED', 'K-grouped wgrad GEMM cancelled');
      const J = T / B + jj;
      const L = Math.min(usedColumns(aCodes, T * N, N, P, jj * B), usedColumns(bCodes, T * K, K, P, jj * B));
      if (L === 0) continue; // every product is zero: acc + fl(f · 0) = acc
      decodeBlock(aCodes, T * N, N, P, jj * B, L, aF);
      decodeBlock(bCodes, T * K, K, P, jj * B, L, bF);
      for (let n = 0; n < N; n++) fa[n] = sa[n * nb + J]!;
      for (let k = 0; k < K; k++) fb[k] = sb[k * nb + J]!;
      blockUpdate(aF, bF, fa, fb, acc, N, K, L);
    }
    T += P;
  }
  return new Tensor('f32', [E, N, K], out, undefined, 0, 'wgrad_d');
}

/** acc[n, k] ← fl32(acc + fl32(fl32(fa[n]·fb[k]) · Σ_m a[n, m]·b[k, m])) for one token block; 2×4 register tiles */
function blockUpdate(aF: Float64Array, bF: Float64Array, fa: Float64Array, fb: Float64Array, acc: Float32Array, N: number, K: number, L: number): void {
  const n2 = N - (N % 2);
  const k4 = K - (K % 4);
  for (let n = 0; n < n2; n += 2) {
    const p0 = n * L;
    const p1 = p0 + L;
    const fa0 = fa[n]!;
    const fa1 = fa[n + 1]!;
    const r0 = n * K;
    const r1 = r0 + K;
    for (let k = 0; k < k4; k += 4) {
      const q0 = k * L;
      const q1 = q0 + L;
      const q2 = q1 + L;
      const q3 = q2 + L;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      for (let m = 0; m < L; m++) {
        const a0 = aF[p0 + m]!;
        const a1 = aF[p1 + m]!;
        const b0 = bF[q0 + m]!;
        const b1 = bF[q1 + m]!;
        const b2 = bF[q2 + m]!;
        const b3 = bF[q3 + m]!;
        s00 += a0 * b0;
        s01 += a0 * b1;
        s02 += a0 * b2;
        s03 += a0 * b3;
        s10 += a1 * b0;
        s11 += a1 * b1;
        s12 += a1 * b2;
        s13 += a1 * b3;
      }
      const fb0 = fb[k]!;
      const fb1 = fb[k + 1]!;
      const fb2 = fb[k + 2]!;
      const fb3 = fb[k + 3]!;
      // written out (not a helper) so the eight updates stay in registers
      acc[r0 + k] = fround(acc[r0 + k]! + fround(fround(fa0 * fb0) * s00));
      acc[r0 + k + 1] = fround(acc[r0 + k + 1]! + fround(fround(fa0 * fb1) * s01));
      acc[r0 + k + 2] = fround(acc[r0 + k + 2]! + fround(fround(fa0 * fb2) * s02));
      acc[r0 + k + 3] = fround(acc[r0 + k + 3]! + fround(fround(fa0 * fb3) * s03));
      acc[r1 + k] = fround(acc[r1 + k]! + fround(fround(fa1 * fb0) * s10));
      acc[r1 + k + 1] = fround(acc[r1 + k + 1]! + fround(fround(fa1 * fb1) * s11));
      acc[r1 + k + 2] = fround(acc[r1 + k + 2]! + fround(fround(fa1 * fb2) * s12));
      acc[r1 + k + 3] = fround(acc[r1 + k + 3]! + fround(fround(fa1 * fb3) * s13));
    }
  }
  // ragged edges (N odd, K not a multiple of 4): one dot at a time
  const one = (n: number, k: number): void => {
    let s = 0;
    for (let m = 0; m < L; m++) s += aF[n * L + m]! * bF[k * L + m]!;
    const i = n * K + k;
    acc[i] = fround(acc[i]! + fround(fround(fa[n]! * fb[k]!) * s));
  };
  for (let n = 0; n < n2; n++) for (let k = k4; k < K; k++) one(n, k);
  for (let n = n2; n < N; n++) for (let k = 0; k < K; k++) one(n, k);
}
