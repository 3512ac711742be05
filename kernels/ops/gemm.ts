/**
 * M-grouped FP8 GEMMs, NT (docs/layouts-and-stages.md §5, docs/layouts-and-stages.md §5.7), the CPU reference of DeepGEMM's
 * m_grouped_fp8_gemm_nt_contiguous / _masked:
 *   out[r, n] = Σ_j fl(a_scale[r, j] · b_scale[e, ⌊n/128⌋, j]) · Σ_{k ∈ block j} a[r, k] · b[e, n, k],  e = expert of r,
 * float32 accumulation across K-blocks, BF16 output, padding rows (m_indices −1) skipped and left 0.
 *
 * Numerics: a product of two E4M3 values has ≤ 8 significant bits and is a multiple of 2^−18 below 2^18, so the sum
 * of one 128-element block is exact in float64 whatever the order. Only the per-block scaling and the float32
 * accumulation across blocks round, and every kernel here does those in the same order — so the threaded, blocked
 * kernel and the naive loop agree bit for bit.
 *
 * This module is the API (argument checks, operands on shared memory, contiguous and masked layouts, the naive
 * loop); the kernels are WebAssembly SIMD (gemmWasm.ts over kernels/wasm/gemmUnit.ts) with a scalar TypeScript
 * fallback (gemmKernel.ts) where WebAssembly SIMD cannot run, the work loop gemmUnits.ts, the worker pool gemmPool.ts.
 */
import { Tensor } from '../tensor';
import { MoeError, shapeStr } from '../errors';
import { encodeBf16 } from '../dtypes/bf16';
import { F64_DECODE, type GemmJob } from './gemmKernel';
import { execute, type GemmOptions } from './gemmPool';
import { kernelWasm } from './gemmWasmModule';
import { sharedBytes } from './sharedMemory';
import { expertPagesOf, PAGING, type ExpertPages } from '../expertPages';

const fround = Math.fround;

export type { GemmJob } from './gemmKernel';
export { runUnits } from './gemmUnits';
export { shutdownGemmWorkers, type GemmOptions } from './gemmPool';

export { sharedBytes };

const isShared = (a: ArrayBufferView): boolean => a.buffer instanceof SharedArrayBuffer;

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
 * `batch`: the active experts' codes already made, in order (weights made per expert: runJobs fills each batch).
 */
