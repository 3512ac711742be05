/**
 * The Hopper FP8 MegaMoE schedule (DeepGEMM fp8_mega_moe, docs/layouts-and-stages.md §7.4, §7.5, §10.2) as stages. On the GPU it
 * is ONE fused kernel (dispatch, L1 GEMM, SwiGLU + weight + FP8 quantization in the L1 epilogue, L2 GEMM, combine
 * over NVLink); here each phase is a stage with the tensor it leaves in the symmetric buffer or would keep in
 * registers, so the stepper can show them one by one:
 *   stage_inputs → dispatch → interleave_w13 → gemm1 → activation → quantize_l2 → gemm2 → combine.
 * This models ONE rank with this layer's tokens: pairs routed to this rank's experts fill the pool; rows other ranks
 * would dispatch here, and the contributions of experts on other ranks to this rank's tokens, are not in the layer
 * and not modelled.
 */
import type { LayerSpec } from '../../spec';
import type { LayerInputs } from '../../backend/types';
import type { CpuStageContext, PlannedStage, RunPlan, StageCost, StageDescriptor } from '../types';
import { optionValue } from '../types';
import { T } from '../tensors';
import { MG } from './tensors';
import { Tensor } from '../../tensor';
import { MoeError } from '../../errors';
import { planPermutation, type PermutePlan } from '../../ops/permute';
import { siluMulF32 } from '../../ops/activation';
import { toSm90ActScales } from '../../layout/sm90';
import { tmaAlignedSize } from '../../layout/tma';
import { decodeBf16, encodeBf16 } from '../../dtypes/bf16';
import { need, permutationStats } from '../common';
import { interleaveW13 } from './interleave';
import { quantizeGroups, NonFiniteValue } from './quantize';
import { blockScaledGemm, toBf16 } from './gemm';
import { maxTokensOption } from './options';
import { L2_ACT_GROUP, MEGAMOE_BLOCK } from './limits';
import { megamoeErrorFn } from './reference64';

export const MEGAMOE_STAGES = [
  {
    id: 'stage_inputs',
    title: 'Stage into the symmetric buffer (FP8 + K-major scales, top-k)',
    reads: [T.hidden_states, T.topk_ids, T.topk_weights],
    writes: [MG.sym_x, MG.sym_x_sf, MG.sym_topk_idx, MG.sym_topk_weights],
  },
  {
    id: 'dispatch',
    title: 'Dispatch into the L1 pool (MN-major scales, weight per row)',
    reads: [MG.sym_x, MG.sym_x_sf, MG.sym_topk_idx, MG.sym_topk_weights, T.expert_map],
    writes: [MG.pool_src, MG.pool_expert, MG.l1_acts, MG.l1_acts_sf, MG.l1_topk_weights],
  },
  { id: 'interleave_w13', title: 'Interleave w13 gate/up by 8 rows (load time)', reads: [T.w13_weight], writes: [MG.w13_interleave_map, MG.w13_interleaved], heavy: true },
  {
    id: 'gemm1',
    title: 'L1 GEMM over the interleaved w13 (H → 2·IH)',
    reads: [MG.l1_acts, MG.l1_acts_sf, MG.w13_interleaved, T.w13_weight_scale_inv, MG.w13_interleave_map, MG.pool_expert],
    writes: [MG.l1_out],
    heavy: true,
  },
  { id: 'activation', title: 'Clamped SwiGLU × routing weight (L1 epilogue)', reads: [MG.l1_out, MG.w13_interleave_map, MG.l1_topk_weights], writes: [MG.swiglu_out] },
  { id: 'quantize_l2', title: 'Quantize L2 activations (1×64 groups)', reads: [MG.swiglu_out], writes: [MG.l2_acts, MG.l2_acts_sf] },
  {
    id: 'gemm2',
    title: 'L2 GEMM (IH → H, 64-wide activation scales)',
    reads: [MG.l2_acts, MG.l2_acts_sf, T.w2_weight, T.w2_weight_scale_inv, MG.pool_expert],
    writes: [MG.l2_out],
    heavy: true,
  },
  { id: 'combine', title: 'Combine (unweighted sum over top-k)', reads: [MG.l2_out, MG.pool_src], writes: [MG.combine_buffer, T.output] },
] as const satisfies readonly StageDescriptor[];

