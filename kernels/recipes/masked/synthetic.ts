/**
 * A synthetic masked layer from a preset: the contiguous recipe's seeded tokens, routing and weights, then DeepEP's
 * low-latency dispatch on one rank — each local expert's tokens copied into its (max_m, K) buffer in token order —
 * with the rows past masked_m[e] filled with stale non-zero data, as a reused receive buffer holds.
 */
import type { LayerSpec } from '../../spec';
import { Tensor } from '../../tensor';
import { MoeError } from '../../errors';
import { syntheticInputs, syntheticInputsLazy, Rng } from '../../synthetic';
import { planPermutation } from '../../ops/permute';
import { encodeBf16 } from '../../dtypes/bf16';
import type { MaskedInputs } from './inputs';

/** `lazy`: the weights are lazy tensors, made only when read (a run of some stages, kernels/neededStages.ts) */
export function syntheticMasked(spec: LayerSpec, maxM: number, opts: { lazy?: boolean } = {}): MaskedInputs {
  const base = opts.lazy ? syntheticInputsLazy(spec) : syntheticInputs(spec);
  const map = base.expert_map?.contiguous().storage;
  const El = base.w13_weight.shape[0]!;
  const plan = planPermutation(base.topk_ids, map ? map.length : El, { ...(map ? { expertMap: map as Int32Array } : {}), blockM: 1 });
  const K = spec.hidden;
  const busiest = plan.counts.reduce((m, c) => Math.max(m, c), 0);
  if (busiest > maxM)
    throw new MoeError('E_SPEC', `masked layout: an expert receives ${busiest} rows but max_m is ${maxM}; raise --max-m (DeepEP: num_max_dispatch_tokens_per_rank × ranks)`, 'masked_m');
  const x = base.hidden_states.contiguous();
  const buf = new Uint16Array(El * maxM * K);
  // stale rows: what an earlier batch left behind (seeded, non-zero, never read)
  const rng = new Rng((spec.source.kind === 'synthetic' ? spec.source.seed : 0) ^ 0x5eed);
  for (let i = 0; i < buf.length; i++) buf[i] = encodeBf16(rng.normal() * 4);
  let row = 0;
  for (let e = 0; e < El; e++) {
    for (let i = 0; i < plan.counts[e]!; i++, row++) {
      const t = Math.floor(plan.rowPair[row]! / spec.topk);
      const src = x.storage as Uint16Array;
      buf.set(src.subarray(x.offset + t * K, x.offset + (t + 1) * K), (e * maxM + i) * K);
    }
  }
  return {
    hidden_states: new Tensor('bf16', [El, maxM, K], buf, undefined, 0, 'hidden_states'),
    masked_m: new Tensor('i32', [El], Int32Array.from(plan.counts), undefined, 0, 'masked_m'),
    w13_weight: base.w13_weight,
    w13_weight_scale_inv: base.w13_weight_scale_inv,
    w2_weight: base.w2_weight,
    w2_weight_scale_inv: base.w2_weight_scale_inv,
  };
}
