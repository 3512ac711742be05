/**
 * The masked recipe's six stages (DeepEP low-latency dispatch → DeepGEMM m_grouped_fp8_gemm_nt_masked, vLLM's
 * BatchedDeepGemmExperts; docs/layouts-and-stages.md §"Masked"). Every tensor is (E_local, max_m, ·); only the first
 * masked_m[e] rows of expert e are computed, the rest stay zero. There is no unpermute: DeepEP's combine does the
 * weighted reduce across ranks.
 */
import type { LayerSpec } from '../../spec';
import type { CpuStageContext, PlannedStage, RunPlan, StageDescriptor, StageCost } from '../types';
import { T } from '../tensors';
import { MT } from './tensors';
import { Tensor } from '../../tensor';
import { MoeError } from '../../errors';
import { archById } from '../../arch/index';
import { quantizeRowGroups } from '../../ops/quantize';
import { groupedGemmMasked, sharedBytes } from '../../ops/gemm';
import { siluAndMul } from '../../ops/activation';
import { decodeBf16 } from '../../dtypes/bf16';
import { need, permutationStats, scalePacking } from '../common';
import { maskedCounts, type MaskedInputs } from './inputs';
import { maskedErrorFn } from './reference64';

export const MASKED_STAGES = [
  { id: 'quantize', title: 'Quantize valid rows (1×128 groups)', reads: [T.hidden_states, MT.masked_m], writes: [T.a1q, T.a1q_scale] },
  { id: 'transform_scales', title: 'Scale factors → per-expert kernel layout', reads: [T.a1q_scale], writes: [T.a1q_scale_layout] },
  {
    id: 'gemm1',
    title: 'Masked grouped GEMM 1 (K → 2N)',
    reads: [T.a1q, T.a1q_scale, T.w13_weight, T.w13_weight_scale_inv, MT.masked_m],
    writes: [T.mm1_out],
    heavy: true,
  },
  { id: 'activation', title: 'SiLU-and-mul (valid rows)', reads: [T.mm1_out, MT.masked_m], writes: [T.act_out] },
  { id: 'requantize', title: 'Re-quantize (valid rows)', reads: [T.act_out, MT.masked_m], writes: [T.a2q, T.a2q_scale, T.a2q_scale_layout] },
  {
    id: 'gemm2',
    title: 'Masked grouped GEMM 2 (N → K)',
    reads: [T.a2q, T.a2q_scale, T.w2_weight, T.w2_weight_scale_inv, MT.masked_m],
    writes: [T.output],
    heavy: true,
  },
] as const satisfies readonly StageDescriptor[];

export type MaskedStageId = (typeof MASKED_STAGES)[number]['id'];


/** quantize the valid rows of (E, maxM, C) float rows into fp8 (E, maxM, C) and f32 scales (E, maxM, C/128) */
function quantizeValidRows(
  rowOf: (flatRow: number, out: Float32Array) => void,
  E: number,
  maxM: number,
  C: number,
  counts: Int32Array,
  spec: LayerSpec,
  name: string,
): { q: Tensor<'f8e4m3fn'>; s: Tensor<'f32'> } {
  const G = Math.ceil(C / 128);
  const q = sharedBytes(E * maxM * C);
  const s = new Float32Array(E * maxM * G);
  const row = new Float32Array(C);
  const quant = { convention: spec.recipe.quant, scaleFormat: spec.recipe.scaleFormat };
  for (let e = 0; e < E; e++)
    for (let i = 0; i < counts[e]!; i++) {
      const r = e * maxM + i;
      rowOf(r, row);
      quantizeRowGroups(row, 0, C, q, r * C, s, r * G, 1, quant);
    }
  return { q: new Tensor('f8e4m3fn', [E, maxM, C], q, undefined, 0, name), s: new Tensor('f32', [E, maxM, G], s, undefined, 0, `${name}_scale`) };
}

