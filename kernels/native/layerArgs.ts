/**
 * The addon's configuration and flat inputs for one run of a recipe's plan, validated here so that bad shapes are
 * rejected before the GPU worker is even asked (the addon validates again before any launch). One builder per
 * recipe the addon runs; the architecture's module decides the scale layouts (its compute capability goes to the
 * addon, never a silent substitute).
 */
import type { Tensor } from '../tensor';
import type { DType, StorageFor } from '../dtypes/index';
import type { LayerSpec } from '../spec';
import type { StageId } from '../trace';
import { MoeError, shapeStr } from '../errors';
import { archById } from '../arch/index';
import { cudaRefusal } from '../backend/cudaSupport';
import { T } from '../recipes/tensors';
import { MT } from '../recipes/masked/tensors';
import { w4NativeArgs } from '../recipes/w4afp8/native';
import { torchaoNativeArgs } from '../recipes/torchao-fp8-training/native';
import type { NativeContiguousConfig, NativeLayerConfig, NativeLayerTensors, NativeMaskedConfig } from './addon';

export interface NativeArgs {
  cfg: NativeLayerConfig;
  tensors: NativeLayerTensors;
  notes: string[];
}

/** Row-major storage of exactly `numel` elements: contiguous() is the tensor itself when it already is that, else a copy. */
const flat = <D extends DType>(t: Tensor<D>): StorageFor<D> => t.contiguous().storage;

function want(t: Tensor | undefined, name: string, dtypes: readonly DType[], shape: readonly number[]): Tensor {
  if (!t) throw new MoeError('E_SHAPE', `${name}: missing (expected ${dtypes.join(' or ')} of shape ${shapeStr(shape)})`, name);
  if (!dtypes.includes(t.dtype)) throw new MoeError('E_DTYPE', `${name}: expected dtype ${dtypes.join(' or ')}, got ${t.dtype}`, name);
  if (t.rank !== shape.length || shape.some((d, i) => d !== t.shape[i]))
    throw new MoeError('E_SHAPE', `${name}: expected shape ${shapeStr(shape)}, got ${shapeStr(t.shape)}`, name);
  return t;
}

/** The weights define the layer's sizes; every other tensor is checked against them. */
function weightArgs(inputs: Record<string, Tensor | undefined>): { E: number; N: number; K: number; tensors: NativeLayerTensors } {
  const w13 = inputs[T.w13_weight];
  if (!w13 || w13.rank !== 3) throw new MoeError('E_SHAPE', `w13_weight: expected shape [E, 2N, K], got ${w13 ? shapeStr(w13.shape) : 'nothing'}`, T.w13_weight);
  const [E, twoN, K] = w13.shape as [number, number, number];
  const N = twoN / 2;
  if (K % 128 !== 0 || N % 128 !== 0)
    throw new MoeError('E_SHAPE', `w13_weight: the CUDA kernels need K and N multiples of 128 (DeepGEMM block size), got K = ${K}, N = ${N} from ${shapeStr(w13.shape)}`, T.w13_weight);
  want(w13, T.w13_weight, ['f8e4m3fn'], [E, twoN, K]);
  const s13 = want(inputs[T.w13_weight_scale_inv], T.w13_weight_scale_inv, ['f32'], [E, twoN / 128, K / 128]);
  const w2 = want(inputs[T.w2_weight], T.w2_weight, ['f8e4m3fn'], [E, K, N]);
  const s2 = want(inputs[T.w2_weight_scale_inv], T.w2_weight_scale_inv, ['f32'], [E, K / 128, N / 128]);
  return {
    E,
    N,
    K,
    tensors: {
      [T.w13_weight]: flat(w13 as Tensor<'f8e4m3fn'>),
      [T.w13_weight_scale_inv]: flat(s13 as Tensor<'f32'>),
      [T.w2_weight]: flat(w2 as Tensor<'f8e4m3fn'>),
      [T.w2_weight_scale_inv]: flat(s2 as Tensor<'f32'>),
    },
  };
}

/** What every recipe tells the addon: the plan, the architecture's compute capability, the numeric recipe. */
function common(spec: LayerSpec, stages: readonly StageId[], repeats: number) {
  const arch = archById(spec.arch);
  // the architecture decides the scale layouts; one the addon cannot produce is refused, never computed as another
  const refused = cudaRefusal(undefined, spec);
  if (refused) throw new MoeError('E_SPEC', `a1q_scale: ${refused}; set the scale format to ${arch.scaleFormats[0]} or run on the CPU backend`, T.a1q_scale);
  return {
    stages,
    arch: arch.computeCapability,
    quant: spec.recipe.quant,
    scaleFormat: spec.recipe.scaleFormat,
    activation: spec.activation.kind,
    ...(spec.activation.clampLimit !== undefined ? { clampLimit: spec.activation.clampLimit } : {}),
    routerWeight: spec.routerWeight,
    repeats,
  };
}

