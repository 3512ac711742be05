/**
 * The grouped GEMM's scalar TypeScript kernel (docs/layouts-and-stages.md §5): the fallback where the WebAssembly
 * SIMD kernel (gemmWasm.ts) cannot run, and the tests' and bench's second opinion. Each unit decodes 4 weight rows to float64 once and reuses them for
 * every 4-row tile of the expert's tokens (4×4 register tile); each 128-wide block sum is exact in float64, so any
 * split of the work gives the same bits.
 */
import { E4M3_DECODE } from '../dtypes/fp8e4m3';
import { encodeBf16 } from '../dtypes/bf16';

/** Everything a worker needs, as plain shared typed arrays (structured clone shares SharedArrayBuffers). */
export interface GemmJob {
  /** rows × K FP8 codes, row stride K */
  a: Uint8Array;
  /** rows × Kb dense A scales */
  aScale: Float32Array;
  /** experts × N × K FP8 codes */
  b: Uint8Array;
  /** experts × Nb × Kb dense B scales */
  bScale: Float32Array;
  /** rows × N BF16 output (zero-filled) */
  out: Uint16Array;
  /** units of 5 ints: expert, first row, end row, first column, end column */
  units: Int32Array;
  /** [next unit, cancel flag] */
  control: Int32Array;
  K: number;
  N: number;
  /**
   * the WebAssembly SIMD kernels (gemmWasm.ts) and the id this process gave the module; absent: this file's scalar
   * kernel (WebAssembly SIMD unavailable, or asked for). A module posted to a worker arrives as a new object with every
   * job, so a thread keeps its instance (and the memory it has grown) by the id.
   */
  wasm?: { module: WebAssembly.Module; id: number };
}

/** FP8 code → value, as float64 (the block sums are exact in float64) */
export const F64_DECODE = Float64Array.from(E4M3_DECODE);
const fround = Math.fround;

export interface Scratch {
  aF: Float64Array;
  bF: Float64Array;
}

function decodeInto(src: Uint8Array, srcOff: number, n: number, dst: Float64Array, dstOff: number): void {
  for (let i = 0; i < n; i++) dst[dstOff + i] = F64_DECODE[src[srcOff + i]!]!;
}

/**
 * 4 token rows × 4 weight rows, all K-blocks: the 16 block sums stay in registers while the decoded rows stream
 * from L1/L2. (A 4×2 variant measured the same within noise on the 2-core CI box; 4×4 halves the A loads.)
 */
