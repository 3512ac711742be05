/**
 * M-grouped FP8 GEMMs, NT (spec §5, layout-spec.md §5.7), the CPU reference of DeepGEMM's
 * m_grouped_fp8_gemm_nt_contiguous / _masked:
 *   out[r, n] = Σ_j fl(a_scale[r, j] · b_scale[e, ⌊n/128⌋, j]) · Σ_{k ∈ block j} a[r, k] · b[e, n, k],  e = expert of r,
 * float32 accumulation across K-blocks, BF16 output, padding rows (m_indices −1) skipped and left 0.
 *
 * Numerics: a product of two E4M3 values has ≤ 8 significant bits and is a multiple of 2^−18 below 2^18, so the sum
 * of one 128-element block is exact in float64 whatever the order. Only the per-block scaling and the float32
 * accumulation across blocks round, and every kernel here does those in the same order — so the threaded, blocked
 * kernel and the naive loop agree bit for bit.
 *
 * The fast path runs on worker threads (kernels/ops/gemmWorker.ts) over SharedArrayBuffers: units of
 * (expert, rows, 128 output columns) are handed out through an atomic counter; each unit decodes 4 weight rows to
 * float64 once and reuses them for every 4-row tile of the expert's tokens (4×4 register tile).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { Tensor } from '../tensor';
import { MoeError, shapeStr } from '../errors';
import { E4M3_DECODE } from '../dtypes/fp8e4m3';
import { encodeBf16 } from '../dtypes/bf16';

export interface GemmOptions {
  /** worker threads; default os.availableParallelism(); 1 = compute on the calling thread */
  threads?: number;
  signal?: AbortSignal;
}

/** A zero-filled byte array on shared memory (worker threads read it without a copy). */
export function sharedBytes(n: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(n));
}

const isShared = (a: ArrayBufferView): boolean => a.buffer instanceof SharedArrayBuffer;

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
}

const F64_DECODE = Float64Array.from(E4M3_DECODE);
const fround = Math.fround;

