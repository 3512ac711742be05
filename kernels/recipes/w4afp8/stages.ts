/**
 * The W4AFP8 recipe's stages — SGLang's cutlass_w4a8_moe (docs/layouts-and-stages.md §9), after the load-time scale processing
 * of W4AFp8MoEMethod.process_weights_after_loading:
 *   load_scales   weight scales → BF16, interleaved (E, Kg/α, R·α); input scales → max (once per model, shown here)
 *   pre_reorder   rows in expert order (exact offsets, no padding) and static per-tensor FP8: clamp(x / a1_scale)
 *   gemm1         int4 × FP8 grouped GEMM, group-128 scales along K, alpha = a1_scale
 *   activation    silu_and_mul (BF16)
 *   requantize    static per-tensor FP8 with a2_scale
 *   gemm2         the second grouped GEMM, alpha = a2_scale
 *   unpermute     post-reorder weighted reduce (float32 sum over the token's slots, BF16 output)
 */
import type { LayerSpec } from '../../spec';
import type { CpuStageContext, ErrorFn, PlannedStage, RunPlan, StageCost, StageDescriptor } from '../types';
import { T } from '../tensors';
import { Tensor } from '../../tensor';
import { planPermutation, type PermutePlan } from '../../ops/permute';
import { siluAndMul } from '../../ops/activation';
import { unpermuteReduce } from '../../ops/unpermute';
import { decodeBf16 } from '../../dtypes/bf16';
import { decodeE4M3 } from '../../dtypes/fp8e4m3';
import { need, permutationStats } from '../common';
import { WT } from './tensors';
import type { W4Inputs } from './inputs';
import { interleaveScales } from './interleave';
import { int4Fp8GroupedGemm } from './gemm';
import { quantizeStaticRow, staticQuantNote, type StaticQuantStats } from './quantize';
import { scalarTensor, staticScales } from './scales';
import { parallelPlanTensor, runParallelism } from './parallel';
import { tpOf } from './options';
import { W4Reference64 } from './reference64';

export const W4_STAGES = [
  {
    id: 'load_scales',
    title: 'Load: scales → BF16, interleaved; input scales → max',
    reads: [T.w13_weight_scale_inv, T.w2_weight_scale_inv, WT.w13_input_scale, WT.w2_input_scale],
    writes: [WT.w13_scale_interleaved, WT.w2_scale_interleaved, WT.a1_scale, WT.a2_scale, WT.parallel_plan],
  },
  {
    id: 'pre_reorder',
    title: 'Pre-reorder: expert order + static FP8 (x / a1_scale)',
    reads: [T.hidden_states, T.topk_ids, T.expert_map, WT.a1_scale],
    writes: [T.a1q_permuted, T.m_indices, T.inv_perm, WT.expert_offsets],
  },
  {
    id: 'gemm1',
    title: 'Grouped GEMM 1: int4 × FP8 (H → 2·I_p)',
    reads: [T.a1q_permuted, T.w13_weight, WT.w13_scale_interleaved, WT.a1_scale, WT.expert_offsets],
    writes: [T.mm1_out],
    heavy: true,
  },
  { id: 'activation', title: 'SiLU-and-mul (BF16)', reads: [T.mm1_out], writes: [T.act_out] },
  { id: 'requantize', title: 'Static FP8 (act / a2_scale)', reads: [T.act_out, WT.a2_scale], writes: [T.a2q] },
  {
    id: 'gemm2',
    title: 'Grouped GEMM 2: int4 × FP8 (I_p → H)',
    reads: [T.a2q, T.w2_weight, WT.w2_scale_interleaved, WT.a2_scale, WT.expert_offsets],
    writes: [T.mm2_out],
    heavy: true,
  },
  { id: 'unpermute', title: 'Post-reorder: weighted reduce', reads: [T.mm2_out, T.inv_perm, T.topk_weights], writes: [T.output] },
] as const satisfies readonly StageDescriptor[];

export type W4StageId = (typeof W4_STAGES)[number]['id'];