export type MegamoeStageId = (typeof MEGAMOE_STAGES)[number]['id'];


/** the logical values of a tensor as a dense row-major array of its storage type */
function dense<D extends 'f32' | 'i32' | 'f8e4m3fn' | 'bf16'>(t: Tensor<D>): Tensor<D>['storage'] {
  const c = t.contiguous();
  return c.storage.subarray(c.offset, c.offset + c.numel) as Tensor<D>['storage'];
}

/** the pool: one row per (token, slot) routed to a local expert, grouped by expert, pairs in t·k + s order */
export function poolPlan(inputs: LayerInputs): PermutePlan {
  const map = inputs.expert_map?.contiguous().storage;
  return planPermutation(inputs.topk_ids, map ? map.length : inputs.w13_weight.shape[0]!, { ...(map ? { expertMap: map as Int32Array } : {}), blockM: 1 });
}

interface Shapes {
  T: number;
  tMax: number;
  H: number;
  IH: number;
  k: number;
  El: number;
  /** pool rows = routed pairs on this rank */
  R: number;
  /** experts with rows */
  Ea: number;
}

function stageCosts(s: Shapes): Record<MegamoeStageId, StageCost> {
  const { T: Tk, H, IH, k, R, Ea } = s;
  const GH = H / MEGAMOE_BLOCK;
  const G2 = IH / L2_ACT_GROUP;
  const Ra = tmaAlignedSize(R, 4);
  const mem = (bytes: number): StageCost => ({ bytes, flops: 0, usefulFlops: 0 });
  return {
    stage_inputs: mem(2 * Tk * H + 8 * Tk * k + Tk * H + 4 * Tk * GH + 12 * Tk * k),
    dispatch: mem(R * H + 4 * R * GH + 4 * R + R * H + 4 * Ra * GH + 4 * R),
    interleave_w13: mem(2 * Ea * 2 * IH * H),
    gemm1: { bytes: R * H + 4 * R * GH + Ea * 2 * IH * H + 4 * Ea * ((2 * IH) / MEGAMOE_BLOCK) * GH, flops: 2 * R * 2 * IH * H, usefulFlops: 2 * R * 2 * IH * H },
    activation: mem(0),
    quantize_l2: mem(R * IH + 4 * Ra * G2),
    gemm2: { bytes: R * IH + 4 * R * G2 + Ea * H * IH + 4 * Ea * GH * (IH / MEGAMOE_BLOCK) + 2 * R * H, flops: 2 * R * H * IH, usefulFlops: 2 * R * H * IH },
    combine: { bytes: 2 * Tk * k * H + 2 * Tk * H, flops: Tk * k * H, usefulFlops: Tk * k * H },
  };
}

const STAGE_NOTES: Partial<Record<MegamoeStageId, string[]>> = {
  stage_inputs: [
    "vLLM copies the tokens into the symmetric buffer before each call, quantized with DeepGEMM's per_token_cast_to_fp8(use_ue8m0=False, gran_k=128): float32 scales, K-major (row-major), amax floor 1e−4",
    'rows from num_tokens to T_max are not written by this call (the kernel reads num_tokens rows)',
  ],
  dispatch: [
    'the kernel pulls these rows into its L1 pool over NVLink; the pool scales are float32 MN-major (strides (1, pool_sf)), TMA-aligned',
    "this rank's tokens only: rows other ranks send to these experts are not in the layer; rows are grouped by local expert in token·k + slot order without the kernel's per-expert block padding (its block_m is chosen per call, docs/layouts-and-stages.md §7.4)",
  ],
  interleave_w13: [
    'done once at load by transform_weights_for_mega_moe_sm90 (not per call): only the FP8 weight is interleaved, the block scales stay in gate-then-up order (docs/layouts-and-stages.md §7.5); `moe-inspect transform --recipe megamoe-sm90` writes it for every expert',
    'only experts with rows in this run are copied (the GEMM reads no others)',
  ],
  gemm1: ["weight scale of interleaved row r: block ⌊source row / 128⌋ of the natural-order w13_weight_scale_inv", 'the accumulators stay in registers (float32): the fused epilogue reads them directly, there is no BF16 L1 output'],
  activation: ['fused into the L1 epilogue: no memory traffic; float32 arithmetic (the kernel may use fast-math exp: ✖ its exact float ops are not verified)'],
  quantize_l2: ['written MN-major into the L2 pool by the L1 epilogue; 1×64 groups (docs/layouts-and-stages.md §7.4): one scale per 64 columns of IH'],
  gemm2: ['each 64-column activation group uses the scale of the 128×128 weight block it lies in; the BF16 rows go to the source rank\'s combine buffer'],
  combine: ['unweighted float32 sum of the top-k BF16 rows of each token, stored BF16 (the routing weight was applied at the activation); ✖ the kernel\'s summation order is not verified', "slots routed to other ranks' experts hold zeros here (their rows are not modelled)"],
};