interface Scratch {
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
function computeUnit(job: GemmJob, e: number, r0: number, r1: number, n0: number, n1: number, scratch: Scratch): void {
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

/** Runs units until the counter passes the end or the cancel flag is set. Used by the workers and inline. */
export function runUnits(job: GemmJob): void {
  const scratch: Scratch = { aF: new Float64Array(0), bF: new Float64Array(0) };
  const nUnits = job.units.length / 5;
  for (;;) {
    if (Atomics.load(job.control, 1) !== 0) return;
    const u = Atomics.add(job.control, 0, 1);
    if (u >= nUnits) return;
    const o = u * 5;
    computeUnit(job, job.units[o]!, job.units[o + 1]!, job.units[o + 2]!, job.units[o + 3]!, job.units[o + 4]!, scratch);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// worker pool

interface PoolWorker {
  worker: Worker;
  pending?: { resolve: () => void; reject: (e: Error) => void };
}

let pool: PoolWorker[] = [];
let queue: Promise<unknown> = Promise.resolve();

/** The bundled worker (dist/gemmWorker.js beside the bundle), or the TypeScript source through tsx's CJS hook. */
function spawnWorker(): Worker {
  const js = join(__dirname, 'gemmWorker.js');
  if (existsSync(js)) return new Worker(js);
  const ts = join(__dirname, 'gemmWorker.ts');
  if (existsSync(ts)) {
    const tsx = createRequire(__filename).resolve('tsx/cjs');
    return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(ts)});`, { eval: true });
  }
  throw new MoeError('E_BACKEND', `grouped GEMM: worker entry not found (looked for ${js} and ${ts}); run the build (npm run build)`);
}

function dropPool(): void {
  for (const p of pool) void p.worker.terminate();
  pool = [];
}

function ensurePool(n: number): PoolWorker[] {
  while (pool.length < n) {
    const pw: PoolWorker = { worker: spawnWorker() };
    pw.worker.unref();
    pw.worker.on('message', (m: { ok: boolean; error?: string }) => {
      const p = pw.pending;
      pw.pending = undefined;
      pw.worker.unref();
      if (!p) return;
      if (m.ok) p.resolve();
      else p.reject(new MoeError('E_BACKEND', `grouped GEMM worker failed: ${m.error ?? 'unknown error'}`));
    });
    pw.worker.on('error', (err) => {
      const p = pw.pending;
      pw.pending = undefined;
      pool = pool.filter((x) => x !== pw);
      p?.reject(new MoeError('E_BACKEND', `grouped GEMM worker crashed: ${err.message}`));
    });
    pool.push(pw);
  }
  return pool.slice(0, n);
}

/** Terminates the worker threads (tests and the CLI call this to exit promptly; they are unref'd anyway). */
export function shutdownGemmWorkers(): void {
  dropPool();
}

function runOnWorkers(job: GemmJob, threads: number): Promise<void> {
  const workers = ensurePool(threads);
  return Promise.all(
    workers.map(
      (pw) =>
        new Promise<void>((resolve, reject) => {
          pw.pending = { resolve, reject };
          pw.worker.ref();
          pw.worker.postMessage(job);
        }),
    ),
  ).then(
    () => undefined,
    (e: unknown) => {
      // a crashed or failed worker leaves the others mid-job: stop them and start fresh next time
      Atomics.store(job.control, 1, 1);
      dropPool();
      throw e;
    },
  );
}

async function execute(job: GemmJob, opts: GemmOptions): Promise<void> {
  const signal = opts.signal;
  if (signal?.aborted) throw new MoeError('E_CANCELLED', 'grouped GEMM cancelled before it started');
  const threads = Math.max(1, Math.floor(opts.threads ?? availableParallelism()));
  const onAbort = (): void => {
    Atomics.store(job.control, 1, 1);
  };
  signal?.addEventListener('abort', onAbort);
  try {
    if (threads === 1) runUnits(job);
    else {
      // one job at a time on the shared pool; a second caller waits its turn
      const mine = queue.then(() => runOnWorkers(job, threads));
      queue = mine.catch(() => undefined);
      await mine;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (Atomics.load(job.control, 1) !== 0 || signal?.aborted) throw new MoeError('E_CANCELLED', 'grouped GEMM cancelled');
}

// ---------------------------------------------------------------------------------------------------------------
// argument checks and preparation shared by both layouts

interface Operands {
  K: number;
  N: number;
  E: number;
}

function checkB(b: Tensor<'f8e4m3fn'>, bScale: Tensor<'f32'>, K: number, bName: string): Operands {
  if (b.dtype !== 'f8e4m3fn') throw new MoeError('E_DTYPE', `${bName}: expected dtype f8e4m3fn, got ${b.dtype}`, bName);
  if (b.rank !== 3 || b.shape[2] !== K)
    throw new MoeError('E_SHAPE', `${bName}: expected shape [E, N, ${K}] (K must match A), got ${shapeStr(b.shape)}`, bName);
  const [E, N] = b.shape as [number, number, number];
  const sName = `${bName}_scale_inv`;
  if (bScale.dtype !== 'f32') throw new MoeError('E_DTYPE', `${sName}: expected dtype f32, got ${bScale.dtype}`, sName);
  const exp = [E, Math.ceil(N / 128), Math.ceil(K / 128)];
  if (bScale.rank !== 3 || bScale.shape.some((d, i) => d !== exp[i]))
    throw new MoeError('E_SHAPE', `${sName}: expected shape ${shapeStr(exp)} (E, ⌈N/128⌉, ⌈K/128⌉), got ${shapeStr(bScale.shape)}`, sName);
  return { K, N, E };
}

/** Rows × cols of a tensor with any strides, gathered into a dense row-major float32 array on shared memory. */
function denseShared(t: Tensor<'f32'>, rows: number, cols: number, at: (r: number, c: number) => number): Float32Array {
  const out = new Float32Array(new SharedArrayBuffer(Math.max(1, rows * cols) * 4));
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = t.storage[at(r, c)]!;
  return out;
}

/** A contiguous K-major view of the FP8 data on shared memory (copied only when it is not one already). */
function sharedRows(t: Tensor<'f8e4m3fn'>): Uint8Array {
  if (t.isContiguous() && isShared(t.storage)) return t.storage.subarray(t.offset, t.offset + t.numel);
  const c = t.contiguous();
  const out = sharedBytes(Math.max(1, c.numel));
  out.set(c.storage.subarray(0, c.numel));
  return out;
}

/**
 * Weights and their scales for the experts that have rows. A shared contiguous weight tensor is used in place;
 * otherwise only the active experts' slices are copied (never the whole tensor), and units are renumbered.
 */
function sharedWeights(b: Tensor<'f8e4m3fn'>, bScale: Tensor<'f32'>, ops: Operands, active: number[]): { b: Uint8Array; bScale: Float32Array; remap: Int32Array } {
  const { E, N, K } = ops;
  const Nb = Math.ceil(N / 128);
  const Kb = Math.ceil(K / 128);
  const slice = N * K;
  const remap = new Int32Array(E).fill(-1);
  let data: Uint8Array;
  if (b.isContiguous() && isShared(b.storage)) {
    data = b.storage.subarray(b.offset, b.offset + b.numel);
    for (let e = 0; e < E; e++) remap[e] = e;
  } else {
    data = sharedBytes(Math.max(1, active.length * slice));
    active.forEach((e, i) => {
      remap[e] = i;
      if (b.isContiguous()) data.set(b.storage.subarray(b.offset + e * slice, b.offset + (e + 1) * slice), i * slice);
      else b.slice(0, e, e + 1).forEachIndex((s, l) => (data[i * slice + l] = b.storage[s]!));
    });
  }
  const scales = new Float32Array(new SharedArrayBuffer(Math.max(1, E * Nb * Kb) * 4));
  for (let e = 0; e < E; e++) {
    const to = remap[e]!;
    if (to < 0) continue;
    for (let i = 0; i < Nb; i++)
      for (let j = 0; j < Kb; j++) scales[(to * Nb + i) * Kb + j] = bScale.storage[bScale.index(e, i, j)]!;
  }
  return { b: data, bScale: scales, remap };
}

/** runs: [expert, r0, r1] with r1 > r0 */
function buildJob(
  aRows: Uint8Array,
  aScaleDense: Float32Array,
  rowsTotal: number,
  runs: number[][],
  b: Tensor<'f8e4m3fn'>,
  bScale: Tensor<'f32'>,
  ops: Operands,
): GemmJob {
  const active = [...new Set(runs.map((r) => r[0]!))].sort((x, y) => x - y);
  const w = sharedWeights(b, bScale, ops, active);
  const units: number[] = [];
  // 128 output columns per unit: one scale block of N, enough units to balance two or more threads
  for (const [e, r0, r1] of runs)
    for (let n0 = 0; n0 < ops.N; n0 += 128) units.push(w.remap[e!]!, r0!, r1!, n0, Math.min(n0 + 128, ops.N));
  const unitArr = new Int32Array(new SharedArrayBuffer(Math.max(1, units.length) * 4));
  unitArr.set(units);
  return {
    a: aRows,
    aScale: aScaleDense,
    b: w.b,
    bScale: w.bScale,
    out: new Uint16Array(new SharedArrayBuffer(Math.max(1, rowsTotal * ops.N) * 2)),
    units: unitArr.subarray(0, units.length),
    control: new Int32Array(new SharedArrayBuffer(8)),
    K: ops.K,
    N: ops.N,
  };
}

function checkA(a: Tensor<'f8e4m3fn'>, aScale: Tensor<'f32'>, rank: number, aName: string): number {
  if (a.dtype !== 'f8e4m3fn') throw new MoeError('E_DTYPE', `${aName}: expected dtype f8e4m3fn, got ${a.dtype}`, aName);
  if (a.rank !== rank) throw new MoeError('E_SHAPE', `${aName}: expected ${rank} dims, got ${shapeStr(a.shape)}`, aName);
  const K = a.shape[rank - 1]!;
  if (K === 0) throw new MoeError('E_SHAPE', `${aName}: K must be positive, got ${shapeStr(a.shape)}`, aName);
  const sName = `${aName}_scale`;
  if (aScale.dtype !== 'f32') throw new MoeError('E_DTYPE', `${sName}: expected dtype f32, got ${aScale.dtype}`, sName);
  const exp = [...a.shape.slice(0, rank - 1), Math.ceil(K / 128)];
  if (aScale.rank !== rank || aScale.shape.some((d, i) => d !== exp[i]))
    throw new MoeError('E_SHAPE', `${sName}: expected shape ${shapeStr(exp)} (one scale per row and 128-column block), got ${shapeStr(aScale.shape)}`, sName);
  return K;
}

/** Consecutive rows with the same non-negative expert id form one run. */
function runsOf(mIdx: Int32Array, E: number): number[][] {
  const runs: number[][] = [];
  let r = 0;
  while (r < mIdx.length) {
    const e = mIdx[r]!;
    if (e < 0) {
      if (e !== -1) throw new MoeError('E_VALUE', `m_indices: row ${r} holds ${e}; expected −1 (padding) or an expert id in 0…${E - 1}`, 'm_indices');
      r++;
      continue;
    }
    if (e >= E) throw new MoeError('E_RANGE', `m_indices: row ${r} holds expert ${e} but B has ${E} experts`, 'm_indices');
    let end = r + 1;
    while (end < mIdx.length && mIdx[end] === e) end++;
    runs.push([e, r, end]);
    r = end;
  }
  return runs;
}

function checkMIndices(mIndices: Tensor<'i32'>, M: number): Int32Array {
  if (mIndices.dtype !== 'i32') throw new MoeError('E_DTYPE', `m_indices: expected dtype i32, got ${mIndices.dtype}`, 'm_indices');
  if (mIndices.rank !== 1 || mIndices.shape[0] !== M)
    throw new MoeError('E_SHAPE', `m_indices: expected shape [${M}] (one entry per row of A), got ${shapeStr(mIndices.shape)}`, 'm_indices');
  const c = mIndices.contiguous();
  return c.storage.subarray(c.offset, c.offset + M);
}

/** a (M, K) fp8, aScale (M, ⌈K/128⌉) f32 any strides, b (E, N, K), bScale (E, ⌈N/128⌉, ⌈K/128⌉), mIndices (M,) → (M, N) bf16 */
export async function groupedGemmContiguous(
  a: Tensor<'f8e4m3fn'>,
  aScale: Tensor<'f32'>,
  b: Tensor<'f8e4m3fn'>,
  bScale: Tensor<'f32'>,
  mIndices: Tensor<'i32'>,
  opts: GemmOptions = {},
): Promise<Tensor<'bf16'>> {
  const K = checkA(a, aScale, 2, a.name || 'a');
  const ops = checkB(b, bScale, K, b.name || 'b');
  const M = a.shape[0]!;
  const mIdx = checkMIndices(mIndices, M);
  const runs = runsOf(mIdx, ops.E);
  if (M === 0 || runs.length === 0) return Tensor.zeros('bf16', [M, ops.N]);
  const Kb = Math.ceil(K / 128);
  const aS = denseShared(aScale, M, Kb, (r, j) => aScale.offset + r * aScale.strides[0]! + j * aScale.strides[1]!);
  const job = buildJob(sharedRows(a), aS, M, runs, b, bScale, ops);
  await execute(job, opts);
  return new Tensor('bf16', [M, ops.N], job.out);
}

/** a (E_l, maxM, K), aScale (E_l, maxM, ⌈K/128⌉) any strides, masked_m (E_l,) → (E_l, maxM, N) bf16; rows ≥ masked_m[e] are 0 */
export async function groupedGemmMasked(
  a: Tensor<'f8e4m3fn'>,
  aScale: Tensor<'f32'>,
  b: Tensor<'f8e4m3fn'>,
  bScale: Tensor<'f32'>,
  maskedM: Int32Array,
  opts: GemmOptions = {},
): Promise<Tensor<'bf16'>> {
  const K = checkA(a, aScale, 3, a.name || 'a');
  const ops = checkB(b, bScale, K, b.name || 'b');
  const [G, maxM] = a.shape as [number, number, number];
  if (G !== ops.E) throw new MoeError('E_SHAPE', `masked GEMM: A has ${G} groups but B has ${ops.E} experts`, a.name || 'a');
  if (maskedM.length !== G) throw new MoeError('E_SHAPE', `masked_m: expected shape [${G}], got [${maskedM.length}]`, 'masked_m');
  const runs: number[][] = [];
  for (let g = 0; g < G; g++) {
    const m = maskedM[g]!;
    if (!Number.isInteger(m) || m < 0 || m > maxM)
      throw new MoeError('E_RANGE', `masked_m: group ${g} has ${m} rows; expected 0…${maxM} (the per-expert capacity)`, 'masked_m');
    if (m > 0) runs.push([g, g * maxM, g * maxM + m]);
  }
  if (runs.length === 0) return Tensor.zeros('bf16', [G, maxM, ops.N]);
  const Kb = Math.ceil(K / 128);
  const aS = denseShared(aScale, G * maxM, Kb, (r, j) => aScale.index(Math.floor(r / maxM), r % maxM, j));
  const job = buildJob(sharedRows(a), aS, G * maxM, runs, b, bScale, ops);
  await execute(job, opts);
  return new Tensor('bf16', [G, maxM, ops.N], job.out);
}

/**
 * The plain triple loop on the calling thread: the benchmark's baseline and the tests' second opinion. Same
 * numerics as the fast kernel (exact block sums, float32 scaling in block order).
 */
export function groupedGemmNaive(
  a: Tensor<'f8e4m3fn'>,
  aScale: Tensor<'f32'>,
  b: Tensor<'f8e4m3fn'>,
  bScale: Tensor<'f32'>,
  mIndices: Tensor<'i32'>,
): Tensor<'bf16'> {
  const K = checkA(a, aScale, 2, a.name || 'a');
  const { N, E } = checkB(b, bScale, K, b.name || 'b');
  const M = a.shape[0]!;
  const mIdx = checkMIndices(mIndices, M);
  const out = new Uint16Array(M * N);
  const Kb = Math.ceil(K / 128);
  const [as0, as1] = a.strides as [number, number];
  const [bs0, bs1, bs2] = b.strides as [number, number, number];
  for (let r = 0; r < M; r++) {
    const e = mIdx[r]!;
    if (e < 0) continue;
    if (e >= E) throw new MoeError('E_RANGE', `m_indices: row ${r} holds expert ${e} but B has ${E} experts`, 'm_indices');
    const aRow = a.offset + r * as0;
    for (let n = 0; n < N; n++) {
      const bRow = b.offset + e * bs0 + n * bs1;
      let acc = 0;
      for (let j = 0; j < Kb; j++) {
        let s = 0;
        const kEnd = Math.min(j * 128 + 128, K);
        for (let k = j * 128; k < kEnd; k++) s += F64_DECODE[a.storage[aRow + k * as1]!]! * F64_DECODE[b.storage[bRow + k * bs2]!]!;
        const f = fround(aScale.storage[aScale.index(r, j)]! * bScale.storage[bScale.index(e, n >> 7, j)]!);
        acc = fround(acc + fround(f * s));
      }
      out[r * N + n] = encodeBf16(acc);
    }
  }
  return new Tensor('bf16', [M, N], out);
}
