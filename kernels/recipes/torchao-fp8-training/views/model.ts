/**
 * What the torchao training views draw, read from a Trace only (a finished or a partial one): the shapes of the layer
 * (spec), the expert groups (the permutation counts, checked against the inline group_sizes when present), the padded
 * layout that follows from them (../groups.ts — the same arithmetic the engine ran), which stages are done, and the
 * shapes and small inline values of the stage tensors. No D3, no Node: the views and their tests share it.
 */
import type { Trace, TensorRef } from '../../../trace';
import { planGroups, layoutRuns, type GroupPlan, type LayoutRun } from '../groups';
import { RECIPE_ID, TT } from '../tensors';

export type PassId = 'forward' | 'dgrad' | 'wgrad';

export interface StageState {
  id: string;
  title: string;
  pass: PassId;
  done: boolean;
  timeMs?: number;
}

export interface TrainingModel {
  M: number;
  K: number;
  N: number;
  E: number;
  groups: GroupPlan;
  runs: LayoutRun[];
  stages: StageState[];
  /** tensor refs of the trace by name (absent until their stage ran) */
  tensors: Readonly<Record<string, TensorRef>>;
  arch: string;
}

const passOf = (id: string): PassId => (id.startsWith('wgrad') ? 'wgrad' : id.startsWith('dgrad') ? 'dgrad' : 'forward');

/** the model, or one sentence saying why this trace cannot be drawn by these views */
export function trainingModel(trace: Trace): TrainingModel | string {
  if (trace.recipe.id !== RECIPE_ID) return `this view draws ${RECIPE_ID} traces; this one ran the ${trace.recipe.id} recipe`;
  const sizes = trace.permutation.counts;
  const inline = trace.tensors[TT.group_sizes]?.inline;
  if (inline && (inline.length !== sizes.length || inline.some((v, i) => v !== sizes[i])))
    return `group_sizes [${inline.join(', ')}] disagree with the trace's per-expert counts [${sizes.join(', ')}]`;
  const groups = planGroups(sizes);
  const done = new Set(trace.stages.map((s) => s.id));
  const stages: StageState[] = [
    ...trace.stages.map((s) => ({ id: s.id, title: s.title, pass: passOf(s.id), done: true, timeMs: s.timeMs })),
    ...(trace.pending ?? []).filter((p) => !done.has(p.id)).map((p) => ({ id: p.id, title: p.title, pass: passOf(p.id), done: false })),
  ];
  return {
    M: trace.spec.tokens,
    K: trace.spec.hidden,
    N: trace.spec.intermediate,
    E: sizes.length,
    groups,
    runs: layoutRuns(groups),
    stages,
    tensors: trace.tensors,
    arch: trace.spec.arch,
  };
}

/** "a–b" for a non-empty row range [start, end) */
export const rowRange = (start: number, end: number): string => (end - start === 1 ? `${start}` : `${start}–${end - 1}`);

/** grouped_layout as the spec writes it: "0–99 → 0, 100–127 → −1, …" */
export function layoutRunsText(runs: readonly LayoutRun[]): string[] {
  return runs.map((r) => `${rowRange(r.start, r.end)} → ${r.expert < 0 ? '−1' : r.expert}`);
}

/** the scale columns of each expert: "columns 0–1 expert 0" */
export function scaleColumnsText(g: GroupPlan): string[] {
  const out: string[] = [];
  for (let e = 0; e < g.sizes.length; e++) {
    const b0 = g.starts[e]! / 128;
    const n = g.padded[e]! / 128;
    if (n === 0) continue;
    out.push(`${n === 1 ? 'column' : 'columns'} ${n === 1 ? b0 : `${b0}–${b0 + n - 1}`} expert ${e}`);
  }
  return out;
}

/** a few distinct hues per expert from the theme's chart colours, cycling */
export function expertColor(e: number, charts: Record<string, string>): string {
  const order = [charts.blue, charts.orange, charts.green, charts.purple, charts.yellow, charts.red];
  return order[e % order.length]!;
}