export function planMegamoe(spec: LayerSpec, inputs: LayerInputs, _env: { backend: 'cpu' | 'cuda' }): RunPlan {
  const plan = poolPlan(inputs);
  const [Tk, H] = inputs.hidden_states.shape as [number, number];
  const k = inputs.topk_ids.shape[1]!;
  const IH = inputs.w2_weight.shape[2]!;
  const El = inputs.w13_weight.shape[0]!;
  const tMax = Math.max(optionValue(spec, maxTokensOption), Tk);
  const R = plan.mSum;
  const active = Array.from(plan.counts.keys()).filter((e) => plan.counts[e]! > 0);
  const shapes: Shapes = { T: Tk, tMax, H, IH, k, El, R, Ea: active.length };
  const costs = stageCosts(shapes);
  const GH = H / MEGAMOE_BLOCK;
  const G2 = IH / L2_ACT_GROUP;
  const clamp = spec.activation.kind === 'swiglu' ? (spec.activation.clampLimit ?? Infinity) : Infinity;

  const run: Record<MegamoeStageId, (ctx: CpuStageContext) => void | Promise<void>> = {
    stage_inputs(ctx) {
      const x = inputs.hidden_states.contiguous();
      const q = new Uint8Array(tMax * H);
      const s = new Float32Array(tMax * GH);
      const row = new Float32Array(H);
      for (let t = 0; t < Tk; t++) {
        for (let c = 0; c < H; c++) row[c] = x.dtype === 'bf16' ? decodeBf16((x.storage as Uint16Array)[x.offset + t * H + c]!) : (x.storage as Float32Array)[x.offset + t * H + c]!;
        try {
          quantizeGroups(row, 0, H, MEGAMOE_BLOCK, q, t * H, s, t * GH, 1);
        } catch (e) {
          if (e instanceof NonFiniteValue) throw new MoeError('E_VALUE', `hidden_states[${t}, ${e.column}] = ${e.value}: FP8 staging needs finite activations`, T.hidden_states);
          throw e;
        }
      }
      const ids = new BigInt64Array(tMax * k);
      const w = new Float32Array(tMax * k);
      for (let t = 0; t < Tk; t++)
        for (let j = 0; j < k; j++) {
          ids[t * k + j] = BigInt(inputs.topk_ids.raw(t, j));
          w[t * k + j] = inputs.topk_weights.get(t, j);
        }
      ctx.tensors.set(MG.sym_x, new Tensor('f8e4m3fn', [tMax, H], q, undefined, 0, MG.sym_x));
      ctx.tensors.set(MG.sym_x_sf, new Tensor('f32', [tMax, GH], s, undefined, 0, MG.sym_x_sf));
      ctx.tensors.set(MG.sym_topk_idx, new Tensor('i64', [tMax, k], ids, undefined, 0, MG.sym_topk_idx));
      ctx.tensors.set(MG.sym_topk_weights, new Tensor('f32', [tMax, k], w, undefined, 0, MG.sym_topk_weights));
    },
    dispatch(ctx) {
      const x = dense(need<'f8e4m3fn'>(ctx, MG.sym_x));
      const xs = dense(need<'f32'>(ctx, MG.sym_x_sf));
      const tw = dense(need<'f32'>(ctx, MG.sym_topk_weights));
      const a = new Uint8Array(R * H);
      const sf = new Float32Array(R * GH);
      const w = new Float32Array(R);
      for (let r = 0; r < R; r++) {
        const p = plan.rowPair[r]!;
        const t = Math.floor(p / k);
        a.set(x.subarray(t * H, (t + 1) * H), r * H);
        sf.set(xs.subarray(t * GH, (t + 1) * GH), r * GH);
        w[r] = tw[p]!;
      }
      ctx.tensors.set(MG.pool_src, new Tensor('i32', [R], plan.rowPair.slice(0, R), undefined, 0, MG.pool_src));
      ctx.tensors.set(MG.pool_expert, plan.mIndices.withName(MG.pool_expert));
      ctx.tensors.set(MG.l1_acts, new Tensor('f8e4m3fn', [R, H], a, undefined, 0, MG.l1_acts));
      ctx.tensors.set(MG.l1_acts_sf, toSm90ActScales(new Tensor('f32', [R, GH], sf, undefined, 0, MG.l1_acts_sf)));
      ctx.tensors.set(MG.l1_topk_weights, new Tensor('f32', [R], w, undefined, 0, MG.l1_topk_weights));
    },
    interleave_w13(ctx) {
      const { tensor, map } = interleaveW13(inputs.w13_weight, MG.w13_interleaved, active);
      ctx.tensors.set(MG.w13_interleaved, tensor);
      ctx.tensors.set(MG.w13_interleave_map, new Tensor('i32', [2 * IH], map, undefined, 0, MG.w13_interleave_map));
    },
    async gemm1(ctx) {
      const map = dense(need<'i32'>(ctx, MG.w13_interleave_map));
      const b = need<'f8e4m3fn'>(ctx, MG.w13_interleaved);
      const s13 = inputs.w13_weight_scale_inv;
      const bScaleRow = new Int32Array(2 * IH);
      for (let n = 0; n < 2 * IH; n++) bScaleRow[n] = Math.floor(map[n]! / MEGAMOE_BLOCK);
      const acc = await blockScaledGemm(
        {
          a: dense(need<'f8e4m3fn'>(ctx, MG.l1_acts)),
          aScale: dense(need<'f32'>(ctx, MG.l1_acts_sf)),
          aGroup: MEGAMOE_BLOCK,
          rows: R,
          K: H,
          rowExpert: dense(need<'i32'>(ctx, MG.pool_expert)),
          b: dense(b),
          E: El,
          N: 2 * IH,
          bScale: dense(s13),
          Nb: s13.shape[1]!,
          bScaleRow,
        },
        ctx.signal ? { signal: ctx.signal } : {},
      );
      ctx.tensors.set(MG.l1_out, new Tensor('f32', [R, 2 * IH], acc, undefined, 0, MG.l1_out));
    },
    activation(ctx) {
      const l1 = dense(need<'f32'>(ctx, MG.l1_out));
      const map = dense(need<'i32'>(ctx, MG.w13_interleave_map));
      const w = dense(need<'f32'>(ctx, MG.l1_topk_weights));
      // the column holding gate row n and the one holding up row IH + n (8 apart with granularity 8)
      const colOf = new Int32Array(2 * IH);
      for (let c = 0; c < 2 * IH; c++) colOf[map[c]!] = c;
      const out = new Float32Array(R * IH);
      for (let r = 0; r < R; r++) {
        const base = r * 2 * IH;
        for (let n = 0; n < IH; n++) {
          let g = l1[base + colOf[n]!]!;
          let u = l1[base + colOf[IH + n]!]!;
          // DeepSeek-V4 / MegaMoE: clamp BEFORE SiLU (docs/layouts-and-stages.md §10.2)
          if (g > clamp) g = clamp;
          u = u > clamp ? clamp : u < -clamp ? -clamp : u;
          out[r * IH + n] = siluMulF32(g, u, w[r]!);
        }
      }
      ctx.tensors.set(MG.swiglu_out, new Tensor('f32', [R, IH], out, undefined, 0, MG.swiglu_out));
    },
    quantize_l2(ctx) {
      const y = dense(need<'f32'>(ctx, MG.swiglu_out));
      const q = new Uint8Array(R * IH);
      const s = new Float32Array(R * G2);
      for (let r = 0; r < R; r++) {
        try {
          quantizeGroups(y, r * IH, IH, L2_ACT_GROUP, q, r * IH, s, r * G2, 1);
        } catch (e) {
          if (e instanceof NonFiniteValue) throw new MoeError('E_VALUE', `swiglu_out[${r}, ${e.column}] = ${e.value}: the L2 quantization needs finite values (an overflowing L1 output?)`, MG.swiglu_out);
          throw e;
        }
      }
      ctx.tensors.set(MG.l2_acts, new Tensor('f8e4m3fn', [R, IH], q, undefined, 0, MG.l2_acts));
      ctx.tensors.set(MG.l2_acts_sf, toSm90ActScales(new Tensor('f32', [R, G2], s, undefined, 0, MG.l2_acts_sf)));
    },
    async gemm2(ctx) {
      const s2 = inputs.w2_weight_scale_inv;
      const bScaleRow = new Int32Array(H);
      for (let n = 0; n < H; n++) bScaleRow[n] = Math.floor(n / MEGAMOE_BLOCK);
      const acc = await blockScaledGemm(
        {
          a: dense(need<'f8e4m3fn'>(ctx, MG.l2_acts)),
          aScale: dense(need<'f32'>(ctx, MG.l2_acts_sf)),
          aGroup: L2_ACT_GROUP,
          rows: R,
          K: IH,
          rowExpert: dense(need<'i32'>(ctx, MG.pool_expert)),
          b: dense(inputs.w2_weight),
          E: El,
          N: H,
          bScale: dense(s2),
          Nb: s2.shape[1]!,
          bScaleRow,
        },
        ctx.signal ? { signal: ctx.signal } : {},
      );
      ctx.tensors.set(MG.l2_out, new Tensor('bf16', [R, H], toBf16(acc), undefined, 0, MG.l2_out));
    },
    combine(ctx) {
      const l2 = dense(need<'bf16'>(ctx, MG.l2_out));
      const src = dense(need<'i32'>(ctx, MG.pool_src));
      const cb = new Uint16Array(k * tMax * H);
      for (let r = 0; r < R; r++) {
        const p = src[r]!;
        const t = Math.floor(p / k);
        const s = p % k;
        cb.set(l2.subarray(r * H, (r + 1) * H), (s * tMax + t) * H);
      }
      const y = new Uint16Array(Tk * H);
      for (let t = 0; t < Tk; t++)
        for (let h = 0; h < H; h++) {
          let acc = 0;
          for (let s = 0; s < k; s++) acc = Math.fround(acc + decodeBf16(cb[(s * tMax + t) * H + h]!));
          y[t * H + h] = encodeBf16(acc);
        }
      ctx.tensors.set(MG.combine_buffer, new Tensor('bf16', [k, tMax, H], cb, undefined, 0, MG.combine_buffer));
      ctx.tensors.set(T.output, new Tensor('bf16', [Tk, H], y, undefined, 0, T.output));
    },
  };

  const stages: PlannedStage[] = MEGAMOE_STAGES.map((d) => ({
    ...d,
    cost: costs[d.id],
    runCpu: run[d.id],
    ...(STAGE_NOTES[d.id] ? { notes: () => STAGE_NOTES[d.id]! } : {}),
  }));
  return {
    stages,
    permutation: permutationStats(plan.counts, R, 'contiguous'),
    errorTensors: [MG.sym_x, MG.l1_out, MG.swiglu_out, MG.l2_out, T.output],
    errorOf: (name, tensors) => megamoeErrorFn(name, tensors, inputs, spec, plan),
  };
}
