/**
 * Float64 reference of the MegaMoE schedule, pool row by pool row on demand (the |error| heatmaps and the property
 * tests). It shares no code path with the stages beyond the quantizer: it stages the tokens itself, computes L1 over
 * the NATURAL gate-then-up w13 (so the interleave is checked, not assumed), applies the clamped SwiGLU and the
 * routing weight in float64, quantizes the result (rounded to float32) with 1×64 groups, and computes L2 and the
 * per-token sum in float64.
 */
import type { LayerSpec } from '../../spec';
import type { LayerInputs } from '../../backend/types';
import type { Tensor } from '../../tensor';
import type { ErrorFn } from '../types';
import type { PermutePlan } from '../../ops/permute';
import { T } from '../tensors';
import { MG } from './tensors';
import { E4M3_DECODE } from '../../dtypes/fp8e4m3';
import { quantizeGroups } from './quantize';
import { interleaveMap } from './interleave';
import { L2_ACT_GROUP, MEGAMOE_BLOCK } from './limits';

export interface PoolRowReference {
  /** dequantized staged token (H) */
  x: Float64Array;
  /** L1 output in natural order: gate 0…IH−1, up IH…2IH−1 */
  l1: Float64Array;
  /** SwiGLU × routing weight (IH) */
  act: Float64Array;
  /** dequantized L2 input (IH) */
  a2: Float64Array;
  /** L2 output (H) */
  l2: Float64Array;
}

const silu = (g: number): number => g / (1 + Math.exp(-g));

function bytes(t: Tensor<'f8e4m3fn'>): Uint8Array {
  const c = t.contiguous();
  return c.storage.subarray(c.offset, c.offset + c.numel);
}

export class MegaMoeReference64 {
  private readonly rows = new Map<number, PoolRowReference>();
  private readonly tokens = new Map<number, Float64Array>();
  private readonly H: number;
  private readonly IH: number;
  private readonly k: number;
  private readonly w13: Uint8Array;
  private readonly w2: Uint8Array;
  private readonly s13: Float32Array;
  private readonly s2: Float32Array;
  private readonly x: Float32Array;
  private readonly clamp: number;
  /** pool row of each pair, −1 when not local */
  private readonly rowOfPair: Int32Array;

  constructor(
    private readonly inputs: LayerInputs,
    spec: LayerSpec,
    private readonly plan: PermutePlan,
  ) {
    [, this.H] = inputs.hidden_states.shape as [number, number];
    this.IH = inputs.w2_weight.shape[2]!;
    this.k = inputs.topk_ids.shape[1]!;
    this.w13 = bytes(inputs.w13_weight);
    this.w2 = bytes(inputs.w2_weight);
    this.s13 = inputs.w13_weight_scale_inv.toFloat32();
    this.s2 = inputs.w2_weight_scale_inv.toFloat32();
    this.x = inputs.hidden_states.toFloat32();
    this.clamp = spec.activation.kind === 'swiglu' ? (spec.activation.clampLimit ?? Infinity) : Infinity;
    this.rowOfPair = new Int32Array(inputs.topk_ids.numel).fill(-1);
    for (let r = 0; r < plan.mSum; r++) this.rowOfPair[plan.rowPair[r]!] = r;
  }

  /** the staged token t, dequantized (per_token_cast_to_fp8 with 1×128 groups) */
  staged(t: number): Float64Array {
    const { H } = this;
    const G = H / MEGAMOE_BLOCK;
    const q = new Uint8Array(H);
    const s = new Float32Array(G);
    quantizeGroups(this.x, t * H, H, MEGAMOE_BLOCK, q, 0, s, 0, 1);
    const a = new Float64Array(H);
    for (let c = 0; c < H; c++) a[c] = E4M3_DECODE[q[c]!]! * s[Math.floor(c / MEGAMOE_BLOCK)]!;
    return a;
  }