function contiguousArgs(inputs: Record<string, Tensor | undefined>, spec: LayerSpec, stages: readonly StageId[], repeats: number): NativeArgs {
  const x = inputs[T.hidden_states];
  if (!x || x.rank !== 2) throw new MoeError('E_SHAPE', `hidden_states: expected shape [M, K], got ${x ? shapeStr(x.shape) : 'nothing'}`, T.hidden_states);
  const M = x.shape[0]!;
  if (M < 1) throw new MoeError('E_SHAPE', `hidden_states: expected at least one token, got ${shapeStr(x.shape)}`, T.hidden_states);
  const w = weightArgs(inputs);
  const ids = inputs[T.topk_ids];
  const k = ids?.shape[1] ?? 0;
  if (!ids || ids.rank !== 2 || k < 1)
    throw new MoeError('E_SHAPE', `topk_ids: expected shape [${M}, topk] with topk ≥ 1, got ${ids ? shapeStr(ids.shape) : 'nothing'}`, T.topk_ids);
  want(x, T.hidden_states, ['bf16', 'f32'], [M, w.K]);
  want(ids, T.topk_ids, ['i32', 'i64'], [M, k]);
  const tw = want(inputs[T.topk_weights], T.topk_weights, ['f32'], [M, k]);
  const map = inputs[T.expert_map];
  if (map && map.rank !== 1) throw new MoeError('E_SHAPE', `expert_map: expected shape [E_global], got ${shapeStr(map.shape)}`, T.expert_map);
  const cfg: NativeContiguousConfig = { recipe: 'contiguous', ...common(spec, stages, repeats), M, K: w.K, N: w.N, E: w.E, eGlobal: map ? map.numel : w.E, topk: k };
  const tensors: NativeLayerTensors = {
    [T.hidden_states]: flat(x as Tensor<'bf16'> | Tensor<'f32'>) as Uint16Array | Float32Array,
    [T.topk_ids]: flat(ids as Tensor<'i32'> | Tensor<'i64'>) as Int32Array | BigInt64Array,
    [T.topk_weights]: flat(tw as Tensor<'f32'>),
    ...w.tensors,
    ...(map ? { [T.expert_map]: flat(map as Tensor<'i32'>) } : {}),
  };
  return { cfg, tensors, notes: [] };
}

function maskedArgs(inputs: Record<string, Tensor | undefined>, spec: LayerSpec, stages: readonly StageId[], repeats: number): NativeArgs {
  const x = inputs[T.hidden_states];
  if (!x || x.rank !== 3)
    throw new MoeError('E_SHAPE', `hidden_states: a masked layer needs shape [E_local, max_m, K], got ${x ? shapeStr(x.shape) : 'nothing'}`, T.hidden_states);
  const w = weightArgs(inputs);
  const maxM = x.shape[1]!;
  want(x, T.hidden_states, ['bf16', 'f32'], [w.E, maxM, w.K]);
  const mm = want(inputs[MT.masked_m], MT.masked_m, ['i32'], [w.E]) as Tensor<'i32'>;
  const counts = flat(mm);
  for (let e = 0; e < counts.length; e++)
    if (counts[e]! < 0 || counts[e]! > maxM)
      throw new MoeError('E_RANGE', `masked_m[${e}] = ${counts[e]}: expected 0…max_m = ${maxM} valid rows (hidden_states ${shapeStr(x.shape)})`, MT.masked_m);
  const arch = archById(spec.arch);
  if (maxM % arch.maskedRowBlock !== 0)
    throw new MoeError(
      'E_SHAPE',
      `hidden_states: max_m = ${maxM} is not a multiple of the ${arch.label} masked GEMM's ${arch.maskedRowBlock}-row block: a tile would span two experts' buffers. Allocate the buffer with max_m = ${Math.ceil(maxM / arch.maskedRowBlock) * arch.maskedRowBlock}`,
      T.hidden_states,
    );
  const cfg: NativeMaskedConfig = { recipe: 'masked', ...common(spec, stages, repeats), K: w.K, N: w.N, E: w.E, maxM };
  const tensors: NativeLayerTensors = {
    [T.hidden_states]: flat(x as Tensor<'bf16'> | Tensor<'f32'>) as Uint16Array | Float32Array,
    [MT.masked_m]: counts,
    ...w.tensors,
  };
  return { cfg, tensors, notes: [] };
}

const BUILDERS: Readonly<Record<string, typeof contiguousArgs>> = { contiguous: contiguousArgs, masked: maskedArgs, w4afp8: w4NativeArgs, 'torchao-fp8-training': torchaoNativeArgs };

/** The addon's arguments for one run of `stages` of the spec's recipe. */
export function nativeArgs(inputs: Record<string, Tensor | undefined>, spec: LayerSpec, stages: readonly StageId[], repeats: number): NativeArgs {
  const build = BUILDERS[spec.recipe.id];
  if (!build) throw new MoeError('E_BACKEND', `the CUDA addon has no kernels for the ${spec.recipe.id} recipe; run it with --backend cpu`);
  return build(inputs, spec, stages, repeats);
}
