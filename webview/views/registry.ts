/**
 * The view registry: a view is one file of views/ plus one entry here. The tabs, the number keys (1…N over the
 * views that apply to the trace shown), partial-trace waiting, the export buttons and formats, the standalone and
 * TikZ export and `moe-inspect export --view` all derive from this list; the host checks a webview's export
 * request against its ids.
 */
import type { PendingStage, Trace } from '../../kernels/trace';
import { T } from '../../kernels/recipes/tensors';
import type { ViewEntry } from './context';
import type { WebviewState } from '../../kernels/protocol';
import * as scales from './scales';
import * as permutation from './permutation';
import * as maskedBuffers from './maskedBuffers';
import * as timing from './timing';
import * as heatmap from './heatmap';
import * as compare from './compare';
import { scalesTikz, permutationTikz, timingTikz } from '../export/tikz';
import { scaleRefsOf, scaleTensorsOf } from '../model/traceData';
import { recipeView } from './recipeView';
import * as megamoeInterleave from '../../kernels/recipes/megamoe/views/interleaveMap';
import * as megamoeStaging from '../../kernels/recipes/megamoe/views/stagingBuffer';
import * as megamoePools from '../../kernels/recipes/megamoe/views/pools';
import * as w4afp8Parallel from '../../kernels/recipes/w4afp8/views/parallel';
import * as torchaoPasses from '../../kernels/recipes/torchao-fp8-training/views/passes';
import * as torchaoLayout from '../../kernels/recipes/torchao-fp8-training/views/groupedLayout';
import * as torchaoKGrouped from '../../kernels/recipes/torchao-fp8-training/views/kGroupedBuffer';
import * as torchaoExample from '../../kernels/recipes/torchao-fp8-training/views/workedExample';

export type { ViewEntry, ViewContext, ViewHandle, ExportInput } from './context';

/** The pending stages that write any of `names` (tensors not in the trace yet). */
export function pendingWriters(trace: Trace, names: readonly string[]): PendingStage[] {
  const missing = names.filter((n) => !trace.tensors[n]);
  return (trace.pending ?? []).filter((p) => p.outputs.some((o) => missing.includes(o)));
}

const isMasked = (trace: Trace): boolean => trace.permutation.layout === 'masked';

