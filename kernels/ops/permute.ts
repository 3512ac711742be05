/**
 * Token permutation for the M-grouped GEMMs (docs/layouts-and-stages.md §5, docs/layouts-and-stages.md §5–§6).
 * - `expertMapFor`: vLLM's determine_expert_map (global → local id, −1 = another rank's expert).
 * - `planPermutation`: counts, 128-row-aligned segments, m_indices (−1 padding), inv_perm, row → pair map.
 * - `permuteRows`: gathers the quantized token rows and their row-major scales into the contiguous layout.
 * - `maskedLayout`: the DeepEP low-latency (E_l, maxM, K) layout with masked_m.
 */
import { Tensor } from '../tensor';
import { MoeError, shapeStr } from '../errors';
import type { ExpertParallel } from '../spec';
import { sharedBytes } from './sharedMemory';

/**
 * vLLM determine_expert_map. Linear: base = ⌊E/ep⌋, the first E mod ep ranks get one more expert (the code gives the
 * remainder to the first ranks although its docstring says the last). Round-robin: rank r owns r, r+ep, r+2ep, …
 * Local ids are assigned in increasing global order in both cases.
 */
export function expertMapFor(numExperts: number, ep: ExpertParallel): Int32Array {
  const { size, rank, strategy } = ep;
  if (!Number.isInteger(numExperts) || numExperts <= 0)
    throw new MoeError('E_SPEC', `expert_map: number of experts must be a positive integer, got ${numExperts}`, 'expert_map');
  if (!Number.isInteger(size) || size < 1 || size > numExperts)
    throw new MoeError('E_SPEC', `expert_map: expert-parallel size must be an integer in 1…${numExperts} (experts), got ${size}`, 'expert_map');
  if (!Number.isInteger(rank) || rank < 0 || rank >= size)
    throw new MoeError('E_SPEC', `expert_map: rank must be an integer in 0…${size - 1}, got ${rank}`, 'expert_map');
  const map = new Int32Array(numExperts).fill(-1);
  if (strategy === 'round_robin') {
    let local = 0;
    for (let g = rank; g < numExperts; g += size) map[g] = local++;
  } else {
    const base = Math.floor(numExperts / size);
    const rem = numExperts % size;
    const count = base + (rank < rem ? 1 : 0);
    const start = rank * base + Math.min(rank, rem);
    for (let i = 0; i < count; i++) map[start + i] = i;
  }
  return map;
}

export interface PermutePlan {
  /** local experts E_l (columns of counts) */
  numLocal: number;
  /** routed (token, slot) pairs per local expert */
  counts: Int32Array;
  /** first row of each local expert's segment */
  segmentStart: Int32Array;
  /** Σ align(count, blockM): the exact M_sum */
  mSum: number;
  /** (M_sum,) local expert of each row, −1 on padding rows */
  mIndices: Tensor<'i32'>;
  /** (M, k) row holding pair (t, s), −1 when the pair's expert is not local (or the id is −1) */
  invPerm: Tensor<'i32'>;
  /** row → t·k + s, −1 for padding rows */
  rowPair: Int32Array;
  /** tokens M and top-k of the routing this plan was made from */
  tokens: number;
  topk: number;
  blockM: number;
}

function idAt(ids: Tensor<'i32'> | Tensor<'i64'>, t: number, s: number): number {
  const v = ids.storage[ids.offset + t * ids.strides[0]! + s * ids.strides[1]!]!;
  return typeof v === 'bigint' ? Number(v) : v;
}

/** Checks an expert map against E and returns the number of local experts (max local id + 1). */
export function validateExpertMap(map: Int32Array, numExperts: number): number {
  if (map.length !== numExperts)
    throw new MoeError('E_SHAPE', `expert_map: expected shape [${numExperts}] (one entry per global expert), got [${map.length}]`, 'expert_map');
  let numLocal = 0;
  const seen = new Set<number>();
  for (let g = 0; g < map.length; g++) {
    const l = map[g]!;
    if (l === -1) continue;
    if (l < 0 || l >= numExperts)
      throw new MoeError('E_VALUE', `expert_map: entry ${g} is ${l}; expected −1 (not local) or a local id in 0…${numExperts - 1}`, 'expert_map');
    if (seen.has(l))
      throw new MoeError('E_VALUE', `expert_map: local id ${l} is assigned to two global experts (second at ${g}); local ids must be distinct`, 'expert_map');
    seen.add(l);
    numLocal = Math.max(numLocal, l + 1);
  }
  if (seen.size !== numLocal)
    throw new MoeError('E_VALUE', `expert_map: local ids must be 0…${numLocal - 1} without gaps, found ${seen.size} distinct ids`, 'expert_map');
  return numLocal;
}

