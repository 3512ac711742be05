/**
 * Guards of the Hopper FP8 MegaMoE path (docs/layouts-and-stages.md §7.4): what DeepGEMM's fp8_mega_moe asserts (compute
 * capability 9.x, recipe (128, 128, 128), H and IH multiples of 128, IH ≤ 4096 in the older API, num_tokens ≤
 * num_max_tokens_per_rank, num_experts % num_ranks == 0, and in the newer API H % 256 and T_max % 128) and what its
 * caller requires (vLLM enables it with expert parallelism only). 'fail' = the kernel (or vLLM) refuses; the ids in
 * MEGAMOE_BLOCKING are the ones the CPU model cannot compute either.
 */
import type { LayerSpec } from '../../spec';
import type { CheckResult } from '../../trace';
import type { LayerInputs } from '../../backend/types';
import { archById } from '../../arch/index';
import { pass, sizeChecks } from '../../checks';
import { shapeStr } from '../../errors';
import { alignUp } from '../../layout/tma';
import { optionValue } from '../types';
import { maxTokensOption } from './options';
import { placementOfMap } from './inputs';
import { L2_ACT_GROUP, MAX_INTERMEDIATE, MEGAMOE_BLOCK, NEWER_HIDDEN_ALIGNMENT, TOKEN_ALIGNMENT } from './limits';

export const MEGAMOE_BLOCKING: ReadonlySet<string> = new Set([
  'spec.sizes',
  'shape.hidden-multiple-128',
  'shape.intermediate-multiple-128',
  'routing.topk',
  'inputs.shapes',
  'megamoe.tokens',
  'megamoe.experts-per-rank',
  'megamoe.clamp',
]);

const divisorsOf = (n: number, below: number): number[] => Array.from({ length: below }, (_, i) => i + 1).filter((d) => d > 1 && n % d === 0);

/** (ranks, rank, how we know) of the run: the spec's EP, else the file's expert_map, else one rank */
function placement(spec: LayerSpec, inputs?: LayerInputs): { ranks: number; local: number; from: string; strategy?: string; mapOk?: boolean } {
  if (inputs?.expert_map) {
    const map = inputs.expert_map.contiguous().storage;
    const placed = placementOfMap(map);
    const local = inputs.w13_weight.shape[0]!;
    return { ranks: placed ? placed.size : map.length / Math.max(1, local), local, from: 'expert_map', mapOk: !!placed };
  }
  const ep = spec.expertParallel;
  if (ep && ep.size > 1) return { ranks: ep.size, local: spec.experts / ep.size, from: `--ep ${ep.size}`, strategy: ep.strategy };
  return { ranks: 1, local: spec.experts, from: 'no expert parallelism' };
}

