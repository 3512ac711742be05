/**
 * The contiguous recipe's eight stages (vLLM DeepGemmExperts with DeepGEMM's m_grouped_fp8_gemm_nt_contiguous,
 * docs/layouts-and-stages.md §"Contiguous"): descriptors first, then the plan that binds them to one run's shapes,
 * routing and CPU reference kernels.
 */
import type { LayerSpec } from '../../spec';
import type { LayerInputs } from '../../backend/types';
import type { CpuStageContext, PlannedStage, RunPlan, StageDescriptor, ErrorFn } from '../types';
import { T } from '../tensors';
import { Tensor } from '../../tensor';
import { MoeError } from '../../errors';
import { archById } from '../../arch/index';
import { quantizeActivations, quantizeRowGroups } from '../../ops/quantize';
import { planPermutation, permuteRows, type PermutePlan } from '../../ops/permute';
import { groupedGemmContiguous, sharedBytes } from '../../ops/gemm';
import { siluAndMul } from '../../ops/activation';
import { unpermuteReduce } from '../../ops/unpermute';
import { LayerReference64, weightedInput } from '../../ops/reference64';
import { decodeBf16 } from '../../dtypes/bf16';
import { decodeE4M3 } from '../../dtypes/fp8e4m3';
import { contiguousStageCosts } from './costs';
import { need, permutationStats, scalePacking } from '../common';

export const CONTIGUOUS_STAGES = [
  { id: 'quantize', title: 'Quantize activations (1×128 groups)', reads: [T.hidden_states], writes: [T.a1q, T.a1q_scale] },
  { id: 'transform_scales', title: 'Scale factors → kernel layout', reads: [T.a1q_scale], writes: [T.a1q_scale_layout] },
  {
    id: 'permute',
    title: 'Permute into expert segments',
    reads: [T.a1q, T.a1q_scale, T.topk_ids, T.expert_map],
    writes: [T.a1q_permuted, T.a1q_scale_permuted, T.m_indices, T.inv_perm],
  },
  {
    id: 'gemm1',
    title: 'Grouped GEMM 1 (K → 2N)',
    reads: [T.a1q_permuted, T.a1q_scale_permuted, T.w13_weight, T.w13_weight_scale_inv, T.m_indices],
    writes: [T.mm1_out],
    heavy: true,
  },
  { id: 'activation', title: 'SiLU-and-mul', reads: [T.mm1_out], writes: [T.act_out] },
  { id: 'requantize', title: 'Re-quantize', reads: [T.act_out], writes: [T.a2q, T.a2q_scale, T.a2q_scale_layout] },
  {
    id: 'gemm2',
    title: 'Grouped GEMM 2 (N → K)',
    reads: [T.a2q, T.a2q_scale, T.w2_weight, T.w2_weight_scale_inv, T.m_indices],
    writes: [T.mm2_out],
    heavy: true,
  },
  { id: 'unpermute', title: 'Unpermute and weighted reduce', reads: [T.mm2_out, T.inv_perm, T.topk_weights], writes: [T.output] },
] as const satisfies readonly StageDescriptor[];

export type ContiguousStageId = (typeof CONTIGUOUS_STAGES)[number]['id'];


/** the routing plan from the inputs: validates topk_ids before any compute; feeds the stats and the roofline */
export function routingPlan(inputs: LayerInputs, spec: LayerSpec): PermutePlan {
  const map = inputs.expert_map?.contiguous().storage;
  return planPermutation(inputs.topk_ids, map ? map.length : inputs.w13_weight.shape[0]!, { ...(map ? { expertMap: map as Int32Array } : {}), blockM: spec.blockM });
}

/** the kernel layout of an activation scale tensor, or a note saying why there is none (the checks say it too) */
function kernelLayout(ctx: CpuStageContext, spec: LayerSpec, scale: Tensor<'f32'>, mn: number, k: number, out: string, okNote?: string): void {
  try {
    const tr = archById(spec.arch).transformScales(scale, { kind: 'activation', mn, k });
    ctx.tensors.set(out, tr.tensor.withName(out));
    ctx.notes.push(`${scale.name}: ${okNote ?? tr.note}`);
  } catch (e) {
    // e.g. non-power-of-two scales on SM100: the checks report it, the CPU path computes with row-major scales
    if (!(e instanceof MoeError)) throw e;
    ctx.notes.push(`${scale.name}: no ${spec.arch} kernel layout: ${e.message}`);
  }
}

