/**
 * Token groups of torchao's FP8 MoE training op (docs/layouts-and-stages.md §8): every expert's tokens padded to a multiple of
 * 128 rows (`pad_token_groups`), the M-grouped `grouped_layout` with −1 padding, and where each expert's block sits in
 * the flat K-grouped wgrad buffers. Pure arithmetic on arrays (no tensors, no Node): the views import it too.
 *
 * With sizes c_e (tokens per expert, in order, Σ c_e = M):
 *   padded P_e = align(c_e, 128), padded starts s_e = Σ_{e'<e} P_e', S = Σ P_e (the rows the GEMMs see),
 *   buffer rows = align(M + E·128, 128) (torchao allocates the worst case so the padding never syncs with the host),
 *   grouped_layout[r] = e for r ∈ [s_e, s_e + c_e), −1 for every other row (group tails and the slack after S),
 *   wgrad flat offset of element (d, m) of expert e = s_e·D + d·P_e + m (D = N for grad_output, K for the input),
 *   wgrad scale column of token block j of expert e = s_e/128 + j.
 */
export const TOKEN_BLOCK = 128;

export const align = (x: number, a: number): number => Math.ceil(x / a) * a;

export interface GroupPlan {
  /** real tokens per expert (c_e) */
  sizes: Int32Array;
  /** align(c_e, 128) */
  padded: Int32Array;
  /** first padded row of each expert (torchao's padded_group_start_offsets) */
  starts: Int32Array;
  /** first row of each expert in the unpadded input (cumulative sizes) */
  srcStarts: Int32Array;
  /** M = Σ c_e */
  tokens: number;
  /** S = Σ P_e: the rows of the expert groups (what the K-grouped wgrad reduces over) */
  paddedTokens: number;
  /** align(M + E·128, 128): the rows torchao's pad_token_groups allocates (zero-filled) */
  bufferRows: number;
  /** S / 128: the valid token blocks (columns of the wgrad scale tensors) */
  blocks: number;
}

export function planGroups(sizes: ArrayLike<number>): GroupPlan {
  const E = sizes.length;
  const c = Int32Array.from(sizes);
  const padded = new Int32Array(E);
  const starts = new Int32Array(E);
  const srcStarts = new Int32Array(E);
  let M = 0;
  let S = 0;
  for (let e = 0; e < E; e++) {
    srcStarts[e] = M;
    starts[e] = S;
    padded[e] = align(c[e]!, TOKEN_BLOCK);
    M += c[e]!;
    S += padded[e]!;
  }
  return { sizes: c, padded, starts, srcStarts, tokens: M, paddedTokens: S, bufferRows: align(M + E * TOKEN_BLOCK, TOKEN_BLOCK), blocks: S / TOKEN_BLOCK };
}

/** DeepGEMM's row → expert map for the M-grouped forward and dgrad GEMMs: real rows carry their expert, the rest −1. */
export function groupedLayout(p: GroupPlan): Int32Array {
  const out = new Int32Array(p.bufferRows).fill(-1);
  for (let e = 0; e < p.sizes.length; e++) out.fill(e, p.starts[e]!, p.starts[e]! + p.sizes[e]!);
  return out;
}

/** A run of equal grouped_layout values: [start, end) rows all holding `expert` (−1 = padding). */
export interface LayoutRun {
  start: number;
  end: number;
  expert: number;
}

/** grouped_layout as runs (a DeepSeek-size buffer is tens of thousands of rows but only ~2E runs). */
export function layoutRuns(p: GroupPlan): LayoutRun[] {
  const runs: LayoutRun[] = [];
  const push = (start: number, end: number, expert: number): void => {
    if (end <= start) return;
    const last = runs[runs.length - 1];
    if (last && last.expert === expert && last.end === start) last.end = end;
    else runs.push({ start, end, expert });
  };
  for (let e = 0; e < p.sizes.length; e++) {
    push(p.starts[e]!, p.starts[e]! + p.sizes[e]!, e);
    push(p.starts[e]! + p.sizes[e]!, p.starts[e]! + p.padded[e]!, -1);
  }
  push(p.paddedTokens, p.bufferRows, -1);
  return runs;
}

/** the expert owning each 128-token block (wgrad scale column) */
export function blockExperts(p: GroupPlan): Int32Array {
  const out = new Int32Array(p.blocks);
  for (let e = 0; e < p.sizes.length; e++) out.fill(e, p.starts[e]! / TOKEN_BLOCK, (p.starts[e]! + p.padded[e]!) / TOKEN_BLOCK);
  return out;
}

/** flat offset of element (d, m) of expert e in a K-grouped wgrad buffer of feature dimension D */
export function kGroupedOffset(p: GroupPlan, D: number, e: number, d: number, m: number): number {
  return p.starts[e]! * D + d * p.padded[e]! + m;
}

/** [begin, end) of expert e's (D, P_e) block in a flat K-grouped buffer */
export function kGroupedExtent(p: GroupPlan, D: number, e: number): [number, number] {
  return [p.starts[e]! * D, (p.starts[e]! + p.padded[e]!) * D];
}
