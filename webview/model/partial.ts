/**
 * What the heatmap needs from a trace's permutation: the padding-row runs of the permuted (M_sum-row) tensors.
 * (Which stages a view waits for in a partial trace is the view's registry entry: views/registry.ts.)
 */
import type { Trace, TensorRef } from '../../kernels/trace';
import { T } from '../../kernels/recipes/tensors';
import { as2d, permutationOf } from './traceData';

/** Tensors whose rows are the permuted M_sum rows (one per m_indices entry, −1 on padding rows). */
const PERMUTED_ROWS: ReadonlySet<string> = new Set([T.a1q_permuted, T.a1q_scale_permuted, T.m_indices, T.mm1_out, T.act_out, T.a2q, T.a2q_scale, T.mm2_out]);

export interface RowSegments {
  /** half-open [start, end) runs of padding rows (m_indices = −1) */
  paddingRuns: [number, number][];
  /** rows holding routed tokens */
  dataRows: number;
}

/**
 * Padding-row runs of a permuted tensor, from m_indices when it is inline, else recomputed from topk_ids
 * (docs/layouts-and-stages.md §5). Undefined for tensors whose rows are not the permuted rows, or when the rows do not match M_sum.
 */
export function rowSegmentsOf(trace: Trace, ref: TensorRef): RowSegments | undefined {
  if (!PERMUTED_ROWS.has(ref.name) || ref.shape.length < 1) return undefined;
  const rows = ref.shape.length === 1 ? ref.shape[0]! : as2d(ref.shape)[0];
  // the masked layout has no m_indices: its rows are (expert, row) of fixed buffers
  if (trace.permutation.layout === 'masked') return undefined;
  let mIndices: ArrayLike<number> | undefined = trace.tensors[T.m_indices]?.inline;
  if (!mIndices) {
    try {
      const m = permutationOf(trace);
      if (typeof m !== 'string') mIndices = m.mIndices;
    } catch {
      // a trace whose topk_ids cannot be permuted draws without the padding band; the checks report why
      return undefined;
    }
  }
  if (!mIndices || mIndices.length !== rows) return undefined;
  const paddingRuns: [number, number][] = [];
  let dataRows = 0;
  for (let r = 0; r < rows; r++) {
    if (mIndices[r]! >= 0) {
      dataRows++;
      continue;
    }
    const last = paddingRuns[paddingRuns.length - 1];
    if (last && last[1] === r) last[1] = r + 1;
    else paddingRuns.push([r, r + 1]);
  }
  return { paddingRuns, dataRows };
}