export function planContiguous(spec: LayerSpec, inputs: LayerInputs, env: { backend: 'cpu' | 'cuda' }): RunPlan {
  const plan = routingPlan(inputs, spec);
  const [M, K] = inputs.hidden_states.shape as [number, number];
  const N = inputs.w2_weight.shape[2]!;
  const map = inputs.expert_map?.contiguous().storage;
  const quant = { convention: spec.recipe.quant, scaleFormat: spec.recipe.scaleFormat };
  const costs = contiguousStageCosts({
    tokens: spec.tokens,
    hidden: spec.hidden,
    intermediate: spec.intermediate,
    topk: spec.topk,
    experts: map ? map.length : spec.experts,
    counts: plan.counts,
    mSum: plan.mSum,
    scaleRelayoutBytes: archById(spec.arch).scaleRelayoutBytes(spec.tokens, Math.ceil(spec.hidden / 128)),
    skipsPadding: env.backend === 'cpu',
    hasExpertMap: !!map,
  });
  const gemmNotes = (b: 'cpu' | 'cuda'): string[] => (b === 'cpu' ? ['executed FLOPs/bytes count the GPU kernel’s padded 128-row tiles; the CPU kernel skips padding rows'] : []);

  const run: Record<ContiguousStageId, (ctx: CpuStageContext) => void | Promise<void>> = {
    quantize(ctx) {
      const x = spec.routerWeight === 'input' ? weightedInput(inputs) : inputs.hidden_states;
      const q = quantizeActivations(x, quant);
      ctx.tensors.set(T.a1q, q.q.withName(T.a1q));
      ctx.tensors.set(T.a1q_scale, q.scale.withName(T.a1q_scale));
    },
    transform_scales(ctx) {
      kernelLayout(ctx, spec, need<'f32'>(ctx, T.a1q_scale), M, K, T.a1q_scale_layout);
    },
    permute(ctx) {
      const p = permuteRows(need<'f8e4m3fn'>(ctx, T.a1q), need<'f32'>(ctx, T.a1q_scale), plan);
      ctx.tensors.set(T.m_indices, plan.mIndices);
      ctx.tensors.set(T.inv_perm, plan.invPerm);
      ctx.tensors.set(T.a1q_permuted, p.a1.withName(T.a1q_permuted));
      ctx.tensors.set(T.a1q_scale_permuted, p.a1Scale.withName(T.a1q_scale_permuted));
    },
    async gemm1(ctx) {
      const mm1 = await groupedGemmContiguous(
        need<'f8e4m3fn'>(ctx, T.a1q_permuted),
        need<'f32'>(ctx, T.a1q_scale_permuted),
        inputs.w13_weight,
        inputs.w13_weight_scale_inv,
        plan.mIndices,
        { threads: ctx.threads, ...(ctx.signal ? { signal: ctx.signal } : {}) },
      );
      ctx.tensors.set(T.mm1_out, mm1.withName(T.mm1_out));
    },
    activation(ctx) {
      let rowScale: Float32Array | undefined;
      if (spec.routerWeight === 'activation') {
        // MegaMoE multiplies the routing weight in here instead of at the reduce
        rowScale = new Float32Array(plan.mSum);
        const w = inputs.topk_weights.contiguous().storage;
        for (let r = 0; r < plan.mSum; r++) if (plan.rowPair[r]! >= 0) rowScale[r] = w[plan.rowPair[r]!]!;
      }
      const act = siluAndMul(need<'bf16'>(ctx, T.mm1_out), {
        kind: spec.activation.kind,
        ...(spec.activation.clampLimit !== undefined ? { clampLimit: spec.activation.clampLimit } : {}),
        rowMask: plan.mIndices.storage,
        ...(rowScale ? { rowScale } : {}),
      });
      ctx.tensors.set(T.act_out, act);
    },
    requantize(ctx) {
      // padding rows skipped: zero data, zero scales
      const act = need<'bf16'>(ctx, T.act_out);
      const S = plan.mSum;
      const G = Math.ceil(N / 128);
      const a2 = sharedBytes(S * N);
      const s2 = new Float32Array(S * G);
      const row = new Float32Array(N);
      for (let r = 0; r < S; r++) {
        if (plan.mIndices.storage[r]! < 0) continue;
        for (let n = 0; n < N; n++) row[n] = decodeBf16(act.storage[r * N + n]!);
        quantizeRowGroups(row, 0, N, a2, r * N, s2, r * G, 1, quant);
      }
      ctx.tensors.set(T.a2q, new Tensor('f8e4m3fn', [S, N], a2, undefined, 0, T.a2q));
      const a2s = new Tensor('f32', [S, G], s2, undefined, 0, T.a2q_scale);
      ctx.tensors.set(T.a2q_scale, a2s);
      kernelLayout(ctx, spec, a2s, S, N, T.a2q_scale_layout, 'the fused SiLU+quant kernel writes it in the kernel layout directly (no re-layout at GEMM2)');
    },
    async gemm2(ctx) {
      const mm2 = await groupedGemmContiguous(
        need<'f8e4m3fn'>(ctx, T.a2q),
        need<'f32'>(ctx, T.a2q_scale),
        inputs.w2_weight,
        inputs.w2_weight_scale_inv,
        plan.mIndices,
        { threads: ctx.threads, ...(ctx.signal ? { signal: ctx.signal } : {}) },
      );
      ctx.tensors.set(T.mm2_out, mm2.withName(T.mm2_out));
    },
    unpermute(ctx) {
      const y = unpermuteReduce(need<'bf16'>(ctx, T.mm2_out), plan.invPerm, inputs.topk_weights, { unitWeights: spec.routerWeight !== 'reduce' });
      ctx.tensors.set(T.output, y);
    },
  };

  const stages: PlannedStage[] = CONTIGUOUS_STAGES.map((d) => ({
    ...d,
    cost: costs[d.id]!,
    runCpu: run[d.id],
    ...(d.id === 'gemm1' || d.id === 'gemm2' ? { notes: gemmNotes } : {}),
  }));

  let ref: LayerReference64 | undefined;
  const reference = (): LayerReference64 => (ref ??= new LayerReference64(inputs, spec, plan));
  return {
    stages,
    permutation: permutationStats(plan.counts, plan.mSum, 'contiguous'),
    packingOf: (name, t) => scalePacking(name, t, name.startsWith('a1') ? Math.ceil(spec.hidden / 128) : Math.ceil(spec.intermediate / 128)),
    errorTensors: [T.a1q, T.mm1_out, T.act_out, T.a2q, T.mm2_out, T.output],
    errorOf: (name, tensors) => errorFn(name, tensors, inputs, plan, reference),
  };
}