  row(r: number): PoolRowReference | undefined {
    if (!(r >= 0 && r < this.plan.mSum)) return undefined;
    const hit = this.rows.get(r);
    if (hit) return hit;
    const { H, IH } = this;
    const p = this.plan.rowPair[r]!;
    const e = this.plan.mIndices.storage[r]!;
    const x = this.staged(Math.floor(p / this.k));
    const Kb1 = Math.ceil(H / MEGAMOE_BLOCK);
    const Nb13 = Math.ceil((2 * IH) / MEGAMOE_BLOCK);
    const l1 = new Float64Array(2 * IH);
    for (let n = 0; n < 2 * IH; n++) {
      const w = (e * 2 * IH + n) * H;
      let sum = 0;
      for (let c = 0; c < H; c++) sum += x[c]! * E4M3_DECODE[this.w13[w + c]!]! * this.s13[(e * Nb13 + Math.floor(n / MEGAMOE_BLOCK)) * Kb1 + Math.floor(c / MEGAMOE_BLOCK)]!;
      l1[n] = sum;
    }
    const weight = this.inputs.topk_weights.storage[this.inputs.topk_weights.offset + p]!;
    const act = new Float64Array(IH);
    for (let n = 0; n < IH; n++) {
      const g = Math.min(l1[n]!, this.clamp);
      const u = Math.max(-this.clamp, Math.min(this.clamp, l1[IH + n]!));
      act[n] = silu(g) * u * weight;
    }
    const G2 = IH / L2_ACT_GROUP;
    const q = new Uint8Array(IH);
    const s = new Float32Array(G2);
    quantizeGroups(Float32Array.from(act), 0, IH, L2_ACT_GROUP, q, 0, s, 0, 1);
    const a2 = new Float64Array(IH);
    for (let n = 0; n < IH; n++) a2[n] = E4M3_DECODE[q[n]!]! * s[Math.floor(n / L2_ACT_GROUP)]!;
    const Kb2 = Math.ceil(IH / MEGAMOE_BLOCK);
    const Nb2 = Math.ceil(H / MEGAMOE_BLOCK);
    const l2 = new Float64Array(H);
    for (let h = 0; h < H; h++) {
      const w = (e * H + h) * IH;
      let sum = 0;
      for (let n = 0; n < IH; n++) sum += a2[n]! * E4M3_DECODE[this.w2[w + n]!]! * this.s2[(e * Nb2 + Math.floor(h / MEGAMOE_BLOCK)) * Kb2 + Math.floor(n / MEGAMOE_BLOCK)]!;
      l2[h] = sum;
    }
    const ref = { x, l1, act, a2, l2 };
    this.rows.set(r, ref);
    return ref;
  }

  /** output row of token t: the unweighted sum of its local pairs' L2 rows (the weight is inside act) */
  token(t: number): Float64Array {
    const hit = this.tokens.get(t);
    if (hit) return hit;
    const y = new Float64Array(this.H);
    for (let s = 0; s < this.k; s++) {
      const r = this.rowOfPair[t * this.k + s]!;
      if (r < 0) continue;
      const l2 = this.row(r)!.l2;
      for (let h = 0; h < this.H; h++) y[h] += l2[h]!;
    }
    this.tokens.set(t, y);
    return y;
  }
}

/** value − float64 reference over the 2-D view of a stage tensor; NaN where there is none */
export function megamoeErrorFn(name: string, tensors: ReadonlyMap<string, Tensor>, inputs: LayerInputs, spec: LayerSpec, plan: PermutePlan): ErrorFn | undefined {
  const Tk = inputs.hidden_states.shape[0]!;
  if (name === MG.sym_x) {
    const q = tensors.get(MG.sym_x);
    const s = tensors.get(MG.sym_x_sf);
    if (!q || !s) return undefined;
    const x = inputs.hidden_states;
    return (r, c) => (r < Tk ? E4M3_DECODE[q.raw(r, c)]! * s.get(r, Math.floor(c / MEGAMOE_BLOCK)) - x.get(r, c) : NaN);
  }
  if (name !== MG.l1_out && name !== MG.swiglu_out && name !== MG.l2_out && name !== T.output) return undefined;
  const ref = new MegaMoeReference64(inputs, spec, plan);
  if (name === T.output) return (r, c, v) => v - ref.token(r)[c]!;
  if (name === MG.l1_out) {
    const map = interleaveMap(inputs.w2_weight.shape[2]!);
    return (r, c, v) => v - ref.row(r)!.l1[map[c]!]!;
  }
  if (name === MG.swiglu_out) return (r, c, v) => v - ref.row(r)!.act[c]!;
  return (r, c, v) => v - ref.row(r)!.l2[c]!;
}