/**
 * The per-expert kernel layout of a (E, max_m, G) scale tensor. Stale rows carry no scale (0), which a packed UE8M0
 * layout cannot encode: they are packed as 1.0 and then cleared, so the kernel layout holds zero words there too.
 */
function kernelLayout(ctx: CpuStageContext, spec: LayerSpec, scale: Tensor<'f32'>, counts: Int32Array, out: string, okNote?: string): void {
  const [E, maxM, G] = scale.shape as [number, number, number];
  const k = G * 128;
  try {
    const filled = scale.contiguous();
    const neutral = new Float32Array(filled.storage.subarray(filled.offset, filled.offset + filled.numel));
    for (let e = 0; e < E; e++) neutral.fill(1, (e * maxM + counts[e]!) * G, (e + 1) * maxM * G);
    const tr = archById(spec.arch).transformScales(new Tensor('f32', [E, maxM, G], neutral, undefined, 0, scale.name), { kind: 'activation', mn: maxM, k, groups: E });
    const t = tr.tensor;
    const cols = t.shape[2]!;
    for (let e = 0; e < E; e++) for (let i = counts[e]!; i < maxM; i++) for (let c = 0; c < cols; c++) t.storage[t.index(e, i, c)] = 0;
    ctx.tensors.set(out, t.withName(out));
    ctx.notes.push(`${scale.name}: ${okNote ?? tr.note}`);
  } catch (e) {
    if (!(e instanceof MoeError)) throw e;
    ctx.notes.push(`${scale.name}: no ${spec.arch} kernel layout: ${e.message}`);
  }
}

