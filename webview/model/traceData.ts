/**
 * From a Trace to what each view draws. The host sends small tensors inline (scales, ids) and large ones as
 * summaries; these helpers pick what a view can draw and say why when something is missing.
 */
import type { Trace, TensorRef } from '../../kernels/trace';
import { T } from '../../kernels/recipes/tensors';
import { scaleTensorOf, type ScaleKind, type ScaleTensor } from './scaleLayout';
import { permutationModel, type PermutationModel } from './permutation';

/** Scale tensors without inline values are fetched through tiles up to this many values (the DeepSeek-V3 w13 scales: 0.46 M). */
export const SCALE_FETCH_LIMIT = 1 << 24;

/** The order a user meets the scales in the pipeline: each quantization's scales, then their kernel layout. */
const SCALE_ORDER: readonly string[] = [T.a1q_scale, T.a1q_scale_layout, T.w13_weight_scale_inv, T.a2q_scale, T.a2q_scale_layout, T.w2_weight_scale_inv];

/**
 * A block-scale tensor the scale view can draw: named as vLLM names scales, 2-D or 3-D, float32 or packed words.
 * The name picks the tensors and the words of the hover (activation groups or weight blocks), never the layout.
 */
export function isScaleRef(ref: TensorRef): boolean {
  const r = ref.layout.shape.length;
  return SCALE_NAME.test(ref.name) && (r === 2 || r === 3) && (ref.dtype === 'f32' || !!ref.layout.packing) && ref.shape.every((d) => d > 0);
}

export const scaleKindOf = (name: string): ScaleKind => (name.includes('weight') ? 'weight' : 'activation');

const numel = (ref: TensorRef): number => ref.shape.reduce((a, b) => a * b, 1);

/** A name a scale tensor may have (isScaleRef also looks at its rank and dtype). */
export const SCALE_NAME = /_scale(_inv|_layout)?$/;

/** Pipeline order of scale tensors by name: the scale view's picker and its default follow it (so does viewNeeds.ts). */
export function compareScaleNames(a: string, b: string): number {
  const rank = (n: string): number => (SCALE_ORDER.indexOf(n) < 0 ? SCALE_ORDER.length : SCALE_ORDER.indexOf(n));
  return rank(a) - rank(b) || a.localeCompare(b);
}

/** The scale tensors of a trace that can be drawn (inline, or small enough to fetch), in pipeline order. */
export function scaleRefsOf(trace: Trace): TensorRef[] {
  const refs = Object.values(trace.tensors).filter((r) => isScaleRef(r) && (r.inline !== undefined || numel(r) <= SCALE_FETCH_LIMIT));
  return refs.sort((a, b) => compareScaleNames(a.name, b.name));
}

/** The scale tensor a view opens on: the first one the run laid out for a kernel (not row-major), else the first. */
export function defaultScaleName(trace: Trace): string | undefined {
  const refs = scaleRefsOf(trace);
  return (refs.find((r) => r.layout.order !== 'row-major') ?? refs[0])?.name;
}

/** A scale tensor with its values (inline, or from `valuesOf`), or null when its values are not known yet. */
export function scaleTensorFromRef(ref: TensorRef, trace: Trace, valuesOf?: (name: string) => ArrayLike<number> | undefined): ScaleTensor | null {
  if (!isScaleRef(ref)) return null;
  const raw = ref.inline ?? valuesOf?.(ref.name);
  if (!raw) return null;
  const kind = scaleKindOf(ref.name);
  const r = trace.spec.recipe;
  const block = kind === 'weight' ? { rows: r.weightBlock, k: r.weightBlock } : { rows: 1, k: r.actGroup };
  return scaleTensorOf(ref.name, kind, ref.layout, raw, block);
}

/** Scale tensors whose values are known, in pipeline order. */
export function scaleTensorsOf(trace: Trace, valuesOf?: (name: string) => ArrayLike<number> | undefined): ScaleTensor[] {
  return scaleRefsOf(trace).map((r) => scaleTensorFromRef(r, trace, valuesOf)).filter((t): t is ScaleTensor => t !== null);
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
