/**
 * Moving tensors between the parent process and the GPU worker, and between JS tensors and the addon's flat
 * typed arrays. Tensors cross the process boundary as plain objects (structured clone, `serialization:
 * 'advanced'`); SharedArrayBuffers cannot cross it and are copied first.
 */
import { Tensor } from '../tensor';
import { MoeError, shapeStr } from '../errors';
import type { DType, StorageFor } from '../dtypes/index';
import type { LayerInputs, StageTensors } from '../backend/types';
import type { LayerSpec } from '../spec';
import type { NativeLayerConfig, NativeLayerResult, NativeLayerTensors } from './addon';

export interface WireTensor {
  dtype: DType;
  shape: number[];
  strides: number[];
  offset: number;
  name: string;
  storage: StorageFor<DType>;
}

function plainStorage<S extends ArrayBufferView>(s: S): S {
  if (!(s.buffer instanceof SharedArrayBuffer)) return s;
  const ctor = s.constructor as new (b: ArrayBufferLike) => S;
  const copy = new Uint8Array(s.byteLength);
  copy.set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength));
  return new ctor(copy.buffer);
}

export function toWire(t: Tensor): WireTensor {
  return { dtype: t.dtype, shape: [...t.shape], strides: [...t.strides], offset: t.offset, name: t.name, storage: plainStorage(t.storage) };
}

export function fromWire(w: WireTensor): Tensor {
  return new Tensor(w.dtype, w.shape, w.storage, w.strides, w.offset, w.name);
}

export function tensorsToWire(ts: Record<string, Tensor | undefined>): Record<string, WireTensor> {
  const out: Record<string, WireTensor> = {};
  for (const [k, t] of Object.entries(ts)) if (t) out[k] = toWire(t);
  return out;
}

export function tensorsFromWire(ws: Record<string, WireTensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, w] of Object.entries(ws)) out[k] = fromWire(w);
  return out;
}

export function inputsFromWire(ws: Record<string, WireTensor>): LayerInputs {
  return tensorsFromWire(ws) as unknown as LayerInputs;
}

/** Row-major storage of exactly `numel` elements (a view when the tensor already is one). */
function flat<D extends DType>(t: Tensor<D>): StorageFor<D> {
  const c = t.contiguous();
  const s = c.storage as unknown as { subarray(a: number, b: number): StorageFor<D>; length: number };
  return c.offset === 0 && s.length === c.numel ? c.storage : s.subarray(c.offset, c.offset + c.numel);
}

function want(t: Tensor, name: string, dtypes: readonly DType[], shape: readonly number[]): void {
  if (!dtypes.includes(t.dtype)) throw new MoeError('E_DTYPE', `${name}: expected dtype ${dtypes.join(' or ')}, got ${t.dtype}`, name);
  if (t.rank !== shape.length || shape.some((d, i) => d !== t.shape[i]))
    throw new MoeError('E_SHAPE', `${name}: expected shape ${shapeStr(shape)}, got ${shapeStr(t.shape)}`, name);
}

/**
 * The addon's configuration and flat inputs for a spec, validated here so that bad shapes are rejected before
 * the worker is even asked (the addon validates again before any launch).
 */