export const VIEWS: readonly ViewEntry[] = [
  {
    id: 'scales',
    label: 'Scale layout',
    exportFormats: ['svg', 'png', 'tikz'],
    applies: (trace) => scaleRefsOf(trace).length > 0 || (trace.pending ?? []).some((p) => p.outputs.includes(T.a1q_scale)),
    // the first picture: the activation scales and their kernel layout
    waitsFor: (trace) => pendingWriters(trace, [T.a1q_scale, T.a1q_scale_layout]),
    dataKey: (trace) => scaleTensorsOf(trace).map((t) => t.name).join(','),
    render: scales.mount,
    svg: scales.standalone,
    tikz: scalesTikz,
    exportTensor: (s) => s.scaleTensor,
    opensTensor: (trace, name) => (scaleRefsOf(trace).some((r) => r.name === name) ? { scaleTensor: name } : undefined),
  },
  {
    id: 'permutation',
    label: 'Permutation',
    exportFormats: ['svg', 'png', 'tikz'],
    applies: (trace) => !isMasked(trace) && !!trace.tensors[T.topk_ids],
    waitsFor: (trace) => pendingWriters(trace, [T.m_indices]),
    render: permutation.mount,
    svg: permutation.standalone,
    tikz: permutationTikz,
  },
  {
    id: 'maskedBuffers',
    label: 'Masked buffers',
    exportFormats: ['svg', 'png'],
    applies: isMasked,
    render: maskedBuffers.mount,
    svg: maskedBuffers.standalone,
  },
  {
    id: 'timing',
    label: 'Timing',
    exportFormats: ['svg', 'png', 'tikz'],
    applies: () => true,
    // drawn as soon as one stage has finished
    waitsFor: (trace) => (trace.stages.length === 0 && trace.pending?.length ? [trace.pending[0]!] : []),
    dataKey: (trace) => trace.stages.map((s) => s.id).join(','),
    render: timing.mount,
    svg: timing.standalone,
    tikz: timingTikz,
    followsStage: true,
  },
  {
    id: 'heatmap',
    label: 'Tensor heatmap',
    exportFormats: ['svg', 'png'],
    applies: () => true,
    dataKey: (trace) => Object.keys(trace.tensors).sort().join(','),
    render: heatmap.mount,
    svg: heatmap.standalone,
    exportTensor: (s) => s.heatmapTensor,
    // any tensor, including one a pending stage will write (the view says what it waits for)
    opensTensor: (_trace, name) => ({ heatmapTensor: name }),
  },
  // the recipes' own pictures (kernels/recipes/<id>/views/), offered on that recipe's runs
  recipeView({ id: 'megamoeInterleave', label: 'Gate/up interleave', recipes: ['megamoe-sm90'], render: (el, t, o) => megamoeInterleave.render(el, t, o) }),
  recipeView({ id: 'megamoeStaging', label: 'Staging buffer', recipes: ['megamoe-sm90'], render: (el, t, o) => megamoeStaging.render(el, t, o) }),
  recipeView({ id: 'megamoePools', label: 'L1/L2 pools', recipes: ['megamoe-sm90'], render: (el, t, o) => megamoePools.render(el, t, o) }),
  recipeView({ id: 'w4afp8Parallel', label: 'TP vs EP', recipes: ['w4afp8'], render: (el, t, o) => w4afp8Parallel.render(el, t, { theme: o.theme }) }),
  recipeView({ id: 'torchaoPasses', label: 'Three passes', recipes: ['torchao-fp8-training'], render: (el, t, o) => torchaoPasses.render(el, t, o) }),
  recipeView({ id: 'torchaoLayout', label: 'grouped_layout', recipes: ['torchao-fp8-training'], render: (el, t, o) => torchaoLayout.render(el, t, o) }),
  recipeView({ id: 'torchaoKGrouped', label: 'K-grouped buffer', recipes: ['torchao-fp8-training'], render: (el, t, o) => torchaoKGrouped.render(el, t, o) }),
  recipeView({ id: 'torchaoExample', label: 'Worked example', recipes: ['torchao-fp8-training'], render: (el, t, o) => torchaoExample.render(el, t, o) }),
  // last: its tab appears (and takes the next number key) only while a second run is shown
  {
    id: 'compare',
    label: 'Compare',
    exportFormats: ['svg', 'png'],
    // a second run is shown beside this one (MoE: Compare With…)
    applies: (_trace, other) => other !== undefined,
    render: compare.mount,
    svg: compare.standalone,
    exportTensor: (s) => s.compareTensor,
  },
];

export const VIEW_IDS: readonly string[] = VIEWS.map((v) => v.id);

export function viewById(id: string): ViewEntry | undefined {
  return VIEWS.find((v) => v.id === id);
}

/** The views that apply to a trace (and a second run beside it), in registry order: their tabs, and keys 1…N. */
export const viewsFor = (trace: Trace, compare?: Trace): ViewEntry[] => VIEWS.filter((v) => v.applies(trace, compare));

/** The first view (in registry order) that applies and can show tensor `name`, with the state that selects it. */
export function viewForTensor(trace: Trace, name: string): { view: string; patch: Partial<WebviewState> } | undefined {
  for (const v of viewsFor(trace)) {
    const patch = v.opensTensor?.(trace, name);
    if (patch) return { view: v.id, patch };
  }
  return undefined;
}

/** The stages of a partial trace a view waits for (empty: it can draw now). */
export function missingStagesFor(trace: Trace, view: string): PendingStage[] {
  return viewById(view)?.waitsFor?.(trace) ?? [];
}

/** Equal keys: the view would draw the same picture from both traces. A finished trace always gets a new key. */
export function viewKey(trace: Trace, view: string, partial: boolean): string {
  if (!partial) return `final:${trace.createdAt}:${view}`;
  const entry = viewById(view);
  const missing = missingStagesFor(trace, view).map((p) => p.id).join(',');
  return `${view}:${missing}:${entry?.dataKey?.(trace) ?? ''}`;
}
