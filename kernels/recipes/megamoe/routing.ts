/**
 * DeepSeek-V4's router (layout-spec.md §10.3): score = sqrt(softplus(logit)) per expert in float32; the top-k is
 * chosen on score + e_score_correction_bias (the bias only chooses); the weights are the UNBIASED scores of the
 * chosen experts, normalised to sum 1 (norm_topk_prob, with 1e−20 added to the sum) and multiplied by
 * routed_scaling_factor = 1.5. Hash layers (the first num_hash_layers = 3 MoE layers) take their experts from a
 * frozen token → experts table instead, and still weight them with the normalised, scaled scores.
 * Arithmetic: each step rounded to float32; softplus follows torch.nn.functional.softplus (x above the threshold 20
 * passes through). Ties in the selection go to the lower expert id (torch.topk's order on ties is not specified).
 */
import { MoeError, shapeStr } from '../../errors';

const fround = Math.fround;
const SOFTPLUS_THRESHOLD = 20;
const NORM_EPS = fround(1e-20);

export interface SqrtSoftplusOptions {
  topk: number;
  /** normalise the chosen weights to sum 1 (DeepSeek-V4: true) */
  normTopkProb?: boolean;
  /** DeepSeek-V4: 1.5 */
  routedScalingFactor?: number;
  /** (E,) e_score_correction_bias, added for the choice only */
  bias?: Float32Array;
  /** hash layers: (T × k) expert ids that replace the choice (tid2eid[token_id]) */
  hashIds?: Int32Array;
}

export interface Routing {
  /** (T × k) chosen experts, best first */
  topkIds: Int32Array;
  /** (T × k) */
  topkWeights: Float32Array;
  /** (T × E) sqrt(softplus(logit)) */
  scores: Float32Array;
}

export const DEEPSEEK_V4_ROUTING = { normTopkProb: true, routedScalingFactor: 1.5 } as const;

export function softplusF32(x: number): number {
  return x > SOFTPLUS_THRESHOLD ? fround(x) : fround(Math.log1p(Math.exp(x)));
}

export const sqrtSoftplusF32 = (x: number): number => fround(Math.sqrt(softplusF32(x)));

/** logits (T × E, row-major) → DeepSeek-V4 routing */
export function sqrtSoftplusRouting(logits: Float32Array, experts: number, opts: SqrtSoftplusOptions): Routing {
  const E = experts;
  const k = opts.topk;
  if (!Number.isInteger(E) || E < 1) throw new MoeError('E_SPEC', `router: number of experts must be a positive integer, got ${E}`);
  if (logits.length % E !== 0) throw new MoeError('E_SHAPE', `router_logits: ${logits.length} values are not a whole number of rows of ${E} experts`, 'router_logits');
  if (!Number.isInteger(k) || k < 1 || k > E) throw new MoeError('E_SPEC', `router: top-k must be between 1 and the number of experts (${E}), got ${k}`);
  if (opts.bias && opts.bias.length !== E) throw new MoeError('E_SHAPE', `e_score_correction_bias: expected shape [${E}], got [${opts.bias.length}]`, 'e_score_correction_bias');
  const T = logits.length / E;
  if (opts.hashIds && opts.hashIds.length !== T * k)
    throw new MoeError('E_SHAPE', `tid2eid: expected ${shapeStr([T, k])} expert ids (one row per token), got ${opts.hashIds.length} values`, 'tid2eid');
  const scale = opts.routedScalingFactor ?? 1;
  const scores = new Float32Array(T * E);
  const ids = new Int32Array(T * k);
  const w = new Float32Array(T * k);
  const key = new Float32Array(E);
  const order = Array.from({ length: E }, (_, i) => i);
  for (let t = 0; t < T; t++) {
    for (let e = 0; e < E; e++) {
      const x = logits[t * E + e]!;
      if (!Number.isFinite(x)) throw new MoeError('E_VALUE', `router_logits[${t}, ${e}] = ${x}: the router needs finite logits`, 'router_logits');
      const s = sqrtSoftplusF32(x);
      scores[t * E + e] = s;
      key[e] = opts.bias ? fround(s + opts.bias[e]!) : s;
    }
    if (opts.hashIds) {
      for (let s = 0; s < k; s++) {
        const e = opts.hashIds[t * k + s]!;
        if (!Number.isInteger(e) || e < 0 || e >= E) throw new MoeError('E_RANGE', `tid2eid: token ${t} slot ${s} names expert ${e}, outside 0…${E - 1}`, 'tid2eid');
        ids[t * k + s] = e;
      }
    } else {
      order.sort((a, b) => key[b]! - key[a]! || a - b);
      for (let s = 0; s < k; s++) ids[t * k + s] = order[s]!;
    }
    let sum = 0;
    for (let s = 0; s < k; s++) {
      w[t * k + s] = scores[t * E + ids[t * k + s]!]!;
      sum = fround(sum + w[t * k + s]!);
    }
    const den = fround(sum + NORM_EPS);
    for (let s = 0; s < k; s++) {
      let v = w[t * k + s]!;
      if (opts.normTopkProb) v = fround(v / den);
      w[t * k + s] = fround(v * scale);
    }
  }
  return { topkIds: ids, topkWeights: w, scores };
}