function tile4x4(job: GemmJob, aF: Float64Array, bF: Float64Array, row: number, pa: number, n: number, sb0: number, sb1: number, sb2: number, sb3: number): void {
  const { aScale, bScale, out, K, N } = job;
  const Kb = Math.ceil(K / 128);
  const p0 = pa;
  const p1 = p0 + K;
  const p2 = p1 + K;
  const p3 = p2 + K;
  const sa0 = row * Kb;
  const sa1 = sa0 + Kb;
  const sa2 = sa1 + Kb;
  const sa3 = sa2 + Kb;
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let j = 0; j < Kb; j++) {
    const k0 = j * 128;
    const k1 = Math.min(k0 + 128, K);
    let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
    for (let k = k0; k < k1; k++) {
      const b0 = bF[k]!, b1 = bF[K + k]!, b2 = bF[2 * K + k]!, b3 = bF[3 * K + k]!;
      const x0 = aF[p0 + k]!;
      s00 += x0 * b0; s01 += x0 * b1; s02 += x0 * b2; s03 += x0 * b3;
      const x1 = aF[p1 + k]!;
      s10 += x1 * b0; s11 += x1 * b1; s12 += x1 * b2; s13 += x1 * b3;
      const x2 = aF[p2 + k]!;
      s20 += x2 * b0; s21 += x2 * b1; s22 += x2 * b2; s23 += x2 * b3;
      const x3 = aF[p3 + k]!;
      s30 += x3 * b0; s31 += x3 * b1; s32 += x3 * b2; s33 += x3 * b3;
    }
    const a0 = aScale[sa0 + j]!, a1 = aScale[sa1 + j]!, a2 = aScale[sa2 + j]!, a3 = aScale[sa3 + j]!;
    const w0 = bScale[sb0 + j]!, w1 = bScale[sb1 + j]!, w2 = bScale[sb2 + j]!, w3 = bScale[sb3 + j]!;
    c00 = fround(c00 + fround(fround(a0 * w0) * s00)); c01 = fround(c01 + fround(fround(a0 * w1) * s01));
    c02 = fround(c02 + fround(fround(a0 * w2) * s02)); c03 = fround(c03 + fround(fround(a0 * w3) * s03));
    c10 = fround(c10 + fround(fround(a1 * w0) * s10)); c11 = fround(c11 + fround(fround(a1 * w1) * s11));
    c12 = fround(c12 + fround(fround(a1 * w2) * s12)); c13 = fround(c13 + fround(fround(a1 * w3) * s13));
    c20 = fround(c20 + fround(fround(a2 * w0) * s20)); c21 = fround(c21 + fround(fround(a2 * w1) * s21));
    c22 = fround(c22 + fround(fround(a2 * w2) * s22)); c23 = fround(c23 + fround(fround(a2 * w3) * s23));
    c30 = fround(c30 + fround(fround(a3 * w0) * s30)); c31 = fround(c31 + fround(fround(a3 * w1) * s31));
    c32 = fround(c32 + fround(fround(a3 * w2) * s32)); c33 = fround(c33 + fround(fround(a3 * w3) * s33));
  }
  const o0 = row * N + n;
  const o1 = o0 + N;
  const o2 = o1 + N;
  const o3 = o2 + N;
  out[o0] = encodeBf16(c00); out[o0 + 1] = encodeBf16(c01); out[o0 + 2] = encodeBf16(c02); out[o0 + 3] = encodeBf16(c03);
  out[o1] = encodeBf16(c10); out[o1 + 1] = encodeBf16(c11); out[o1 + 2] = encodeBf16(c12); out[o1 + 3] = encodeBf16(c13);
  out[o2] = encodeBf16(c20); out[o2 + 1] = encodeBf16(c21); out[o2 + 2] = encodeBf16(c22); out[o2 + 3] = encodeBf16(c23);
  out[o3] = encodeBf16(c30); out[o3 + 1] = encodeBf16(c31); out[o3 + 2] = encodeBf16(c32); out[o3 + 3] = encodeBf16(c33);
}


/** 1–3 token rows against weight rows [n0, n1): the weight codes go through the decode table in the inner loop. */
function thinRows(job: GemmJob, aF: Float64Array, r0: number, rows: number, bBase: number, sbBase: number, n0: number, n1: number): void {
  const { b, aScale, bScale, out, K, N } = job;
  const Kb = Math.ceil(K / 128);
  const T = F64_DECODE;
  const p1 = rows > 1 ? K : 0;
  const p2 = rows > 2 ? 2 * K : 0;
  const sa0 = r0 * Kb;
  const sa1 = rows > 1 ? sa0 + Kb : sa0;
  const sa2 = rows > 2 ? sa0 + 2 * Kb : sa0;
  for (let n = n0; n < n1; n++) {
    const q = bBase + n * K;
    const sb = sbBase + (n >> 7) * Kb;
    let c0 = 0, c1 = 0, c2 = 0;
    for (let j = 0; j < Kb; j++) {
      const k0 = j * 128;
      const k1 = Math.min(k0 + 128, K);
      let s0 = 0, s1 = 0, s2 = 0;
      // rows beyond `rows` alias row 0 (p = 0): computed and discarded, cheaper than three loop variants
      for (let k = k0; k < k1; k++) {
        const w = T[b[q + k]!]!;
        s0 += aF[k]! * w;
        s1 += aF[p1 + k]! * w;
        s2 += aF[p2 + k]! * w;
      }
      const w = bScale[sb + j]!;
      c0 = fround(c0 + fround(fround(aScale[sa0 + j]! * w) * s0));
      c1 = fround(c1 + fround(fround(aScale[sa1 + j]! * w) * s1));
      c2 = fround(c2 + fround(fround(aScale[sa2 + j]! * w) * s2));
    }
    out[r0 * N + n] = encodeBf16(c0);
    if (rows > 1) out[(r0 + 1) * N + n] = encodeBf16(c1);
    if (rows > 2) out[(r0 + 2) * N + n] = encodeBf16(c2);
  }
}

