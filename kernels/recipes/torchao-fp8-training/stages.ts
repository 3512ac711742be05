/**
 * The three passes of torchao's FP8 blockwise MoE grouped GEMM with the DeepGEMM backend (docs/layouts-and-stages.md §8;
 * torchao `_Float8BlockwiseGroupedMM`), as seven stages:
 *   forward  pad token groups → quantize input (1×128 along K) and weight (128×128) → M-grouped GEMM
 *   dgrad    pad + quantize grad_output (1×128 along N) and weightᵀ (128×128) → M-grouped GEMM
 *   wgrad    quantize both padded operands into flat K-grouped buffers (one scale per feature and 128-token block)
 *            → K-grouped GEMM (float32 D) → BF16
 * Shapes: M tokens grouped by expert (group_sizes), K = hidden, N = out features, E experts; output (M, N),
 * grad_input (M, K), grad_weight (E, N, K), all BF16.
 */
import type { LayerSpec } from '../../spec';
import type { CpuStageContext, ErrorFn, PlannedStage, RunPlan, StageDescriptor } from '../types';
import { Tensor } from '../../tensor';
import { archById } from '../../arch/index';
import { groupedGemmContiguous } from '../../ops/gemm';
import { decodeE4M3 } from '../../dtypes/fp8e4m3';
import { need, permutationStats } from '../common';
import { TT } from './tensors';
import { groupedLayout, type GroupPlan } from './groups';
import { padTokenGroups, unpadTokenGroups } from './pad';
import { quantizeKGrouped, quantizeRows1x128, quantizeWeight128, type FloatTensor } from './quantize';
import { kGroupedGemmNt } from './kGroupedGemm';
import { torchaoStageCosts } from './costs';
import { deepgemmTrainingSupport } from './archFacts';
import { groupsOf, type TorchaoInputs } from './inputs';
import { TrainingReference64 } from './reference64';

export const TORCHAO_STAGES = [
  {
    id: 'pad',
    title: 'Forward · pad token groups to 128 rows',
    reads: [TT.input, TT.group_sizes],
    writes: [TT.input_padded, TT.grouped_layout, TT.padded_group_sizes, TT.padded_group_starts],
  },
  {
    id: 'fwd_quantize',
    title: 'Forward · quantize input (1×128 along K) and weight (128×128)',
    reads: [TT.input_padded, TT.weight],
    writes: [TT.input_fp8, TT.input_scale, TT.weight_fp8, TT.weight_scale],
  },
  {
    id: 'fwd_gemm',
    title: 'Forward · M-grouped GEMM output = input · weight[e]ᵀ',
    reads: [TT.input_fp8, TT.input_scale, TT.weight_fp8, TT.weight_scale, TT.grouped_layout],
    writes: [TT.output],
    heavy: true,
  },
  {
    id: 'dgrad_quantize',
    title: 'Dgrad · pad grad_output, quantize it (1×128 along N) and weightᵀ (128×128)',
    reads: [TT.grad_output, TT.group_sizes, TT.weight],
    writes: [TT.grad_output_padded, TT.grad_output_fp8, TT.grad_output_scale, TT.weight_t_fp8, TT.weight_t_scale],
  },
  {
    id: 'dgrad_gemm',
    title: 'Dgrad · M-grouped GEMM grad_input = grad_output · weight[e]',
    reads: [TT.grad_output_fp8, TT.grad_output_scale, TT.weight_t_fp8, TT.weight_t_scale, TT.grouped_layout],
    writes: [TT.grad_input],
    heavy: true,
  },
  {
    id: 'wgrad_quantize',
    title: 'Wgrad · quantize into flat K-grouped buffers (128 tokens × 1 feature)',
    reads: [TT.grad_output_padded, TT.input_padded, TT.padded_group_sizes],
    writes: [TT.wgrad_lhs, TT.wgrad_lhs_scale, TT.wgrad_lhs_scale_layout, TT.wgrad_rhs, TT.wgrad_rhs_scale, TT.wgrad_rhs_scale_layout],
  },
  {
    id: 'wgrad_gemm',
    title: 'Wgrad · K-grouped GEMM grad_weight[e] = grad_outputₑᵀ · inputₑ',
    reads: [TT.wgrad_lhs, TT.wgrad_lhs_scale, TT.wgrad_rhs, TT.wgrad_rhs_scale, TT.padded_group_sizes],
    writes: [TT.grad_weight],
    heavy: true,
  },
] as const satisfies readonly StageDescriptor[];

