/**
 * Router scoring: logits (M, E) → top-k expert ids and weights, as the serving engines compute them.
 *
 *   softmax top-k (Qwen3-MoE, Mixtral; vLLM fused_topk):  p = softmax(logits); ids = top-k of p; w = p[ids]
 *   grouped top-k (DeepSeek-V3/R1/V3.1; vLLM grouped_topk, HF MoEGate):
 *       s = σ(logit); choice = s + e_score_correction_bias (bias only for choosing);
 *       group score = sum of the group's two largest choice values (max without a bias);
 *       keep the topk_group best groups, ids = top-k of choice inside them; w = s[ids] (unbiased)
 *   sqrtsoftplus (DeepSeek-V4, docs/layouts-and-stages.md §10.3): s = √softplus(logit), then as the grouped rule
 *   then, for all: w /= Σw when norm_topk_prob; w *= routed_scaling_factor.
 *
 * float32 semantics: every elementwise result is rounded to float32 once (Math.fround of the float64 value: the
 * correctly rounded float32 of exp/σ/softplus/√ — PyTorch's float32 kernels are within an ulp of it); sums are
 * accumulated in float64 and rounded once (PyTorch's float32 tree reduction may differ in the last ulp). So weights
 * agree with PyTorch to a few ulps and ids agree except between candidates whose scores are that close.
 * torch.softplus's threshold is kept: softplus(x) = x for x > 20.
 * Ties are broken towards the lower expert (and group) index; the k slots are ordered by decreasing choice value
 * (torch.topk(sorted=True); vLLM's grouped_topk asks for sorted=False, whose order is unspecified — order does not
 * change the layer's output). Masked-out groups never win (vLLM fills them with −inf; HF's DeepSeek code fills 0.0,
 * which differs only when every biased score in the kept groups is ≤ 0).
 * A zero sum of chosen weights (σ underflowing for logits below −103) leaves zeros, as HF's `sum + 1e-20` does.
 */
import { MoeError } from '../errors';
import type { RouterConfig, Routing, ScoringFunc } from './types';

const f = Math.fround;

/** torch.nn.functional.softplus with beta 1, threshold 20 */
function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

/** One token's scores, float32-rounded, written to out[0…E). */
function scoreRow(logits: Float32Array, off: number, E: number, scoring: ScoringFunc, out: Float32Array): void {
  if (scoring === 'softmax') {
    let m = -Infinity;
    for (let e = 0; e < E; e++) if (logits[off + e]! > m) m = logits[off + e]!;
    let sum = 0;
    for (let e = 0; e < E; e++) {
      const v = f(Math.exp(f(logits[off + e]! - m)));
      out[e] = v;
      sum += v;
    }
    const s = f(sum);
    for (let e = 0; e < E; e++) out[e] = f(out[e]! / s);
  } else if (scoring === 'sigmoid') {
    for (let e = 0; e < E; e++) out[e] = f(1 / (1 + Math.exp(-logits[off + e]!)));
  } else {
    for (let e = 0; e < E; e++) out[e] = f(Math.sqrt(f(softplus(logits[off + e]!))));
  }
}

/** Scores for every token and expert (M, E), float32: what the router's weights are gathered from. */
export function scoreExperts(logits: Float32Array, M: number, E: number, scoring: ScoringFunc): Float32Array {
  checkLogits(logits, M, E);
  const out = new Float32Array(M * E);
  const row = new Float32Array(E);
  for (let t = 0; t < M; t++) {
    scoreRow(logits, t * E, E, scoring, row);
    out.set(row, t * E);
  }
  return out;
}

function checkLogits(logits: Float32Array, M: number, E: number): void {
  if (!Number.isInteger(M) || M < 0 || !Number.isInteger(E) || E < 1)
    throw new MoeError('E_SHAPE', `router_logits: need M ≥ 0 tokens and E ≥ 1 experts, got M=${M}, E=${E}`, 'router_logits');
  if (logits.length !== M * E) throw new MoeError('E_SHAPE', `router_logits: expected ${M}×${E} = ${M * E} values, got ${logits.length}`, 'router_logits');
  for (let i = 0; i < logits.length; i++)
    if (!Number.isFinite(logits[i]!))
      throw new MoeError('E_VALUE', `router_logits[${Math.floor(i / E)}, ${i % E}] = ${logits[i]}: router logits must be finite`, 'router_logits');
}