export interface W4CostInputs {
  tokens: number;
  hidden: number;
  /** I_p */
  intermediate: number;
  topk: number;
  localExperts: number;
  counts: ArrayLike<number>;
}

/** compulsory bytes and FLOPs per stage (docs/layouts-and-stages.md §"Roofline"); int4 weights are half a byte each */
export function w4StageCosts(c: W4CostInputs): Record<W4StageId, StageCost> {
  const { tokens: M, hidden: H, intermediate: Ip, topk: k, localExperts: El } = c;
  let R = 0;
  let Ea = 0;
  for (let e = 0; e < c.counts.length; e++) {
    R += c.counts[e]!;
    if (c.counts[e]! > 0) Ea++;
  }
  const G13 = H / 128;
  const G2 = Ip / 128;
  const mem = (bytes: number): StageCost => ({ bytes, flops: 0, usefulFlops: 0 });
  const gemm1Flops = 2 * R * 2 * Ip * H;
  const gemm2Flops = 2 * R * H * Ip;
  return {
    // read float32 scales and BF16 input scales, write BF16 scales (+ two float32 scalars)
    load_scales: mem(El * (2 * Ip * G13 + H * G2) * (4 + 2) + El * 3 * 2 + 8),
    // token rows read once (BF16), each routed pair written once (FP8); ids read, src2dst written
    pre_reorder: mem(2 * M * H + R * H + 8 * M * k),
    gemm1: { bytes: R * H + Ea * 2 * Ip * (H / 2) + 2 * Ea * 2 * Ip * G13 + 2 * R * 2 * Ip, flops: gemm1Flops, usefulFlops: gemm1Flops },
    activation: mem(2 * R * 2 * Ip + 2 * R * Ip),
    requantize: mem(2 * R * Ip + R * Ip),
    gemm2: { bytes: R * Ip + Ea * H * (Ip / 2) + 2 * Ea * H * G2 + 2 * R * H, flops: gemm2Flops, usefulFlops: gemm2Flops },
    unpermute: { bytes: 2 * R * H + 12 * M * k + 2 * M * H, flops: 2 * R * H, usefulFlops: 2 * R * H },
  };
}

/** the routing plan (validates topk_ids): rows in expert order with exact offsets, as SGLang's expert_offsets */
export function w4RoutingPlan(inputs: W4Inputs): PermutePlan {
  const map = inputs.expert_map?.contiguous().storage;
  return planPermutation(inputs.topk_ids, map ? map.length : inputs.w13_weight.shape[0]!, { ...(map ? { expertMap: map as Int32Array } : {}), blockM: 1 });
}