export type TorchaoStageId = (typeof TORCHAO_STAGES)[number]['id'];


const i32 = (name: string, v: Int32Array): Tensor<'i32'> => new Tensor('i32', [v.length], v, undefined, 0, name);

/** float32 → BF16 (round to nearest even, NaN kept quiet: kernels/dtypes/bf16.ts), the cast torchao applies to DeepGEMM's float32 wgrad */
function toBf16(d: Tensor<'f32'>, name: string): Tensor<'bf16'> {
  const c = d.contiguous();
  const bits = new Uint32Array(c.storage.buffer, c.storage.byteOffset + c.offset * 4, c.numel);
  const out = new Uint16Array(c.numel);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    out[i] = (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0 ? ((b >>> 16) | 0x40) & 0xffff : ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return new Tensor('bf16', d.shape, out, undefined, 0, name);
}

/** the plan needs only shapes and group sizes; `spec` picks the architecture the guards and notes speak about */
export function planTorchao(spec: LayerSpec, inputs: TorchaoInputs): RunPlan {
  const groups = groupsOf(inputs);
  const [M, K] = inputs.input.shape as [number, number];
  const [E, N] = inputs.weight.shape as [number, number, number];
  const arch = archById(spec.arch);
  const support = deepgemmTrainingSupport(arch);
  const costs = torchaoStageCosts(groups, K, N);
  const layout = groupedLayout(groups);
  const gemmOpts = (ctx: CpuStageContext): { threads: number; signal?: AbortSignal } => ({ threads: ctx.threads, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  // per-run notes of a stage, filled while it runs (its record is built after)
  const runNotes: Partial<Record<TorchaoStageId, string[]>> = {};
  const lhsScaleNote = (scale: Tensor<'f32'>, k: number): string => {
    const [rows, cols] = scale.shape as [number, number];
    const what = `${scale.name}: (${rows}, ${cols}) float32 written column-major (strides (1, ${rows}))`;
    if (!support.mGroupedFloatScales)
      return `${what}; torchao passes disable_ue8m0_cast=True, and ${arch.label} has no float32-scale grouped GEMM in DeepGEMM 2.6.1, so the call is refused there`;
    return `${what}: ${arch.transformScales(scale, { kind: 'activation', mn: rows, k }).note}`;
  };

  const run: Record<TorchaoStageId, (ctx: CpuStageContext) => void | Promise<void>> = {
    pad(ctx) {
      ctx.tensors.set(TT.input_padded, padTokenGroups(inputs.input, groups, TT.input).withName(TT.input_padded));
      ctx.tensors.set(TT.grouped_layout, i32(TT.grouped_layout, layout));
      ctx.tensors.set(TT.padded_group_sizes, i32(TT.padded_group_sizes, groups.padded));
      ctx.tensors.set(TT.padded_group_starts, i32(TT.padded_group_starts, groups.starts));
      const ragged = Array.from(groups.sizes).filter((c) => c % 128 !== 0).length;
      runNotes.pad = [
        `${ragged} of ${E} expert groups are not multiples of 128 tokens and are zero-padded (pad_token_groups_for_grouped_mm=True); S = ${groups.paddedTokens} rows hold the groups`,
        `buffer: align(M + E·128, 128) = align(${M} + ${E}·128, 128) = ${groups.bufferRows} rows (torchao sizes it for the worst case, no host sync); grouped_layout marks the ${groups.bufferRows - M} non-token rows −1`,
      ];
    },
    fwd_quantize(ctx) {
      const a = quantizeRows1x128(need<'bf16'>(ctx, TT.input_padded) as FloatTensor, TT.input_padded);
      ctx.tensors.set(TT.input_fp8, a.q.withName(TT.input_fp8));
      ctx.tensors.set(TT.input_scale, a.scale.withName(TT.input_scale));
      const w = quantizeWeight128(inputs.weight, 'forward', TT.weight);
      ctx.tensors.set(TT.weight_fp8, w.q.withName(TT.weight_fp8));
      ctx.tensors.set(TT.weight_scale, w.scale.withName(TT.weight_scale));
      runNotes.fwd_quantize = [
        lhsScaleNote(a.scale.withName(TT.input_scale), K),
        `${TT.weight_scale}: (${E}, ${N / 128}, ${K / 128}) float32, one per 128×128 block of weight (E, N, K), K-major: the RHS layout DeepGEMM reads (no transpose at dispatch)`,
      ];
    },
    async fwd_gemm(ctx) {
      const out = await groupedGemmContiguous(need(ctx, TT.input_fp8), need(ctx, TT.input_scale), need(ctx, TT.weight_fp8), need(ctx, TT.weight_scale), need(ctx, TT.grouped_layout), gemmOpts(ctx));
      ctx.tensors.set(TT.output, unpadTokenGroups(out, groups, TT.output));
    },
    dgrad_quantize(ctx) {
      const padded = padTokenGroups(inputs.grad_output, groups, TT.grad_output);
      ctx.tensors.set(TT.grad_output_padded, padded.withName(TT.grad_output_padded));
      const g = quantizeRows1x128(padded, TT.grad_output_padded);
      ctx.tensors.set(TT.grad_output_fp8, g.q.withName(TT.grad_output_fp8));
      ctx.tensors.set(TT.grad_output_scale, g.scale.withName(TT.grad_output_scale));
      const w = quantizeWeight128(inputs.weight, 'dgrad', TT.weight);
      ctx.tensors.set(TT.weight_t_fp8, w.q.withName(TT.weight_t_fp8));
      ctx.tensors.set(TT.weight_t_scale, w.scale.withName(TT.weight_t_scale));
      runNotes.dgrad_quantize = [
        lhsScaleNote(g.scale.withName(TT.grad_output_scale), N),
        `${TT.weight_t_fp8}: the forward's 128×128 blocks quantized again and written transposed, (${E}, ${K}, ${N}) with N contiguous — the same codes, K-major for the dgrad GEMM`,
      ];
    },
    async dgrad_gemm(ctx) {
      const out = await groupedGemmContiguous(
        need(ctx, TT.grad_output_fp8),
        need(ctx, TT.grad_output_scale),
        need(ctx, TT.weight_t_fp8),
        need(ctx, TT.weight_t_scale),
        need(ctx, TT.grouped_layout),
        gemmOpts(ctx),
      );
      ctx.tensors.set(TT.grad_input, unpadTokenGroups(out, groups, TT.grad_input));
    },
    wgrad_quantize(ctx) {
      const lhs = quantizeKGrouped(need<'bf16'>(ctx, TT.grad_output_padded) as FloatTensor, groups, TT.grad_output_padded);
      const rhs = quantizeKGrouped(need<'bf16'>(ctx, TT.input_padded) as FloatTensor, groups, TT.input_padded);
      ctx.tensors.set(TT.wgrad_lhs, lhs.q.withName(TT.wgrad_lhs));
      ctx.tensors.set(TT.wgrad_rhs, rhs.q.withName(TT.wgrad_rhs));
      for (const [name, layoutName, s, D] of [
        [TT.wgrad_lhs_scale, TT.wgrad_lhs_scale_layout, lhs.scale, N],
        [TT.wgrad_rhs_scale, TT.wgrad_rhs_scale_layout, rhs.scale, K],
      ] as const) {
        const scale = s.withName(name);
        ctx.tensors.set(name, scale);
        if (!support.kGroupedNt) {
          ctx.notes.push(`${name}: no ${arch.label} kernel layout: DeepGEMM 2.6.1 runs k_grouped_fp8_gemm_nt_contiguous on SM90 only`);
          continue;
        }
        // DeepGEMM's transform_k_grouped_sf_into_required_layout: float32 on SM90 → get_mn_major_tma_aligned_tensor
        const tr = arch.transformScales(scale, { kind: 'activation', mn: D, k: groups.paddedTokens });
        ctx.tensors.set(layoutName, tr.tensor.withName(layoutName));
        ctx.notes.push(`${name}: (${D}, ${groups.blocks}) row-major as torchao writes it; ${tr.note}`);
      }
    },
    wgrad_gemm(ctx) {
      const d = kGroupedGemmNt(
        { data: need(ctx, TT.wgrad_lhs), scale: need(ctx, TT.wgrad_lhs_scale), name: TT.wgrad_lhs },
        { data: need(ctx, TT.wgrad_rhs), scale: need(ctx, TT.wgrad_rhs_scale), name: TT.wgrad_rhs },
        groups.padded,
        ctx.signal ? { signal: ctx.signal } : {},
      );
      ctx.tensors.set(TT.grad_weight, toBf16(d, TT.grad_weight));
    },
  };

  const refused = (what: string): string => `on ${arch.label} DeepGEMM 2.6.1 refuses ${what} (see the checks); the values are what its SM90 kernel computes`;
  const staticNotes: Partial<Record<TorchaoStageId, string[]>> = {
    fwd_gemm: [
      `DeepGEMM m_grouped_fp8_gemm_nt_contiguous(recipe_a=(1,128), recipe_b=(128,128), disable_ue8m0_cast=True) over grouped_layout; −1 rows are skipped and dropped by unpad_token_groups; executed FLOPs count the S = ${groups.paddedTokens} rows of the groups`,
      ...(support.mGroupedFloatScales ? [] : [refused('float32-scale M-grouped GEMMs')]),
    ],
    dgrad_gemm: [
      'the same M-grouped call and grouped_layout as the forward, with grad_output as A and the transposed weight blocks as B',
      ...(support.mGroupedFloatScales ? [] : [refused('float32-scale M-grouped GEMMs')]),
    ],
    wgrad_gemm: [
      `DeepGEMM k_grouped_fp8_gemm_nt_contiguous(recipe=(1,1,128), ks = padded group sizes [${Array.from(groups.padded).slice(0, 8).join(', ')}${E > 8 ? ', …' : ''}], C = zeros) → float32 D (${E}, ${N}, ${K}), cast to BF16 afterwards`,
      'CPU: the K-grouped reference runs on one thread (exact 128-token block sums, float32 accumulation in block order)',
      ...(support.kGroupedNt ? [] : [refused('k_grouped_fp8_gemm_nt_contiguous')]),
    ],
  };

  const stages: PlannedStage[] = TORCHAO_STAGES.map((d) => ({
    ...d,
    cost: costs[d.id]!,
    runCpu: run[d.id],
    notes: () => [...(staticNotes[d.id] ?? []), ...(runNotes[d.id] ?? [])],
  }));

  let ref: TrainingReference64 | undefined;
  const reference = (): TrainingReference64 => (ref ??= new TrainingReference64(inputs, groups));
  return {
    stages,
    permutation: permutationStats(groups.sizes, groups.paddedTokens, 'contiguous'),
    errorTensors: [TT.input_fp8, TT.grad_output_fp8, TT.output, TT.grad_input, TT.grad_weight],
    errorOf: (name, tensors) => torchaoErrorFn(name, tensors, groups, layout, reference),
  };
}

/** rows of a float64 reference, cached (a heatmap asks for the same rows tile after tile), bounded */
function rowCache(compute: (row: number) => Float64Array, limit = 4096): (row: number) => Float64Array {
  const cache = new Map<number, Float64Array>();
  return (row) => {
    let v = cache.get(row);
    if (!v) {
      if (cache.size >= limit) cache.clear();
      cache.set(row, (v = compute(row)));
    }
    return v;
  };
}

/** value − float64 reference from the BF16 inputs (what FP8 training approximates); NaN on padding rows */
function torchaoErrorFn(name: string, tensors: ReadonlyMap<string, Tensor>, groups: GroupPlan, layout: Int32Array, reference: () => TrainingReference64): ErrorFn | undefined {
  if (name === TT.input_fp8 || name === TT.grad_output_fp8) {
    const q = tensors.get(name);
    const s = tensors.get(name === TT.input_fp8 ? TT.input_scale : TT.grad_output_scale);
    const x = tensors.get(name === TT.input_fp8 ? TT.input_padded : TT.grad_output_padded);
    if (!q || !s || !x) return undefined;
    return (r, c) => (layout[r]! < 0 ? NaN : decodeE4M3(q.raw(r, c)) * s.get(r, c >> 7) - x.get(r, c));
  }
  const ref = reference();
  if (name === TT.output) {
    const rows = rowCache((t) => ref.outputRow(t));
    return (r, c, v) => v - rows(r)[c]!;
  }
  if (name === TT.grad_input) {
    const rows = rowCache((t) => ref.gradInputRow(t));
    return (r, c, v) => v - rows(r)[c]!;
  }
  if (name === TT.grad_weight) {
    const N = ref.N;
    const rows = rowCache((r) => ref.gradWeightRow(Math.floor(r / N), r % N));
    return (r, c, v) => (groups.sizes[Math.floor(r / N)] === 0 ? NaN : v - rows(r)[c]!);
  }
  return undefined;
}
