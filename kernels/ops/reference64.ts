/**
 * The whole layer in float64 from the same quantized inputs, pair by pair: dequantize a1q and the weights exactly,
 * matmul in float64, silu·up in float64, re-quantize with the run's recipe (from the BF16-stored activation, the
 * recipe's one rounding point that decides FP8 codes), matmul, weighted sum. Used by property tests and by the UI's |error| heatmaps. Computed per (token, slot)
 * pair on demand and cached, so an error tile of a DeepSeek-size layer costs only the rows it shows.
 */
import type { LayerInputs } from '../backend/types';
import type { LayerSpec } from '../spec';
import { E4M3_DECODE } from '../dtypes/fp8e4m3';
import { roundBf16 } from '../dtypes/bf16';
import { MoeError } from '../errors';
import { quantizeActivations, quantizeRowGroups } from './quantize';
import type { PermutePlan } from './permute';
import { Tensor } from '../tensor';
import { expertPagesOf, expertSlice } from '../expertPages';

export interface PairReference {
  /** GEMM1 output row (2N) */
  mm1: Float64Array;
  /** activation row (N) */
  act: Float64Array;
  /** dequantized re-quantized activation row (N): what GEMM2 multiplies */
  a2: Float64Array;
  /** GEMM2 output row (K) */
  mm2: Float64Array;
}

const silu = (g: number): number => g / (1 + Math.exp(-g));

/** Σ_c x[c] · w[c] · scale[block of c] in float64, one scale multiply per 128-wide block */
function blockDot(x: Float64Array, codes: Uint8Array, off: number, len: number, scales: Float32Array, sOff: number): number {
  let total = 0;
  for (let c0 = 0, j = 0; c0 < len; c0 += 128, j++) {
    const c1 = Math.min(c0 + 128, len);
    let s = 0;
    for (let c = c0; c < c1; c++) s += x[c]! * E4M3_DECODE[codes[off + c]!]!;
    total += s * scales[sOff + j]!;
  }
  return total;
}

/**
 * Expert e's FP8 codes, row-major: a view of a whole tensor, or — for weights made per expert (kernels/expertPages.ts)
 * — the expert made on demand, the last two kept (an error tile reads a few rows of a few experts).
 */
function expertBytes(t: Tensor<'f8e4m3fn'>): (e: number) => Uint8Array {
  if (expertPagesOf(t)) {
    const cache = new Map<number, Uint8Array>();
    return (e) => {
      let b = cache.get(e);
      if (!b) {
        b = expertSlice(t, e).storage;
        if (cache.size >= 2) cache.delete(cache.keys().next().value!);
        cache.set(e, b);
      }
      return b;
    };
  }
  const c = t.contiguous();
  const all = c.storage.subarray(c.offset, c.offset + c.numel);
  const per = t.numel / Math.max(1, t.shape[0]!);
  return (e) => all.subarray(e * per, (e + 1) * per);
}

/** the weights of a layer as the float64 reference reads them: FP8 codes per expert and dense row-major block scales */
export interface ReferenceWeights {
  K: number;
  N: number;
  /** expert e's (2N, K) and (K, N) codes */
  w13: (e: number) => Uint8Array;
  w2: (e: number) => Uint8Array;
  /** (E, ⌈2N/128⌉, ⌈K/128⌉) and (E, ⌈K/128⌉, ⌈N/128⌉) */
  s13: Float32Array;
  s2: Float32Array;
}

export function referenceWeights(t: {
  w13_weight: Tensor<'f8e4m3fn'>;
  w2_weight: Tensor<'f8e4m3fn'>;
  w13_weight_scale_inv: Tensor<'f32'>;
  w2_weight_scale_inv: Tensor<'f32'>;
}): ReferenceWeights {
  return {
    K: t.w2_weight.shape[1]!,
    N: t.w2_weight.shape[2]!,
    w13: expertBytes(t.w13_weight),
    w2: expertBytes(t.w2_weight),
    s13: t.w13_weight_scale_inv.toFloat32(),
    s2: t.w2_weight_scale_inv.toFloat32(),
  };
}

/**
 * One row through expert e in float64: `a` is the dequantized activation row (K), `routeWeight` the routing weight
 * applied at the activation (1 unless MegaMoE's placement). Every recipe with FP8 block-scaled experts shares it.
 */
export function expertRowReference(a: Float64Array, e: number, w: ReferenceWeights, spec: LayerSpec, routeWeight: number): PairReference {
  const { K, N } = w;
  const Kb = Math.ceil(K / 128);
  const mm1 = new Float64Array(2 * N);
  const Nb13 = Math.ceil((2 * N) / 128);
  const w13 = w.w13(e);
  for (let n = 0; n < 2 * N; n++) {
    const row = n * K;
    const sRow = (e * Nb13 + (n >> 7)) * Kb;
    mm1[n] = blockDot(a, w13, row, K, w.s13, sRow);
  }
  const act = new Float64Array(N);
  const swiglu = spec.activation.kind === 'swiglu';
  const lim = spec.activation.clampLimit ?? Infinity;
  for (let n = 0; n < N; n++) {
    let g = mm1[n]!;
    let u = mm1[N + n]!;
    if (swiglu) {
      g = Math.min(g, lim);
      u = Math.max(-lim, Math.min(lim, u));
    }
    act[n] = silu(g) * u * routeWeight;
  }
  // re-quantize as the recipe defines it: act is stored BF16 (docs/layouts-and-stages.md §5), then quantized per 128-group
  // (N is a multiple of 128 whenever the checks pass)
  const a2 = new Float64Array(N);
  if (N % 128 === 0) {
    const q = new Uint8Array(N);
    const sc = new Float32Array(N / 128);
    quantizeRowGroups(Float32Array.from(act, roundBf16), 0, N, q, 0, sc, 0, 1, { convention: spec.recipe.quant, scaleFormat: spec.recipe.scaleFormat });
    for (let n = 0; n < N; n++) a2[n] = E4M3_DECODE[q[n]!]! * sc[n >> 7]!;
  } else a2.set(act);
  const mm2 = new Float64Array(K);
  const Nb2 = Math.ceil(N / 128);
  const w2 = w.w2(e);
  for (let c = 0; c < K; c++) {
    const row = c * N;
    const sRow = (e * Kb + (c >> 7)) * Nb2;
    mm2[c] = blockDot(a2, w2, row, N, w.s2, sRow);
  }
  return { mm1, act, a2, mm2 };
}