export function planW4(spec: LayerSpec, inputs: W4Inputs): RunPlan {
  const plan = w4RoutingPlan(inputs);
  const [M, H] = inputs.hidden_states.shape as [number, number];
  const El = inputs.w13_weight.shape[0]!;
  const Ip = inputs.w2_weight.shape[2]! * 2;
  const { a1, a2 } = staticScales(inputs);
  const offsets = new Int32Array(El + 1);
  for (let e = 0; e < El; e++) offsets[e + 1] = offsets[e]! + plan.counts[e]!;
  const R = plan.mSum;
  const costs = w4StageCosts({ tokens: M, hidden: H, intermediate: Ip, topk: inputs.topk_ids.shape[1]!, localExperts: El, counts: plan.counts });
  const tp = tpOf(spec);
  const par = runParallelism(spec, tp);
  // written by the quantizing stages, read by their notes (a note is built when the stage's record is)
  const quantNotes: { a1?: string; a2?: string } = {};

  const run: Record<W4StageId, (ctx: CpuStageContext) => void | Promise<void>> = {
    load_scales(ctx) {
      const s13 = interleaveScales(inputs.w13_weight_scale_inv, WT.w13_scale_interleaved);
      const s2 = interleaveScales(inputs.w2_weight_scale_inv, WT.w2_scale_interleaved);
      ctx.tensors.set(WT.w13_scale_interleaved, s13.tensor);
      ctx.tensors.set(WT.w2_scale_interleaved, s2.tensor);
      ctx.tensors.set(WT.a1_scale, scalarTensor(a1, WT.a1_scale));
      ctx.tensors.set(WT.a2_scale, scalarTensor(a2, WT.a2_scale));
      ctx.tensors.set(WT.parallel_plan, parallelPlanTensor(par.size, { experts: spec.experts, hidden: H, intermediate: Ip * tp }, spec.expertParallel?.strategy));
    },
    pre_reorder(ctx) {
      // quantize each token row once and copy it to its routed rows (SGLang's kernel does both in one pass)
      const x = inputs.hidden_states.contiguous();
      const xf = x.toFloat32();
      const q = new Uint8Array(R * H);
      const row = new Uint8Array(H);
      const stats: StaticQuantStats = { clamped: 0, kernelDiffers: 0 };
      const rowsOfToken: number[][] = Array.from({ length: M }, () => []);
      for (let r = 0; r < R; r++) rowsOfToken[Math.floor(plan.rowPair[r]! / plan.topk)]!.push(r);
      let quantized = 0;
      for (let t = 0; t < M; t++) {
        if (!rowsOfToken[t]!.length) continue;
        quantizeStaticRow(xf, t * H, H, row, 0, a1, stats);
        quantized += H;
        for (const r of rowsOfToken[t]!) q.set(row, r * H);
      }
      ctx.tensors.set(T.a1q_permuted, new Tensor('f8e4m3fn', [R, H], q, undefined, 0, T.a1q_permuted));
      ctx.tensors.set(T.m_indices, plan.mIndices);
      ctx.tensors.set(T.inv_perm, plan.invPerm);
      ctx.tensors.set(WT.expert_offsets, new Tensor('i32', [El + 1], offsets, undefined, 0, WT.expert_offsets));
      quantNotes.a1 = staticQuantNote('a1q_permuted', a1, quantized, stats);
    },
    gemm1(ctx) {
      const mm1 = int4Fp8GroupedGemm(
        { a: need(ctx, T.a1q_permuted), w: inputs.w13_weight, scales: need(ctx, WT.w13_scale_interleaved), alpha: a1, offsets, names: { a: T.a1q_permuted, w: T.w13_weight, scales: WT.w13_scale_interleaved } },
        ctx.signal ? { signal: ctx.signal } : {},
      );
      ctx.tensors.set(T.mm1_out, mm1.withName(T.mm1_out));
    },
    activation(ctx) {
      ctx.tensors.set(T.act_out, siluAndMul(need<'bf16'>(ctx, T.mm1_out), { kind: 'silu' }));
    },
    requantize(ctx) {
      const act = need<'bf16'>(ctx, T.act_out).contiguous();
      const vals = new Float32Array(act.numel);
      for (let i = 0; i < vals.length; i++) vals[i] = decodeBf16(act.storage[act.offset + i]!);
      const q = new Uint8Array(R * Ip);
      const stats = quantizeStaticRow(vals, 0, vals.length, q, 0, a2, { clamped: 0, kernelDiffers: 0 });
      ctx.tensors.set(T.a2q, new Tensor('f8e4m3fn', [R, Ip], q, undefined, 0, T.a2q));
      quantNotes.a2 = staticQuantNote('a2q', a2, vals.length, stats);
    },
    gemm2(ctx) {
      const mm2 = int4Fp8GroupedGemm(
        { a: need(ctx, T.a2q), w: inputs.w2_weight, scales: need(ctx, WT.w2_scale_interleaved), alpha: a2, offsets, names: { a: T.a2q, w: T.w2_weight, scales: WT.w2_scale_interleaved } },
        ctx.signal ? { signal: ctx.signal } : {},
      );
      ctx.tensors.set(T.mm2_out, mm2.withName(T.mm2_out));
    },
    unpermute(ctx) {
      ctx.tensors.set(T.output, unpermuteReduce(need<'bf16'>(ctx, T.mm2_out), plan.invPerm, inputs.topk_weights));
    },
  };

  const gemmNote = (): string[] => [
    'int4 weights (two per byte along K) times FP8 activations, one BF16 scale per output row and 128 K-elements read from the interleaved tensor, alpha (the static activation scale) in the epilogue; rows grouped by exact expert offsets (no padding). Where the CUTLASS kernel applies the group scale relative to the wgmma (✖ unverified) decides its last bits: GPU parity is a tolerance, not bit for bit',
  ];
  const notesOf: Partial<Record<W4StageId, (b: 'cpu' | 'cuda') => string[]>> = {
    load_scales: () => [
      'once per model, at load (process_weights_after_loading), not per forward: its bytes are shown for scale',
      tp > 1 ? `TP${tp}: every GPU does this for its I/${tp} slice of all experts` : par.mode === 'ep' && par.size > 1 ? `EP${par.size}: every GPU does this for its ${El} experts` : 'one GPU holds every expert and the full I',
    ],
    pre_reorder: () => ['each token row is quantized once and copied to its routed rows (SGLang\'s pre-reorder kernel does both in one pass)', ...(quantNotes.a1 ? [quantNotes.a1] : [])],
    requantize: () => (quantNotes.a2 ? [quantNotes.a2] : []),
    gemm1: gemmNote,
    gemm2: gemmNote,
    activation: () => ['silu(gate) · up in float32, one BF16 rounding (sgl_kernel silu_and_mul)'],
    unpermute: () => [tp > 1 ? `TP${tp}: this is one GPU's partial sum over its I slice; the all-reduce across the ${tp} GPUs (outside the layer) adds them` : 'float32 sum over the token\'s slots in slot order, BF16 output'],
  };
  const stages: PlannedStage[] = W4_STAGES.map((d) => ({ ...d, cost: costs[d.id], runCpu: run[d.id], ...(notesOf[d.id] ? { notes: notesOf[d.id]! } : {}) }));

  let ref: W4Reference64 | undefined;
  const reference = (): W4Reference64 => (ref ??= new W4Reference64(inputs, plan, a1, a2));
  return {
    stages,
    permutation: permutationStats(plan.counts, R, 'contiguous'),
    packingOf: (name, t) => (t.dtype === 'i4x2' ? { perWord: 2, alongDim: t.rank - 1, byteOrder: 'little', logicalExtent: t.shape[t.rank - 1]! * 2 } : undefined),
    errorTensors: [T.a1q_permuted, T.mm1_out, T.act_out, T.a2q, T.mm2_out, T.output],
    errorOf: (name, tensors) => w4ErrorFn(name, tensors, inputs, plan, a1, a2, reference),
  };
}

