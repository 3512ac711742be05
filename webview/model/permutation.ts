/**
 * The expert permutation (docs/layouts-and-stages.md §5) recomputed from topk_ids for drawing: counts, 128-row segments, the row of every
 * (token, slot) pair in ascending token·k + slot order, m_indices (−1 on padding rows) and the padding waste.
 * It is a few lines, and recomputing it lets the view work from any trace that carries topk_ids.
 */
import { MoeError } from '../../kernels/errors';

export interface PermutationInput {
  tokens: number;
  topk: number;
  experts: number;
  /** (tokens × topk) row-major, −1 = no expert */
  topkIds: ArrayLike<number>;
  topkWeights?: ArrayLike<number>;
  /** global → local id, −1 = another rank's expert */
  expertMap?: ArrayLike<number>;
  blockM?: number;
}

export interface PermutationModel {
  tokens: number;
  topk: number;
  /** local experts */
  experts: number;
  blockM: number;
  counts: number[];
  segStart: number[];
  segLen: number[];
  mSum: number;
  /** row of pair t·k+s, −1 when its expert is not local */
  invPerm: Int32Array;
  /** local expert of each row, −1 on padding rows */
  mIndices: Int32Array;
  /** pair (t·k+s) held by each row, −1 on padding rows */
  rowPair: Int32Array;
  weights: Float32Array;
  paddingWaste: number;
  routed: number;
}

export function permutationModel(p: PermutationInput): PermutationModel {
  const { tokens: T, topk: k } = p;
  const A = p.blockM ?? 128;
  if (!Number.isInteger(T) || T < 0 || !Number.isInteger(k) || k <= 0)
    throw new MoeError('E_SHAPE', `topk_ids: expected (tokens, topk) with tokens ≥ 0 and topk ≥ 1, got (${T}, ${k})`, 'topk_ids');
  if (p.topkIds.length !== T * k)
    throw new MoeError('E_SHAPE', `topk_ids: expected ${T}·${k} = ${T * k} values, got ${p.topkIds.length}`, 'topk_ids');
  if (p.topkWeights && p.topkWeights.length !== T * k)
    throw new MoeError('E_SHAPE', `topk_weights: expected ${T * k} values (same shape as topk_ids), got ${p.topkWeights.length}`, 'topk_weights');
  const E = p.expertMap ? Math.max(0, ...Array.from(p.expertMap)) + 1 : p.experts;
  const local = (id: number): number => {
    if (id < 0) return -1;
    if (!Number.isInteger(id) || id >= p.experts)
      throw new MoeError('E_RANGE', `topk_ids: expert id ${id} outside [0, ${p.experts})`, 'topk_ids');
    return p.expertMap ? p.expertMap[id]! : id;
  };
  const counts = new Array<number>(E).fill(0);
  for (let i = 0; i < T * k; i++) {
    const e = local(p.topkIds[i]!);
    if (e >= 0) counts[e]!++;
  }
  const segLen = counts.map((c) => Math.ceil(c / A) * A);
  const segStart: number[] = [];
  let acc = 0;
  for (const l of segLen) {
    segStart.push(acc);
    acc += l;
  }
  const mSum = acc;
  const invPerm = new Int32Array(T * k).fill(-1);
  const mIndices = new Int32Array(mSum).fill(-1);
  const rowPair = new Int32Array(mSum).fill(-1);
  const fill = new Array<number>(E).fill(0);
  for (let i = 0; i < T * k; i++) {
    const e = local(p.topkIds[i]!);
    if (e < 0) continue;
    const row = segStart[e]! + fill[e]!++;
    invPerm[i] = row;
    mIndices[row] = e;
    rowPair[row] = i;
  }
  const routed = counts.reduce((a, b) => a + b, 0);
  const weights = p.topkWeights ? Float32Array.from(p.topkWeights) : new Float32Array(T * k).fill(1);
  return { tokens: T, topk: k, experts: E, blockM: A, counts, segStart, segLen, mSum, invPerm, mIndices, rowPair, weights, paddingWaste: mSum ? (mSum - routed) / mSum : 0, routed };
}