export function nativeArgs(inputs: LayerInputs, spec: LayerSpec, repeats: number): { cfg: NativeLayerConfig; tensors: NativeLayerTensors; notes: string[] } {
  const x = inputs.hidden_states;
  if (x.rank !== 2) throw new MoeError('E_SHAPE', `hidden_states: expected shape [M, K], got ${shapeStr(x.shape)}`, 'hidden_states');
  const M = x.shape[0]!;
  if (M < 1) throw new MoeError('E_SHAPE', `hidden_states: expected at least one token, got ${shapeStr(x.shape)}`, 'hidden_states');
  // the weights define the layer's sizes; every other tensor is checked against them
  const w13 = inputs.w13_weight;
  if (w13.rank !== 3) throw new MoeError('E_SHAPE', `w13_weight: expected shape [E, 2N, K], got ${shapeStr(w13.shape)}`, 'w13_weight');
  const [E, twoN, K] = w13.shape as [number, number, number];
  const N = twoN / 2;
  if (K % 128 !== 0 || N % 128 !== 0)
    throw new MoeError('E_SHAPE', `w13_weight: the CUDA kernels need K and N multiples of 128 (DeepGEMM block size), got K = ${K}, N = ${N} from ${shapeStr(w13.shape)}`, 'w13_weight');
  const k = inputs.topk_ids.shape[1] ?? 0;
  if (inputs.topk_ids.rank !== 2 || k < 1)
    throw new MoeError('E_SHAPE', `topk_ids: expected shape [${M}, topk] with topk ≥ 1, got ${shapeStr(inputs.topk_ids.shape)}`, 'topk_ids');
  want(x, 'hidden_states', ['bf16', 'f32'], [M, K]);
  want(inputs.topk_ids, 'topk_ids', ['i32', 'i64'], [M, k]);
  want(inputs.topk_weights, 'topk_weights', ['f32'], [M, k]);
  want(w13, 'w13_weight', ['f8e4m3fn'], [E, twoN, K]);
  want(inputs.w13_weight_scale_inv, 'w13_weight_scale_inv', ['f32'], [E, twoN / 128, K / 128]);
  want(inputs.w2_weight, 'w2_weight', ['f8e4m3fn'], [E, K, N]);
  want(inputs.w2_weight_scale_inv, 'w2_weight_scale_inv', ['f32'], [E, K / 128, N / 128]);
  const map = inputs.expert_map;
  if (map && map.rank !== 1) throw new MoeError('E_SHAPE', `expert_map: expected shape [E_global], got ${shapeStr(map.shape)}`, 'expert_map');

  const notes: string[] = [];
  let arch: 90 | 100 = spec.arch === 'sm100' ? 100 : 90;
  if (arch === 100 && spec.recipe.scaleFormat !== 'ue8m0') {
    // SM100 kernels only take packed UE8M0 scales; the checks report it. Compute with float32 MN-major scales.
    arch = 90;
    notes.push('a1q_scale: SM100 needs UE8M0 scales, the recipe has float32: the GPU computed with SM90 float32 MN-major scales and no SM100 layout');
  }
  const cfg: NativeLayerConfig = {
    M,
    K,
    N,
    E,
    eGlobal: map ? map.numel : E,
    topk: k,
    arch,
    quant: spec.recipe.quant,
    scaleFormat: spec.recipe.scaleFormat,
    activation: spec.activation.kind,
    ...(spec.activation.clampLimit !== undefined ? { clampLimit: spec.activation.clampLimit } : {}),
    routerWeight: spec.routerWeight,
    repeats,
  };
  const tensors: NativeLayerTensors = {
    hidden_states: flat(x as Tensor<'bf16'> | Tensor<'f32'>) as Uint16Array | Float32Array,
    topk_ids: flat(inputs.topk_ids as Tensor<'i32'> | Tensor<'i64'>) as Int32Array | BigInt64Array,
    topk_weights: flat(inputs.topk_weights),
    w13_weight: flat(w13),
    w13_weight_scale_inv: flat(inputs.w13_weight_scale_inv),
    w2_weight: flat(inputs.w2_weight),
    w2_weight_scale_inv: flat(inputs.w2_weight_scale_inv),
    ...(map ? { expert_map: flat(map) } : {}),
  };
  return { cfg, tensors, notes };
}

const align4 = (x: number): number => Math.ceil(x / 4) * 4;

/** The addon's flat outputs as stage tensors under DESIGN.md's names (layouts kept as their strided storage). */
export function stageTensorsFromNative(r: NativeLayerResult, cfg: NativeLayerConfig): StageTensors {
  const { M, K, N, topk } = cfg;
  const S = r.mSum;
  const G = K / 128;
  const GN = N / 128;
  const t = r.tensors;
  const mnMajorToRowMajor = (s: Float32Array, rows: number, cols: number, name: string): Tensor<'f32'> =>
    new Tensor('f32', [rows, cols], rows && cols ? s : new Float32Array(0), [1, rows], 0, name).contiguous().withName(name);
  const out: StageTensors = {
    a1q: new Tensor('f8e4m3fn', [M, K], t.a1q, undefined, 0, 'a1q'),
    a1q_scale: new Tensor('f32', [M, G], t.a1q_scale, undefined, 0, 'a1q_scale'),
    m_indices: new Tensor('i32', [S], t.m_indices.subarray(0, S), undefined, 0, 'm_indices'),
    inv_perm: new Tensor('i32', [M, topk], t.inv_perm, undefined, 0, 'inv_perm'),
    a1q_permuted: new Tensor('f8e4m3fn', [S, K], t.a1q_permuted, undefined, 0, 'a1q_permuted'),
    a1q_scale_permuted: mnMajorToRowMajor(t.a1q_scale_permuted_mn, S, G, 'a1q_scale_permuted'),
    mm1_out: new Tensor('bf16', [S, 2 * N], t.mm1_out, undefined, 0, 'mm1_out'),
    act_out: new Tensor('bf16', [S, N], t.act_out, undefined, 0, 'act_out'),
    a2q: new Tensor('f8e4m3fn', [S, N], t.a2q, undefined, 0, 'a2q'),
    a2q_scale: mnMajorToRowMajor(t.a2q_scale_mn, S, GN, 'a2q_scale'),
    mm2_out: new Tensor('bf16', [S, K], t.mm2_out, undefined, 0, 'mm2_out'),
    output: new Tensor('bf16', [M, K], t.output, undefined, 0, 'output'),
  };
  if (cfg.arch === 100) {
    out.a1q_scale_layout = new Tensor('i32', [M, Math.ceil(G / 4)], t.a1q_scale_layout as Int32Array, [1, align4(M)], 0, 'a1q_scale_layout');
    if (t.a2q_scale_packed && S > 0)
      out.a2q_scale_layout = new Tensor('i32', [S, Math.ceil(GN / 4)], t.a2q_scale_packed, [1, S], 0, 'a2q_scale_layout');
  } else {
    out.a1q_scale_layout = new Tensor('f32', [M, G], t.a1q_scale_layout as Float32Array, [1, align4(M)], 0, 'a1q_scale_layout');
    if (S > 0) out.a2q_scale_layout = new Tensor('f32', [S, GN], t.a2q_scale_mn, [1, S], 0, 'a2q_scale_layout');
  }
  return out;
}
