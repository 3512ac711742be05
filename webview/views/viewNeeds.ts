/**
 * The tensors each view's picture is drawn from, as data: `moe-inspect export --view V` runs only the stages those
 * tensors take (kernels/neededStages.ts) instead of the whole layer. A view not listed here needs the whole run
 * (timing draws every stage's time; the recipes' own views read the whole trace).
 *
 * Node-safe on purpose: it imports the trace model, never a view's drawing code, so the CLI and the engine can ask
 * it without pulling in d3 or the DOM. test/kernels/pipeline.lazy.test.ts checks, for every recipe and every view
 * that applies to it, the stages run and that the exported file equals a full run's.
 */
import type { Trace } from '../../kernels/trace';
import { T } from '../../kernels/recipes/tensors';
import { SCALE_NAME, compareScaleNames, heatmapTensorsOf, scaleRefsOf } from '../model/traceData';

export interface NeedsQuery {
  /** every tensor id a full run holds: the layer's inputs in their order, then each stage's outputs in plan order */
  tensors: readonly string[];
  /** the tensor the picture is asked to show (`--tensor`), if any */
  tensor?: string;
}

export interface ViewNeeds {
  /** the tensors the picture is drawn from */
  tensors: readonly string[];
  /**
   * Would this trace, holding only those tensors, draw what a full run draws? Where the answer depends on values
   * (which scale tensor the engine laid out for a kernel), a false here makes the caller run everything instead.
   */
  sufficient(trace: Trace): boolean;
}

export type NeedsOf = (q: NeedsQuery) => ViewNeeds | 'all';

const always = (): boolean => true;
const has = (name: string) => (trace: Trace): boolean => !!trace.tensors[name];

export const VIEW_NEEDS: Readonly<Record<string, NeedsOf>> = {
  /**
   * One scale tensor: the one asked for, else the first (in pipeline order) the run laid out for a kernel
   * (traceData.defaultScaleName). Which one that is shows only once computed, so the run takes the scale tensors up
   * to the first `*_scale_layout` one; if none of those came out in a kernel layout, the full run decides.
   */
  scales: ({ tensors, tensor }) => {
    if (tensor !== undefined) return { tensors: [tensor], sufficient: has(tensor) };
    const scales = [...new Set(tensors.filter((n) => SCALE_NAME.test(n)))].sort(compareScaleNames);
    const firstLayout = scales.findIndex((n) => n.endsWith('_scale_layout'));
    const prefix = firstLayout < 0 ? scales : scales.slice(0, firstLayout + 1);
    return { tensors: prefix, sufficient: (trace) => prefix.length === scales.length || scaleRefsOf(trace).some((r) => r.layout.order !== 'row-major') };
  },
  // the routing (traceData.permutationOf) and the plan's grouping (trace.permutation, known before any stage)
  permutation: () => ({ tensors: [T.topk_ids, T.topk_weights, T.expert_map], sufficient: always }),
  // the plan's masked figures and the receive buffer's shape (maskedBuffers.ts: hidden_states, else a1q)
  maskedBuffers: () => ({ tensors: [T.hidden_states, T.a1q], sufficient: always }),
  // one tensor: the one asked for, else the trace's first drawable one (heatmapTensorsOf), an input
  heatmap: ({ tensors, tensor }) => {
    if (tensor !== undefined) return { tensors: [tensor], sufficient: has(tensor) };
    const first = tensors[0];
    if (first === undefined) return 'all';
    return { tensors: [first], sufficient: (trace) => heatmapTensorsOf(trace)[0]?.name === first };
  },
};

/** What view `view` needs for this run: its tensors, or 'all' (the whole run). */
export function viewNeeds(view: string, q: NeedsQuery): ViewNeeds | 'all' {
  return Object.hasOwn(VIEW_NEEDS, view) ? VIEW_NEEDS[view]!(q) : 'all';
}
