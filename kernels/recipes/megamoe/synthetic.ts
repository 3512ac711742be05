/**
 * A synthetic MegaMoE layer: hidden states and FP8 weights from the shared seeded generator (kernels/synthetic.ts),
 * routed by DeepSeek-V4's sqrtsoftplus router (kernels/routing, docs/layouts-and-stages.md §10.3) over seeded logits — normal noise
 * plus the spec's Zipf popularity (skew) over a seeded expert order, and a small seeded e_score_correction_bias.
 * The shared generator writes weights only for experts its own router picks; since this router picks others, it is
 * asked for weights of EVERY local expert (a spec with top-k = E), which costs memory and time for experts that
 * receive no tokens. The hidden states do not depend on that (they are drawn before any routing).
 */
import type { LayerSpec } from '../../spec';
import type { LayerInputs } from '../../backend/types';
import type { SyntheticLayer } from '../types';
import { Tensor } from '../../tensor';
import { MoeError } from '../../errors';
import { Rng, syntheticInputsDeferred } from '../../synthetic';
import { T } from '../tensors';
import { routeFromLogits, type RouterConfig } from '../../routing/index';

/** DeepSeek-V4's router (§10.3): √softplus scores, bias for the choice, no group limit, normalised, × 1.5 */
export const deepseekV4Router = (topk: number): RouterConfig => ({
  scoring: 'sqrtsoftplus',
  topk,
  normTopkProb: true,
  nGroup: 1,
  topkGroup: 1,
  routedScalingFactor: 1.5,
  usesCorrectionBias: true,
});

/** seeded router logits (T × E) and correction bias (E) */
export function syntheticRouterLogits(spec: LayerSpec): { logits: Float32Array; bias: Float32Array } {
  const seed = spec.source.kind === 'synthetic' ? spec.source.seed : 0;
  const skew = spec.source.kind === 'synthetic' ? spec.source.skew : 0;
  if (!(skew >= 0) || !Number.isFinite(skew)) throw new MoeError('E_SPEC', `router skew must be a finite number ≥ 0, got ${skew}`);
  const rng = new Rng((seed ^ 0x5ca1ab1e) >>> 0);
  const E = spec.experts;
  const order = Array.from({ length: E }, (_, i) => i);
  for (let i = E - 1; i > 0; i--) {
    const j = Math.floor(rng.float() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const tilt = new Float64Array(E);
  for (let r = 0; r < E; r++) tilt[order[r]!] = -skew * Math.log(r + 1);
  const bias = new Float32Array(E);
  for (let e = 0; e < E; e++) bias[e] = 0.05 * rng.normal();
  const logits = new Float32Array(spec.tokens * E);
  for (let i = 0; i < logits.length; i++) logits[i] = rng.normal() + tilt[i % E]!;
  return { logits, bias };
}

export function syntheticMegamoe(spec: LayerSpec, opts: { defer: boolean }): SyntheticLayer {
  if (!Number.isInteger(spec.experts) || spec.experts < 1 || !Number.isInteger(spec.topk) || spec.topk < 1 || spec.topk > spec.experts)
    throw new MoeError('E_SPEC', `synthetic MegaMoE layer: top-k (${spec.topk}) must be between 1 and the number of experts (${spec.experts})`);
  const d = syntheticInputsDeferred({ ...spec, topk: spec.experts });
  const { logits, bias } = syntheticRouterLogits(spec);
  const r = routeFromLogits(logits, spec.tokens, spec.experts, deepseekV4Router(spec.topk), bias);
  const inputs: LayerInputs = {
    ...d.inputs,
    topk_ids: new Tensor('i32', [spec.tokens, spec.topk], r.topkIds, undefined, 0, T.topk_ids),
    topk_weights: new Tensor('f32', [spec.tokens, spec.topk], r.topkWeights, undefined, 0, T.topk_weights),
  };
  if (!opts.defer) {
    d.fillWeights();
    return { inputs: inputs as unknown as Record<string, never> };
  }
  return {
    inputs: inputs as unknown as Record<string, never>,
    fillWeights: d.fillWeights,
    fillWeightsAsync: d.fillWeightsAsync,
    deferred: new Set([T.w13_weight, T.w2_weight]),
  };
}