export function planPermutation(
  topkIds: Tensor<'i32'> | Tensor<'i64'>,
  numExperts: number,
  opts: { expertMap?: Int32Array; blockM: number },
): PermutePlan {
  if (topkIds.rank !== 2)
    throw new MoeError('E_SHAPE', `topk_ids: expected shape [M, topk], got ${shapeStr(topkIds.shape)}`, 'topk_ids');
  const blockM = opts.blockM;
  if (!Number.isInteger(blockM) || blockM <= 0) throw new MoeError('E_SPEC', `blockM must be a positive integer, got ${blockM}`);
  const [M, k] = topkIds.shape as [number, number];
  const map = opts.expertMap;
  const numLocal = map ? validateExpertMap(map, numExperts) : numExperts;
  const counts = new Int32Array(numLocal);
  const pairExpert = new Int32Array(M * k);
  for (let t = 0; t < M; t++) {
    for (let s = 0; s < k; s++) {
      const g = idAt(topkIds, t, s);
      if (g === -1) {
        pairExpert[t * k + s] = -1;
        continue;
      }
      if (!Number.isInteger(g) || g < 0 || g >= numExperts)
        throw new MoeError(
          'E_RANGE',
          `topk_ids: token ${t}, slot ${s} routes to expert ${g}; expected −1 or an expert id in 0…${numExperts - 1}`,
          'topk_ids',
        );
      const l = map ? map[g]! : g;
      pairExpert[t * k + s] = l;
      if (l >= 0) counts[l]!++;
    }
  }
  const segmentStart = new Int32Array(numLocal);
  let mSum = 0;
  for (let e = 0; e < numLocal; e++) {
    segmentStart[e] = mSum;
    mSum += Math.ceil(counts[e]! / blockM) * blockM;
  }
  const mIdx = new Int32Array(mSum).fill(-1);
  const rowPair = new Int32Array(mSum).fill(-1);
  const inv = new Int32Array(M * k).fill(-1);
  const next = Int32Array.from(segmentStart);
  // ascending t·k + s inside each segment (DeepGEMM's test order; any order gives the same m_indices)
  for (let p = 0; p < M * k; p++) {
    const l = pairExpert[p]!;
    if (l < 0) continue;
    const row = next[l]!++;
    mIdx[row] = l;
    rowPair[row] = p;
    inv[p] = row;
  }
  return {
    numLocal,
    counts,
    segmentStart,
    mSum,
    mIndices: new Tensor('i32', [mSum], mIdx, undefined, 0, 'm_indices'),
    invPerm: new Tensor('i32', [M, k], inv, undefined, 0, 'inv_perm'),
    rowPair,
    tokens: M,
    topk: k,
    blockM,
  };
}

function checkQuantized(aq: Tensor<'f8e4m3fn'>, aScale: Tensor<'f32'>, M: number): { K: number; G: number } {
  if (aq.dtype !== 'f8e4m3fn') throw new MoeError('E_DTYPE', `a1q: expected dtype f8e4m3fn, got ${aq.dtype}`, 'a1q');
  if (aScale.dtype !== 'f32') throw new MoeError('E_DTYPE', `a1q_scale: expected dtype f32, got ${aScale.dtype}`, 'a1q_scale');
  if (aq.rank !== 2 || aq.shape[0] !== M)
    throw new MoeError('E_SHAPE', `a1q: expected shape [${M}, K] (one row per token of topk_ids), got ${shapeStr(aq.shape)}`, 'a1q');
  const K = aq.shape[1]!;
  const G = Math.ceil(K / 128);
  if (aScale.rank !== 2 || aScale.shape[0] !== M || aScale.shape[1] !== G)
    throw new MoeError('E_SHAPE', `a1q_scale: expected shape [${M}, ${G}] (M, ⌈K/128⌉), got ${shapeStr(aScale.shape)}`, 'a1q_scale');
  return { K, G };
}