export function planMasked(spec: LayerSpec, inputs: MaskedInputs, _env: { backend: 'cpu' | 'cuda' }): RunPlan {
  const [E, maxM, K] = inputs.hidden_states.shape as [number, number, number];
  const N = inputs.w2_weight.shape[2]!;
  const counts = maskedCounts(inputs.masked_m, maxM);
  const arch = archById(spec.arch);
  const block = arch.maskedRowBlock;
  let R = 0;
  let executed = 0;
  let active = 0;
  for (const c of counts) {
    R += c;
    executed += Math.ceil(c / block) * block;
    if (c > 0) active++;
  }
  const GK = Math.ceil(K / 128);
  const GN = Math.ceil(N / 128);
  // activation and requantize touch valid rows only on both backends (kernels/native/layer_masked.cu skips the
  // others); the GEMMs run whole row blocks on the GPU (their costs count `executed`)
  const rows = R;
  const mem = (bytes: number): StageCost => ({ bytes, flops: 0, usefulFlops: 0 });
  const costs: Record<MaskedStageId, StageCost> = {
    quantize: mem(2 * R * K + R * K + 4 * R * GK + 4 * E),
    transform_scales: mem(arch.scaleRelayoutBytes(E * maxM, GK)),
    gemm1: {
      bytes: executed * K + 4 * executed * GK + active * 2 * N * K + 4 * active * Math.ceil((2 * N) / 128) * GK + 2 * executed * 2 * N,
      flops: 2 * executed * 2 * N * K,
      usefulFlops: 2 * R * 2 * N * K,
    },
    activation: mem(2 * rows * 2 * N + 2 * rows * N),
    requantize: mem(2 * rows * N + rows * N + 4 * rows * GN),
    gemm2: { bytes: executed * N + 4 * executed * GN + active * K * N + 4 * active * GK * GN + 2 * executed * K, flops: 2 * executed * K * N, usefulFlops: 2 * R * K * N },
  };
  const gemmOpts = (ctx: CpuStageContext): { threads: number; signal?: AbortSignal } => ({ threads: ctx.threads, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  // valid rows as −1/expert ids, the activation's row mask
  const rowMask = new Int32Array(E * maxM).fill(-1);
  for (let e = 0; e < E; e++) rowMask.fill(e, e * maxM, e * maxM + counts[e]!);

  const run: Record<MaskedStageId, (ctx: CpuStageContext) => void | Promise<void>> = {
    quantize(ctx) {
      const x = inputs.hidden_states.contiguous();
      const bf = x.dtype === 'bf16';
      const { q, s } = quantizeValidRows(
        (r, out) => {
          const off = x.offset + r * K;
          for (let c = 0; c < K; c++) out[c] = bf ? decodeBf16((x.storage as Uint16Array)[off + c]!) : (x.storage as Float32Array)[off + c]!;
        },
        E,
        maxM,
        K,
        counts,
        spec,
        T.a1q,
      );
      ctx.tensors.set(T.a1q, q);
      ctx.tensors.set(T.a1q_scale, s.withName(T.a1q_scale));
    },
    transform_scales(ctx) {
      kernelLayout(ctx, spec, need<'f32'>(ctx, T.a1q_scale), counts, T.a1q_scale_layout);
    },
    async gemm1(ctx) {
      const mm1 = await groupedGemmMasked(need(ctx, T.a1q), need(ctx, T.a1q_scale), inputs.w13_weight, inputs.w13_weight_scale_inv, counts, gemmOpts(ctx));
      ctx.tensors.set(T.mm1_out, mm1.withName(T.mm1_out));
    },
    activation(ctx) {
      const mm1 = need<'bf16'>(ctx, T.mm1_out).reshape([E * maxM, 2 * N]) as Tensor<'bf16'>;
      const act = siluAndMul(mm1, {
        kind: spec.activation.kind,
        ...(spec.activation.clampLimit !== undefined ? { clampLimit: spec.activation.clampLimit } : {}),
        rowMask,
      });
      ctx.tensors.set(T.act_out, act.reshape([E, maxM, N]).withName(T.act_out));
    },
    requantize(ctx) {
      const act = need<'bf16'>(ctx, T.act_out).contiguous();
      const { q, s } = quantizeValidRows(
        (r, out) => {
          for (let c = 0; c < N; c++) out[c] = decodeBf16((act.storage as Uint16Array)[act.offset + r * N + c]!);
        },
        E,
        maxM,
        N,
        counts,
        spec,
        T.a2q,
      );
      ctx.tensors.set(T.a2q, q);
      const a2s = s.withName(T.a2q_scale);
      ctx.tensors.set(T.a2q_scale, a2s);
      kernelLayout(ctx, spec, a2s, counts, T.a2q_scale_layout, 'the fused SiLU+quant kernel writes it in the per-expert kernel layout directly');
    },
    async gemm2(ctx) {
      const out = await groupedGemmMasked(need(ctx, T.a2q), need(ctx, T.a2q_scale), inputs.w2_weight, inputs.w2_weight_scale_inv, counts, gemmOpts(ctx));
      ctx.tensors.set(T.output, out.withName(T.output));
    },
  };
  const stages: PlannedStage[] = MASKED_STAGES.map((d) => ({
    ...d,
    cost: costs[d.id],
    runCpu: run[d.id],
    ...(d.id === 'gemm1' || d.id === 'gemm2'
      ? { notes: (b: 'cpu' | 'cuda') => [`executed FLOPs count ⌈masked_m/${block}⌉ row blocks per expert (the ${arch.label} masked kernel's tiles)${b === 'cpu' ? '; the CPU kernel computes valid rows only' : ''}`] }
      : {}),
  }));
  return {
    stages,
    permutation: permutationStats(counts, E * maxM, 'masked', { maxM, rowBlock: block, bufferRows: E * maxM, executedRows: executed }),
    packingOf: (name, t) => scalePacking(name, t, name.startsWith('a1') ? GK : GN),
    errorTensors: [T.a1q, T.mm1_out, T.act_out, T.output],
    errorOf: (name, tensors) => maskedErrorFn(name, tensors, inputs, counts, spec),
  };
}