export function megamoeChecks(spec: LayerSpec, inputs?: LayerInputs): CheckResult[] {
  const out: CheckResult[] = [...sizeChecks(spec)];
  const { tokens: T, hidden: H, intermediate: IH, experts: E, topk: k } = spec;

  out.push(
    k >= 1 && k <= E
      ? pass('routing.topk', `top-${k} of ${E} experts`)
      : { id: 'routing.topk', level: 'fail', tensor: 'topk_ids', message: `top-k = ${k} must be between 1 and the number of experts (${E}): each token picks distinct experts` },
  );

  const arch = archById(spec.arch);
  const cc = arch.computeCapability;
  out.push(
    Math.floor(cc / 10) === 9
      ? pass('megamoe.arch', `${arch.label}: compute capability ${(cc / 10).toFixed(1)}, the Hopper MegaMoE kernel's (arch_major == 9)`)
      : {
          id: 'megamoe.arch',
          level: 'fail',
          message: `the Hopper FP8 MegaMoE kernel runs on compute capability 9.x only (DeepGEMM asserts arch_major == 9); ${arch.label} is ${(cc / 10).toFixed(1)}. On Blackwell DeepGEMM's MegaMoE is fp8_fp4_mega_moe (FP4 weights, recipe (1, 1, 32)): see its weight layout with \`moe-inspect transform --recipe megamoe-sm100\`, or run this recipe with --arch sm90`,
        },
  );

  const pl = placement(spec, inputs);
  if (pl.ranks > 1) out.push(pass('megamoe.ep', `expert parallelism over ${pl.ranks} ranks (${pl.from}): ${pl.local} local experts per rank`));
  else
    out.push({
      id: 'megamoe.ep',
      level: 'fail',
      tensor: 'expert_map',
      message: `MegaMoE needs expert parallelism: vLLM enables moe_backend=deep_gemm_mega_moe only with EP and raises otherwise, and the kernel dispatches over a symmetric buffer shared by the EP group; ${inputs ? 'give the layer file an expert_map (global → local id, −1 on other ranks)' : `run with --ep N --rank R (DeepSeek-V4 is served with e.g. --ep 8${E % 8 === 0 ? '' : `; N must divide ${E}`})`}`,
    });
  if (pl.ranks > 1 || !Number.isInteger(pl.ranks)) {
    if (!Number.isInteger(pl.ranks) || E % pl.ranks !== 0) {
      const ok = divisorsOf(E, Math.min(E, 64)).slice(0, 6);
      out.push({
        id: 'megamoe.experts-per-rank',
        level: 'fail',
        tensor: 'expert_map',
        message: `${E} experts do not split evenly over ${Number.isInteger(pl.ranks) ? pl.ranks : `${E} / ${pl.local}`} ranks: DeepGEMM asserts num_experts % num_ranks == 0 (rank r owns experts r·E/ranks … (r+1)·E/ranks − 1)${ok.length ? `; use an EP size that divides ${E} (e.g. ${ok.join(', ')})` : ''}`,
      });
    } else out.push(pass('megamoe.experts-per-rank', `${E} experts = ${pl.ranks} ranks × ${E / pl.ranks} local experts`));
    if (pl.strategy === 'round_robin')
      out.push({ id: 'megamoe.placement', level: 'fail', tensor: 'expert_map', message: 'MegaMoE places experts linearly (rank r owns a contiguous block of E/ranks experts), not round-robin; use the linear placement' });
    if (pl.mapOk === false)
      out.push({
        id: 'megamoe.placement',
        level: 'warn',
        tensor: 'expert_map',
        message: `expert_map is not the placement MegaMoE assumes (rank r owns experts r·E_l … (r+1)·E_l − 1 as local ids 0 … E_l − 1); the CPU model computes with the file's map`,
      });
  }

  const r = spec.recipe;
  out.push(
    r.actGroup === MEGAMOE_BLOCK && r.weightBlock === MEGAMOE_BLOCK
      ? pass('megamoe.recipe', 'recipe (128, 128, 128): 128×128 float32 weight blocks, per-token 1×128 float32 activation scales')
      : { id: 'megamoe.recipe', level: 'fail', message: `fp8_mega_moe takes recipe (128, 128, 128) only (128×128 weight blocks, 1×128 activation groups), got activation group ${r.actGroup} and weight block ${r.weightBlock}; re-quantize the weights with 128×128 blocks` },
  );
  if (r.quant !== 'deepgemm' || r.scaleFormat !== 'f32')
    out.push({
      id: 'megamoe.quant',
      level: 'info',
      message: `MegaMoE quantizes activations with DeepGEMM's rule (amax floor 1e−4, x · (1/s), float32 scales): vLLM stages the tokens with per_token_cast_to_fp8(use_ue8m0=False) and the kernel quantizes the L2 input itself; this run's ${r.quant}/${r.scaleFormat} activation settings are not used`,
    });

  out.push(
    H % NEWER_HIDDEN_ALIGNMENT === 0
      ? pass('megamoe.hidden-256', `H = ${H} is a multiple of ${NEWER_HIDDEN_ALIGNMENT} (the newer API's combine vectorization)`)
      : {
          id: 'megamoe.hidden-256',
          level: 'warn',
          tensor: 'hidden_states',
          message: `H = ${H} is not a multiple of ${NEWER_HIDDEN_ALIGNMENT}: the newer DeepGEMM SM90 MegaMoE asserts H % 256 == 0 (combine vectorization); the older API and vLLM's class accept H % 128 == 0 (docs/layouts-and-stages.md §7.4: the API moved between PRs)`,
        },
  );
  out.push(
    IH <= MAX_INTERMEDIATE
      ? pass('megamoe.intermediate-max', `IH = ${IH} ≤ ${MAX_INTERMEDIATE} (IH / 64 = ${IH / 64} of the 64 bits of the L1 block mask)`)
      : {
          id: 'megamoe.intermediate-max',
          level: 'fail',
          tensor: 'w2_weight',
          message: `IH = ${IH} exceeds ${MAX_INTERMEDIATE}: the SM90 MegaMoE keeps one bit per 64-column L1 block in a uint64 mask (IH / 64 ≤ 64) and vLLM raises NotImplementedError; shard the intermediate dimension (tensor parallelism) to IH ≤ ${MAX_INTERMEDIATE}`,
        },
  );

  const tMax = optionValue(spec, maxTokensOption);
  if (!Number.isInteger(tMax) || tMax < 1) out.push({ id: 'megamoe.tokens', level: 'fail', message: `T_max (--max-tokens) must be a positive integer, got ${tMax}` });
  else {
    out.push(
      T <= tMax
        ? pass('megamoe.tokens', `${T} tokens ≤ T_max = ${tMax} (num_max_tokens_per_rank)`)
        : {
            id: 'megamoe.tokens',
            level: 'fail',
            tensor: 'hidden_states',
            message: `${T} tokens exceed T_max = ${tMax}: the symmetric buffer stages num_max_tokens_per_rank rows and DeepGEMM asserts num_tokens ≤ num_max_tokens_per_rank; raise --max-tokens to ${alignUp(T, TOKEN_ALIGNMENT)} or split the batch`,
          },
    );
    out.push(
      tMax % TOKEN_ALIGNMENT === 0
        ? pass('megamoe.max-tokens-align', `T_max = ${tMax} is a multiple of ${TOKEN_ALIGNMENT}`)
        : {
            id: 'megamoe.max-tokens-align',
            level: 'fail',
            message: `T_max = ${tMax} is not a multiple of ${TOKEN_ALIGNMENT}: the newer DeepGEMM asserts num_max_tokens_per_rank % 128 == 0 (its get_symm_buffer_for_mega_moe aligns the count up for you); use --max-tokens ${alignUp(tMax, TOKEN_ALIGNMENT)}`,
          },
    );
  }

  const act = spec.activation;
  if (act.kind === 'swiglu' && act.clampLimit !== undefined && !(act.clampLimit >= 0))
    out.push({ id: 'megamoe.clamp', level: 'fail', message: `activation_clamp must be ≥ 0 (DeepGEMM asserts it; None means +∞), got ${act.clampLimit}` });
  else if (act.kind !== 'swiglu' || act.clampLimit === undefined)
    out.push({
      id: 'megamoe.activation',
      level: 'info',
      message: `MegaMoE's activation is "swiglu" with activation_clamp (DeepSeek-V4: 10); without a clamp (None → +∞) it is plain SiLU-and-mul, which is what this ${act.kind} spec computes`,
    });
  else out.push(pass('megamoe.activation', `clamped SwiGLU, limit ${act.clampLimit}: gate ← min(gate, ${act.clampLimit}), up ← clamp(up, ±${act.clampLimit}), clamp before SiLU (docs/layouts-and-stages.md §10.2)`));
  if (spec.routerWeight !== 'activation')
    out.push({ id: 'megamoe.router-weight', level: 'info', message: `MegaMoE multiplies the routing weight in at the activation (before the L2 quantization) and sums the combine unweighted; the '${spec.routerWeight}' placement of this spec is not used` });
  out.push({ id: 'megamoe.l2-group', level: 'info', tensor: 'l2_acts_sf', message: `L2 activations are quantized per ${L2_ACT_GROUP} columns (IH / ${L2_ACT_GROUP} = ${IH / L2_ACT_GROUP} scales per row), not 128 as at L1 and in the other recipes` });

  if (inputs) {
    const problems: string[] = [];
    const x = inputs.hidden_states;
    if (x.shape[0] !== T || x.shape[1] !== H) problems.push(`hidden_states ${shapeStr(x.shape)} ≠ [${T}, ${H}] of the spec`);
    if (inputs.topk_ids.shape[1] !== k) problems.push(`topk_ids ${shapeStr(inputs.topk_ids.shape)} ≠ [${T}, ${k}]`);
    if (inputs.w13_weight.shape[1] !== 2 * IH || inputs.w13_weight.shape[2] !== H) problems.push(`w13_weight ${shapeStr(inputs.w13_weight.shape)} ≠ [E_l, ${2 * IH}, ${H}]`);
    const El = inputs.w13_weight.shape[0]!;
    if (!inputs.expert_map && El !== E) problems.push(`w13_weight holds ${El} experts but the spec has ${E} and there is no expert_map`);
    out.push(
      problems.length
        ? { id: 'inputs.shapes', level: 'fail', message: `input shapes disagree with the spec: ${problems.join('; ')}` }
        : pass('inputs.shapes', 'data and scale shapes are consistent (w13 in natural gate-then-up order; the run interleaves it)'),
    );
  }
  return out;
}