/** Copies row `src` of aq (any strides) into dst at dstOff. */
function copyRow(aq: Tensor<'f8e4m3fn'>, src: number, K: number, dst: Uint8Array, dstOff: number): void {
  const base = aq.offset + src * aq.strides[0]!;
  const cs = aq.strides[1]!;
  if (cs === 1) dst.set(aq.storage.subarray(base, base + K), dstOff);
  else for (let c = 0; c < K; c++) dst[dstOff + c] = aq.storage[base + c * cs]!;
}

/**
 * Gathers token rows into the contiguous expert-major layout. Padding rows hold zero data and zero scales (vLLM's
 * torch.zeros scale buffer), so whatever a kernel computes on them is 0. Output storage is shared memory so the
 * grouped GEMM's worker threads read it without a copy.
 */
export function permuteRows(aq: Tensor<'f8e4m3fn'>, aScale: Tensor<'f32'>, plan: PermutePlan): { a1: Tensor<'f8e4m3fn'>; a1Scale: Tensor<'f32'> } {
  const { K, G } = checkQuantized(aq, aScale, plan.tokens);
  const data = sharedBytes(plan.mSum * K);
  const sc = new Float32Array(plan.mSum * G);
  for (let row = 0; row < plan.mSum; row++) {
    const p = plan.rowPair[row]!;
    if (p < 0) continue;
    const t = Math.floor(p / plan.topk);
    copyRow(aq, t, K, data, row * K);
    for (let j = 0; j < G; j++) sc[row * G + j] = aScale.storage[aScale.offset + t * aScale.strides[0]! + j * aScale.strides[1]!]!;
  }
  return {
    a1: new Tensor('f8e4m3fn', [plan.mSum, K], data, undefined, 0, 'a1q_permuted'),
    a1Scale: new Tensor('f32', [plan.mSum, G], sc, undefined, 0, 'a1q_scale_permuted'),
  };
}

export interface MaskedLayout {
  /** (E_l, maxM, K) fp8; rows ≥ masked_m[e] are zero */
  a: Tensor<'f8e4m3fn'>;
  /** (E_l, maxM, ⌈K/128⌉) f32, MN-major per group: strides (maxM·G, 1, maxM), as DeepEP returns it */
  scale: Tensor<'f32'>;
  /** valid rows per local expert */
  maskedM: Int32Array;
  /** (M, k) → e·maxM + i, −1 when not local */
  invPerm: Tensor<'i32'>;
}

/**
 * DeepEP low-latency dispatch layout (docs/layouts-and-stages.md §7): one (maxM, K) block per local expert, the first masked_m[e] rows
 * valid. maxM defaults to M (a token reaches an expert at most once, so no expert can receive more).
 */
export function maskedLayout(aq: Tensor<'f8e4m3fn'>, aScale: Tensor<'f32'>, plan: PermutePlan, opts: { maxM?: number } = {}): MaskedLayout {
  const { K, G } = checkQuantized(aq, aScale, plan.tokens);
  const maxM = opts.maxM ?? plan.tokens;
  const El = plan.numLocal;
  for (let e = 0; e < El; e++)
    if (plan.counts[e]! > maxM)
      throw new MoeError('E_RANGE', `masked layout: expert ${e} receives ${plan.counts[e]} rows but maxM is ${maxM}; raise maxM (num_max_dispatch_tokens_per_rank × ranks)`, 'a1q');
  const data = sharedBytes(El * maxM * K);
  const sc = new Float32Array(El * maxM * G);
  const inv = new Int32Array(plan.tokens * plan.topk).fill(-1);
  const fill = new Int32Array(El);
  for (let row = 0; row < plan.mSum; row++) {
    const p = plan.rowPair[row]!;
    if (p < 0) continue;
    const e = plan.mIndices.storage[row]!;
    const i = fill[e]!++;
    const t = Math.floor(p / plan.topk);
    copyRow(aq, t, K, data, (e * maxM + i) * K);
    for (let j = 0; j < G; j++)
      sc[e * maxM * G + j * maxM + i] = aScale.storage[aScale.offset + t * aScale.strides[0]! + j * aScale.strides[1]!]!;
    inv[p] = e * maxM + i;
  }
  return {
    a: new Tensor('f8e4m3fn', [El, maxM, K], data, undefined, 0, 'a1q_masked'),
    scale: new Tensor('f32', [El, maxM, G], sc, [maxM * G, 1, maxM], 0, 'a1q_scale_masked'),
    maskedM: fill,
    invPerm: new Tensor('i32', [plan.tokens, plan.topk], inv, undefined, 0, 'inv_perm_masked'),
  };
}
