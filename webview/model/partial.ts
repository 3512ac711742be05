/**
 * What the views need from a partial Trace (sent while the run goes on): which stages a view waits for, a key that
 * says whether a view's data changed between two partials (so it is not redrawn for nothing), and the padding rows
 * of the permuted (M_sum-row) tensors for the heatmap.
 */
import type { PendingStage, StageId, Trace, TensorRef } from '../../kernels/trace';
import type { ViewId } from '../protocol';
import { as2d, permutationOf, scaleTensorsOf } from './traceData';

/** Stages whose outputs each view draws: the scale layout needs the quantized scales in the kernel layout. */
const NEEDS: Record<ViewId, readonly StageId[]> = {
  scales: ['quantize', 'transform_scales'],
  permutation: ['permute'],
  timing: [],
  heatmap: [],
};

/** The pending stages a view waits for (empty: it can draw now). Timing waits only while nothing has finished. */
export function missingStagesFor(trace: Trace, view: ViewId): PendingStage[] {
  const pending = trace.pending ?? [];
  if (view === 'timing') return trace.stages.length === 0 && pending.length ? [pending[0]!] : [];
  return pending.filter((p) => NEEDS[view].includes(p.id));
}

/** Equal keys: the view would draw the same picture from both traces. A finished trace always gets a new key. */
export function viewKey(trace: Trace, view: ViewId, partial: boolean): string {
  if (!partial) return `final:${trace.createdAt}:${view}`;
  const missing = missingStagesFor(trace, view).map((p) => p.id).join(',');
  switch (view) {
    case 'scales':
      return `scales:${missing}:${scaleTensorsOf(trace).map((t) => t.name).join(',')}`;
    case 'permutation':
      return `permutation:${missing}`;
    case 'timing':
      return `timing:${trace.stages.map((s) => s.id).join(',')}`;
    case 'heatmap':
      return `heatmap:${Object.keys(trace.tensors).sort().join(',')}`;
  }
}

/** Tensors whose rows are the permuted M_sum rows (one per m_indices entry, −1 on padding rows). */
const PERMUTED_ROWS = new Set(['a1q_permuted', 'a1q_scale_permuted', 'm_indices', 'mm1_out', 'act_out', 'a2q', 'a2q_scale', 'mm2_out']);

export interface RowSegments {
  /** half-open [start, end) runs of padding rows (m_indices = −1) */
  paddingRuns: [number, number][];
  /** rows holding routed tokens */
  dataRows: number;
}

/**
 * Padding-row runs of a permuted tensor, from m_indices when it is inline, else recomputed from topk_ids
 * (spec §4). Undefined for tensors whose rows are not the permuted rows, or when the rows do not match M_sum.
 */
export function rowSegmentsOf(trace: Trace, ref: TensorRef): RowSegments | undefined {
  if (!PERMUTED_ROWS.has(ref.name) || ref.shape.length < 1) return undefined;
  const rows = ref.shape.length === 1 ? ref.shape[0]! : as2d(ref.shape)[0];
  let mIndices: ArrayLike<number> | undefined = trace.tensors['m_indices']?.inline;
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