/** value − float64 reference for the error heatmaps; NaN where there is none (padding rows, non-local pairs) */
function errorFn(name: string, tensors: ReadonlyMap<string, Tensor>, inputs: LayerInputs, plan: PermutePlan, reference: () => LayerReference64): ErrorFn | undefined {
  if (name === T.a1q) {
    // quantization error: dequantized a1q against the activations it came from
    const x = inputs.hidden_states;
    const sc = tensors.get(T.a1q_scale)!;
    const q = tensors.get(T.a1q)!;
    return (r, c) => decodeE4M3(q.raw(r, c)) * sc.get(r, c >> 7) - x.get(r, c);
  }
  const ref = reference();
  if (name === T.output) return (r, c, v) => v - ref.token(r)[c]!;
  const pick = (p: ReturnType<LayerReference64['pair']>, c: number): number => {
    if (!p) return NaN;
    if (name === T.mm1_out) return p.mm1[c]!;
    if (name === T.act_out || name === T.a2q) return p.act[c]!;
    return p.mm2[c]!;
  };
  if (name === T.a2q) {
    const sc = tensors.get(T.a2q_scale)!;
    const q = tensors.get(T.a2q)!;
    return (r, c) => {
      const pr = plan.rowPair[r]!;
      return pr < 0 ? NaN : decodeE4M3(q.raw(r, c)) * sc.get(r, c >> 7) - pick(ref.pair(pr), c);
    };
  }
  if (name !== T.mm1_out && name !== T.act_out && name !== T.mm2_out) return undefined;
  return (r, c, v) => {
    const pr = plan.rowPair[r]!;
    return pr < 0 ? NaN : v - pick(ref.pair(pr), c);
  };
}