/**
 * What every float64 layer reference shares: pairs p = t·k + s computed on demand and cached (an error tile costs
 * only the rows it shows), the expert of a pair from the permutation plan, and a token's output as the weighted sum
 * of its slots. A recipe's reference supplies the pair's math and the weight each slot carries at the reduce.
 */
export abstract class PairwiseReference64 {
  private readonly pairs = new Map<number, PairReference>();
  private readonly tokens = new Map<number, Float64Array>();

  constructor(
    protected readonly plan: PermutePlan,
    /** tokens */
    protected readonly M: number,
    /** output width (hidden size) */
    protected readonly H: number,
    /** slots per token (top-k) */
    protected readonly k: number,
  ) {}

  /** the reference of pair p, routed to local expert e, of token t */
  protected abstract computePair(p: number, e: number, t: number): PairReference;
  /** the weight slot s of token t carries at the reduce */
  protected abstract reduceWeight(t: number, s: number): number;

  /** local expert of pair p = t·k + s, −1 when not computed on this rank */
  expertOf(p: number): number {
    const row = this.plan.invPerm.storage[p]!;
    return row < 0 ? -1 : this.plan.mIndices.storage[row]!;
  }

  pair(p: number): PairReference | undefined {
    const hit = this.pairs.get(p);
    if (hit) return hit;
    if (!(p >= 0 && p < this.M * this.k)) throw new MoeError('E_RANGE', `reference: pair ${p} outside 0…${this.M * this.k - 1}`);
    const e = this.expertOf(p);
    if (e < 0) return undefined;
    const ref = this.computePair(p, e, Math.floor(p / this.k));
    this.pairs.set(p, ref);
    return ref;
  }

  /** final output row of token t */
  token(t: number): Float64Array {
    const hit = this.tokens.get(t);
    if (hit) return hit;
    const y = new Float64Array(this.H);
    for (let s = 0; s < this.k; s++) {
      const r = this.pair(t * this.k + s);
      if (!r) continue;
      const w = this.reduceWeight(t, s);
      for (let c = 0; c < this.H; c++) y[c] += w * r.mm2[c]!;
    }
    this.tokens.set(t, y);
    return y;
  }
}

export class LayerReference64 extends PairwiseReference64 {
  private readonly a1q: Uint8Array;
  private readonly a1s: Float32Array;
  private readonly weights: ReferenceWeights;

  constructor(
    private readonly inputs: LayerInputs,
    private readonly spec: LayerSpec,
    plan: PermutePlan,
  ) {
    const [M, K] = inputs.hidden_states.shape as [number, number];
    super(plan, M, K, inputs.topk_ids.shape[1]!);
    let x = inputs.hidden_states;
    if (spec.routerWeight === 'input') x = weightedInput(inputs);
    const q = quantizeActivations(x, { convention: spec.recipe.quant, scaleFormat: spec.recipe.scaleFormat });
    this.a1q = q.q.storage;
    this.a1s = q.scale.storage;
    this.weights = referenceWeights(inputs);
  }

  protected computePair(p: number, e: number, t: number): PairReference {
    const K = this.H;
    const Kb = Math.ceil(K / 128);
    const a = new Float64Array(K);
    for (let c = 0; c < K; c++) a[c] = E4M3_DECODE[this.a1q[t * K + c]!]! * this.a1s[t * Kb + (c >> 7)]!;
    const w = this.spec.routerWeight === 'activation' ? this.inputs.topk_weights.storage[p]! : 1;
    return expertRowReference(a, e, this.weights, this.spec, w);
  }

  protected reduceWeight(t: number, s: number): number {
    return this.spec.routerWeight !== 'reduce' ? 1 : this.inputs.topk_weights.get(t, s);
  }
}

/** apply_router_weight_on_input (k = 1): x · w before quantization, in float32 */
export function weightedInput(inputs: LayerInputs): Tensor<'f32'> {
  const x = inputs.hidden_states;
  const [M, K] = x.shape as [number, number];
  const k = inputs.topk_weights.shape[1]!;
  if (k !== 1) throw new MoeError('E_SPEC', `router weight on the input needs topk = 1 (vLLM allows it only then), got topk = ${k}`, 'topk_weights');
  const f = x.toFloat32();
  for (let t = 0; t < M; t++) {
    const w = inputs.topk_weights.get(t, 0);
    for (let c = 0; c < K; c++) f[t * K + c] = Math.fround(f[t * K + c]! * w);
  }
  return new Tensor('f32', [M, K], f, undefined, 0, 'hidden_states_weighted');
}