/** value − float64 reference for the error heatmaps; NaN where there is none */
function w4ErrorFn(name: string, tensors: ReadonlyMap<string, Tensor>, inputs: W4Inputs, plan: PermutePlan, a1: number, a2: number, reference: () => W4Reference64): ErrorFn | undefined {
  const tokenOf = (r: number): number => Math.floor(plan.rowPair[r]! / plan.topk);
  if (name === T.a1q_permuted) {
    const q = tensors.get(T.a1q_permuted);
    if (!q) return undefined;
    const x = inputs.hidden_states;
    return (r, c) => decodeE4M3(q.raw(r, c)) * a1 - x.get(tokenOf(r), c);
  }
  if (name === T.output) return (r, c, v) => v - reference().token(r)[c]!;
  if (name === T.a2q) {
    const q = tensors.get(T.a2q);
    if (!q) return undefined;
    return (r, c) => decodeE4M3(q.raw(r, c)) * a2 - reference().pair(plan.rowPair[r]!)!.act[c]!;
  }
  if (name !== T.mm1_out && name !== T.act_out && name !== T.mm2_out) return undefined;
  return (r, c, v) => {
    const p = reference().pair(plan.rowPair[r]!);
    if (!p) return NaN;
    return v - (name === T.mm1_out ? p.mm1[c]! : name === T.act_out ? p.act[c]! : p.mm2[c]!);
  };
}
