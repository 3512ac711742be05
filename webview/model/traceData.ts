/**
 * From a Trace to what each view draws. The host sends small tensors inline (scales, ids) and large ones as
 * summaries; these helpers pick what a view can draw and say why when something is missing.
 */
import type { Trace, TensorRef } from '../../kernels/trace';
import type { ScaleTensor } from './scaleLayout';
import { permutationModel, type PermutationModel } from './permutation';

const isScaleName = (n: string): boolean => /(_scale|_scale_inv)$/.test(n);

export function scaleTensorFromRef(ref: TensorRef): ScaleTensor | null {
  if (!ref.inline || !isScaleName(ref.name)) return null;
  const s = ref.shape;
  const kind = ref.name.includes('weight') ? 'weight' : 'activation';
  if (s.length === 2) return { name: ref.name, kind, groups: 1, rows: s[0]!, kBlocks: s[1]!, values: ref.inline };
  if (s.length === 3) return { name: ref.name, kind, groups: s[0]!, rows: s[1]!, kBlocks: s[2]!, values: ref.inline };
  return null;
}

/** Logical scale tensors with inline values, activations first (the order a user meets them in the pipeline). */
export function scaleTensorsOf(trace: Trace): ScaleTensor[] {
  const order = ['a1q_scale', 'w13_weight_scale_inv', 'a2q_scale', 'w2_weight_scale_inv'];
  const out = Object.values(trace.tensors).map(scaleTensorFromRef).filter((t): t is ScaleTensor => t !== null);
  const rank = (n: string): number => (order.indexOf(n) < 0 ? order.length : order.indexOf(n));
  return out.sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
}

export function permutationOf(trace: Trace): PermutationModel | string {
  const ids = trace.tensors['topk_ids'];
  if (!ids?.inline) return 'topk_ids is not in the trace (or not inline): the permutation cannot be drawn';
  const w = trace.tensors['topk_weights'];
  const map = trace.tensors['expert_map'];
  const [tokens, topk] = ids.shape as [number, number];
  return permutationModel({
    tokens,
    topk,
    experts: trace.spec.experts,
    topkIds: ids.inline,
    topkWeights: w?.inline,
    expertMap: map?.inline,
    blockM: trace.spec.blockM,
  });
}

/** Tensors a heatmap can show: 1-D or 2-D, or higher rank viewed as (rows = all but last, cols = last). */
export function heatmapTensorsOf(trace: Trace): TensorRef[] {
  return Object.values(trace.tensors).filter((t) => t.shape.length >= 1 && t.shape.every((d) => d > 0));
}

export function as2d(shape: readonly number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  if (shape.length === 1) return [1, shape[0]!];
  const cols = shape[shape.length - 1]!;
  return [shape.reduce((a, b) => a * b, 1) / cols, cols];
}