/** One unit: rows [r0, r1) of expert e against output columns [n0, n1). */
export function computeUnit(job: GemmJob, e: number, r0: number, r1: number, n0: number, n1: number, scratch: Scratch): void {
  const { a, aScale, b, bScale, out, K, N } = job;
  const Kb = Math.ceil(K / 128);
  const Nb = Math.ceil(N / 128);
  const rows = r1 - r0;
  if (scratch.aF.length < rows * K) scratch.aF = new Float64Array(rows * K);
  if (scratch.bF.length < 4 * K) scratch.bF = new Float64Array(4 * K);
  const aF = scratch.aF;
  const bF = scratch.bF;
  decodeInto(a, r0 * K, rows * K, aF, 0);
  const bBase = e * N * K;
  const sbBase = e * Nb * Kb;
  if (rows < 4) {
    // decode-bound (a DeepSeek EP rank sees ~2 rows per expert): each weight byte is used by at most 3 rows, so
    // look it up in the table inside the dot instead of decoding it to scratch first (saves a store and a load)
    thinRows(job, aF, r0, rows, bBase, sbBase, n0, n1);
    return;
  }
  let n = n0;
  for (; n + 4 <= n1; n += 4) {
    decodeInto(b, bBase + n * K, 4 * K, bF, 0);
    const sb0 = sbBase + (n >> 7) * Kb;
    const sb1 = sbBase + ((n + 1) >> 7) * Kb;
    const sb2 = sbBase + ((n + 2) >> 7) * Kb;
    const sb3 = sbBase + ((n + 3) >> 7) * Kb;
    let r = 0;
    for (; r + 4 <= rows; r += 4) {
      tile4x4(job, aF, bF, r0 + r, r * K, n, sb0, sb1, sb2, sb3);
    }
    // leftover rows (fewer than 4): one row × 4 columns
    for (; r < rows; r++) {
      const p = r * K;
      const sa = (r0 + r) * Kb;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let j = 0; j < Kb; j++) {
        const k0 = j * 128;
        const k1 = Math.min(k0 + 128, K);
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let k = k0; k < k1; k++) {
          const x = aF[p + k]!;
          s0 += x * bF[k]!; s1 += x * bF[K + k]!; s2 += x * bF[2 * K + k]!; s3 += x * bF[3 * K + k]!;
        }
        const av = aScale[sa + j]!;
        c0 = fround(c0 + fround(fround(av * bScale[sb0 + j]!) * s0));
        c1 = fround(c1 + fround(fround(av * bScale[sb1 + j]!) * s1));
        c2 = fround(c2 + fround(fround(av * bScale[sb2 + j]!) * s2));
        c3 = fround(c3 + fround(fround(av * bScale[sb3 + j]!) * s3));
      }
      const o = (r0 + r) * N + n;
      out[o] = encodeBf16(c0); out[o + 1] = encodeBf16(c1); out[o + 2] = encodeBf16(c2); out[o + 3] = encodeBf16(c3);
    }
  }
  // leftover columns (N not a multiple of 4): the plain loop
  for (; n < n1; n++) {
    decodeInto(b, bBase + n * K, K, bF, 0);
    const sb = sbBase + (n >> 7) * Kb;
    for (let r = 0; r < rows; r++) {
      let c = 0;
      for (let j = 0; j < Kb; j++) {
        const k0 = j * 128;
        const k1 = Math.min(k0 + 128, K);
        let s = 0;
        for (let k = k0; k < k1; k++) s += aF[r * K + k]! * bF[k]!;
        c = fround(c + fround(fround(aScale[(r0 + r) * Kb + j]! * bScale[sb + j]!) * s));
      }
      out[(r0 + r) * N + n] = encodeBf16(c);
    }
  }
}