export function checkRouterConfig(cfg: RouterConfig, E: number): void {
  const bad = (why: string): MoeError => new MoeError('E_SPEC', `router config: ${why}`);
  if (!['softmax', 'sigmoid', 'sqrtsoftplus'].includes(cfg.scoring)) throw bad(`unknown scoring function '${cfg.scoring}' (softmax, sigmoid or sqrtsoftplus)`);
  if (!Number.isInteger(cfg.topk) || cfg.topk < 1 || cfg.topk > E) throw bad(`top-k must be an integer in 1…${E} (experts), got ${cfg.topk}`);
  if (!Number.isInteger(cfg.nGroup) || cfg.nGroup < 1 || E % cfg.nGroup !== 0) throw bad(`n_group ${cfg.nGroup} must divide the ${E} experts`);
  if (!Number.isInteger(cfg.topkGroup) || cfg.topkGroup < 1 || cfg.topkGroup > cfg.nGroup) throw bad(`topk_group ${cfg.topkGroup} must be in 1…${cfg.nGroup} (n_group)`);
  if (cfg.topk > cfg.topkGroup * (E / cfg.nGroup))
    throw bad(`top-${cfg.topk} cannot be chosen from ${cfg.topkGroup} groups of ${E / cfg.nGroup} experts`);
  if (!Number.isFinite(cfg.routedScalingFactor)) throw bad(`routed_scaling_factor must be finite, got ${cfg.routedScalingFactor}`);
}

/** larger value first; equal values: lower index first */
const better = (va: number, ia: number, vb: number, ib: number): boolean => va > vb || (va === vb && ia < ib);

/**
 * Routes M tokens. `logits` (M, E) row-major float32; `bias` (E) is DeepSeek's e_score_correction_bias, required
 * when cfg.usesCorrectionBias. Returns ids and float32 weights (M, topk).
 */
export function routeFromLogits(logits: Float32Array, M: number, E: number, cfg: RouterConfig, bias?: Float32Array): Routing {
  checkLogits(logits, M, E);
  checkRouterConfig(cfg, E);
  if (cfg.usesCorrectionBias && !bias)
    throw new MoeError('E_VALUE', 'router: this model selects experts on score + e_score_correction_bias, but no bias was given (it is the checkpoint tensor …mlp.gate.e_score_correction_bias)', 'e_score_correction_bias');
  if (bias) {
    if (bias.length !== E) throw new MoeError('E_SHAPE', `e_score_correction_bias: expected ${E} values (one per expert), got ${bias.length}`, 'e_score_correction_bias');
    for (let e = 0; e < E; e++) if (!Number.isFinite(bias[e]!)) throw new MoeError('E_VALUE', `e_score_correction_bias[${e}] = ${bias[e]}: must be finite`, 'e_score_correction_bias');
  }
  const { topk: k, nGroup: G, topkGroup } = cfg;
  const per = E / G;
  const grouped = G > 1 && topkGroup < G;
  const ids = new Int32Array(M * k);
  const w = new Float32Array(M * k);
  const score = new Float32Array(E);
  const choice = bias ? new Float32Array(E) : score;
  const groupScore = new Float64Array(G);
  const allowed = new Uint8Array(G);
  const chosen = new Uint8Array(E);
  for (let t = 0; t < M; t++) {
    scoreRow(logits, t * E, E, cfg.scoring, score);
    if (bias) for (let e = 0; e < E; e++) choice[e] = f(score[e]! + bias[e]!);
    allowed.fill(grouped ? 0 : 1);
    if (grouped) {
      for (let g = 0; g < G; g++) {
        let a = -Infinity;
        let b = -Infinity;
        for (let e = g * per; e < (g + 1) * per; e++) {
          const v = choice[e]!;
          if (v > a) {
            b = a;
            a = v;
          } else if (v > b) b = v;
        }
        // with a bias: top-2 sum (vLLM/HF noaux_tc); without: the group's best score
        groupScore[g] = bias ? (per > 1 ? f(a + b) : a) : a;
      }
      for (let r = 0; r < topkGroup; r++) {
        let best = -1;
        for (let g = 0; g < G; g++) if (!allowed[g] && (best < 0 || better(groupScore[g]!, g, groupScore[best]!, best))) best = g;
        allowed[best] = 1;
      }
    }
    chosen.fill(0);
    let sum = 0;
    for (let s = 0; s < k; s++) {
      let best = -1;
      for (let e = 0; e < E; e++) if (allowed[Math.floor(e / per)] && !chosen[e] && (best < 0 || better(choice[e]!, e, choice[best]!, best))) best = e;
      chosen[best] = 1;
      ids[t * k + s] = best;
      w[t * k + s] = score[best]!;
      sum += score[best]!;
    }
    if (cfg.normTopkProb) {
      const s = f(sum);
      if (s > 0) for (let j = 0; j < k; j++) w[t * k + j] = f(w[t * k + j]! / s);
    }
    if (cfg.routedScalingFactor !== 1) for (let j = 0; j < k; j++) w[t * k + j] = f(w[t * k + j]! * cfg.routedScalingFactor);
  }
  return { topkIds: ids, topkWeights: w };
}