function sharedWeights(b: Tensor<'f8e4m3fn'>, bScale: Tensor<'f32'>, ops: Operands, active: number[], batch?: Uint8Array): { b: Uint8Array; bScale: Float32Array; remap: Int32Array } {
  const { E, N, K } = ops;
  const Nb = Math.ceil(N / 128);
  const Kb = Math.ceil(K / 128);
  const slice = N * K;
  const remap = new Int32Array(E).fill(-1);
  let data: Uint8Array;
  if (batch) {
    data = batch;
    active.forEach((e, i) => (remap[e] = i));
  } else if (b.isContiguous() && isShared(b.storage)) {
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

let warned = false;

/** The WebAssembly SIMD kernels unless the caller asked for the scalar one; where they cannot run, one warning per process. */
const wasmIds = new WeakMap<WebAssembly.Module, number>();
let nextWasmId = 1;

function wasmFor(opts: GemmOptions): GemmJob['wasm'] {
  if (opts.kernel === 'scalar') return undefined;
  const k = kernelWasm();
  if ('module' in k) {
    let id = wasmIds.get(k.module);
    if (id === undefined) wasmIds.set(k.module, (id = nextWasmId++));
    return { module: k.module, id };
  }
  if (!warned) console.warn(`grouped GEMM: WebAssembly SIMD kernel unavailable (${k.reason}); using the scalar TypeScript kernel`);
  warned = true;
  return undefined;
}

/** One grouped GEMM: dense A rows and scales on shared memory, the row runs [expert, r0, r1) (r1 > r0), and B. */
interface GemmCall {
  aRows: Uint8Array;
  aScaleDense: Float32Array;
  rowsTotal: number;
  runs: number[][];
  b: Tensor<'f8e4m3fn'>;
  bScale: Tensor<'f32'>;
  ops: Operands;
  opts: GemmOptions;
}

/** The job for `runs`: all of the call's, or one batch of experts' (writing into `reuse.out`, shared by the batches). */
function buildJob(c: GemmCall, runs: number[][], reuse: { out?: Uint16Array; batch?: Uint8Array } = {}): GemmJob {
  const { ops } = c;
  const active = [...new Set(runs.map((r) => r[0]!))].sort((x, y) => x - y);
  const w = sharedWeights(c.b, c.bScale, ops, active, reuse.batch);
  const units: number[] = [];
  // 128 output columns per unit: one scale block of N, enough units to balance two or more threads
  for (const [e, r0, r1] of runs)
    for (let n0 = 0; n0 < ops.N; n0 += 128) units.push(w.remap[e!]!, r0!, r1!, n0, Math.min(n0 + 128, ops.N));
  const unitArr = new Int32Array(new SharedArrayBuffer(Math.max(1, units.length) * 4));
  unitArr.set(units);
  return {
    a: c.aRows,
    aScale: c.aScaleDense,
    b: w.b,
    bScale: w.bScale,
    out: reuse.out ?? new Uint16Array(new SharedArrayBuffer(Math.max(1, c.rowsTotal * ops.N) * 2)),
    units: unitArr.subarray(0, units.length),
    control: new Int32Array(new SharedArrayBuffer(8)),
    K: ops.K,
    N: ops.N,
    wasm: wasmFor(c.opts),
  };
}

/**
 * The batch buffer of weights made per expert, kept between GEMM calls: GEMM 1 and GEMM 2 of a run (and the next
 * run) reuse it instead of paying a fresh buffer's first-touch page faults each (10–50 µs per 4 KiB page on a small
 * VM: ~0.1 s per 32 MB). A call takes it while it runs; a call running beside it makes its own.
 */
let spareBatch: Uint8Array | undefined;

function takeBatch(bytes: number): Uint8Array {
  const b = spareBatch && spareBatch.length >= bytes ? spareBatch : sharedBytes(bytes);
  if (b === spareBatch) spareBatch = undefined;
  return b;
}

function returnBatch(b: Uint8Array): void {
  if (!spareBatch || b.length > spareBatch.length) spareBatch = b;
}

/**
 * Builds and runs the GEMM's job(s): one for ordinary weights; for weights made per expert, one per batch of about
 * PAGING.batchBytes of experts, one after the other, into one output. Each output row belongs to one expert, so
 * batching changes no value.
 */
async function runJobs(c: GemmCall): Promise<Uint16Array> {
  const pages = expertPagesOf(c.b);
  if (!pages) {
    const job = buildJob(c, c.runs);
    await execute(job, c.opts);
    return job.out;
  }
  const slice = c.ops.N * c.ops.K;
  const perBatch = Math.max(1, Math.floor(PAGING.batchBytes / slice));
  const experts = [...new Set(c.runs.map((r) => r[0]!))].sort((x, y) => x - y);
  // one batch buffer, refilled once the workers are done with it: fresh memory per batch would cost its page faults
  // again each time and leave the garbage collector a batch of garbage per batch to find
  const weights = takeBatch(Math.max(1, Math.min(experts.length, perBatch) * slice));
  try {
    return await runBatches(c, pages, experts, perBatch, slice, weights);
  } finally {
    returnBatch(weights);
  }
}

async function runBatches(c: GemmCall, pages: ExpertPages, experts: number[], perBatch: number, slice: number, weights: Uint8Array): Promise<Uint16Array> {
  let out: Uint16Array | undefined;
  for (let i = 0; i < experts.length; i += perBatch) {
    if (c.opts.signal?.aborted) throw new MoeError('E_CANCELLED', `grouped GEMM cancelled after ${i} of ${experts.length} experts`);
    const ids = experts.slice(i, i + perBatch);
    // the batch's experts in the order sharedWeights numbers them, made together where the source can (synthetic
    // codes on the worker threads)
    const fills = ids.map((e, j) => ({ e, dst: weights.subarray(j * slice, (j + 1) * slice) }));
    if (pages.fillMany) await pages.fillMany(fills);
    else for (const f of fills) pages.fill(f.e, f.dst);
    const inBatch = new Set(ids);
    const job = buildJob(c, c.runs.filter((r) => inBatch.has(r[0]!)), { ...(out ? { out } : {}), batch: weights.subarray(0, Math.max(1, ids.length * slice)) });
    out = job.out;
    await execute(job, c.opts);
  }
  return out!;
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
  return new Tensor('bf16', [M, ops.N], await runJobs({ aRows: sharedRows(a), aScaleDense: aS, rowsTotal: M, runs, b, bScale, ops, opts }));
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
  return new Tensor('bf16', [G, maxM, ops.N], await runJobs({ aRows: sharedRows(a), aScaleDense: aS, rowsTotal: G * maxM, runs, b, bScale, ops, opts }));
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
