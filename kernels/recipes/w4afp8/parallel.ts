/**
 * Tensor parallelism versus expert parallelism for SGLang's W4AFP8 experts (docs/layouts-and-stages.md §9, SGLang PR #8118):
 * - TP (no `enable_ep_moe`): every GPU holds all E experts and a 1/tp slice of the intermediate size,
 *   I_p = I / tp (w13 rows [r·I_p, (r+1)·I_p) of gate and of up, the same columns of w2); the partial outputs are
 *   summed by an all-reduce.
 * - EP: every GPU holds E / ep experts with the full I; tokens travel to their experts and back.
 * The weights are int4 packed two per byte along K; the group scales (one per 128 along K) are interleaved with
 * α = 4 when their K-group count divides by 4, else 1 — so the parallel mode changes α (R1 TP8: w2 has I_p/128 = 2
 * groups → α = 1). One pure function gives every GPU's share and every shape, for the run, the picture and the tests.
 */
import type { LayerSpec } from '../../spec';
import { expertMapFor } from '../../ops/permute';
import { Tensor } from '../../tensor';
import { interleaveAlpha, interleavedShape } from './interleave';
import { WT } from './tensors';

export type ParallelMode = 'tp' | 'ep';

export interface GpuShare {
  gpu: number;
  /** global experts held: first, count and stride (linear EP: stride 1; round-robin EP: stride = ranks) */
  expertFirst: number;
  expertCount: number;
  expertStride: number;
  /** slice of the intermediate size held: [iBegin, iEnd) of I (the same for the gate and the up half of w13) */
  iBegin: number;
  iEnd: number;
}

export interface LayerShapes {
  w13_weight: number[];
  w13_weight_scale_inv: number[];
  w13_scale_interleaved: number[];
  w2_weight: number[];
  w2_weight_scale_inv: number[];
  w2_scale_interleaved: number[];
}

export interface ParallelLayout {
  mode: ParallelMode;
  /** GPUs sharing the layer */
  size: number;
  gpus: GpuShare[];
  /** experts on the GPU with the most */
  localExperts: number;
  /** I_p: intermediate size per GPU */
  intermediatePerGpu: number;
  /** K-groups of GEMM1 (H/128) and GEMM2 (I_p/128), and the interleave factor of each */
  groups13: number;
  groups2: number;
  alpha13: 1 | 4;
  alpha2: 1 | 4;
  shapes: LayerShapes;
  /** why this split is not possible (SGLang would refuse it), absent when it is */
  problem?: string;
}

export interface ModelDims {
  experts: number;
  hidden: number;
  /** the model's full moe_intermediate_size I */
  intermediate: number;
}

export function parallelLayout(mode: ParallelMode, size: number, d: ModelDims, strategy: 'linear' | 'round_robin' = 'linear'): ParallelLayout {
  const { experts: E, hidden: H, intermediate: I } = d;
  const problems: string[] = [];
  const gpus: GpuShare[] = [];
  let Ip = I;
  let El = E;
  if (mode === 'tp') {
    if (I % size !== 0) problems.push(`I = ${I} does not split into ${size} equal slices`);
    Ip = Math.floor(I / size);
    if (Ip % 128 !== 0) problems.push(`I_p = I/${size} = ${I / size} is not a multiple of 128 (w2's int4 group scales run along I_p in groups of 128)`);
    for (let g = 0; g < size; g++) gpus.push({ gpu: g, expertFirst: 0, expertCount: E, expertStride: 1, iBegin: g * Ip, iEnd: (g + 1) * Ip });
  } else {
    if (E % size !== 0) problems.push(`E = ${E} experts do not divide among ${size} GPUs (SGLang's EP MoE asserts E % ep == 0)`);
    El = 0;
    for (let g = 0; g < size; g++) {
      const map = size > 1 && size <= E ? expertMapFor(E, { size, rank: g, strategy }) : undefined;
      let first = -1;
      let count = 0;
      if (size > E) {
        // more GPUs than experts: the last ones hold none (refused above)
        first = g < E ? g : 0;
        count = g < E ? 1 : 0;
      } else if (map) {
        for (let e = 0; e < E; e++)
          if (map[e]! >= 0) {
            if (first < 0) first = e;
            count++;
          }
      } else {
        first = 0;
        count = E;
      }
      El = Math.max(El, count);
      gpus.push({ gpu: g, expertFirst: Math.max(0, first), expertCount: count, expertStride: strategy === 'round_robin' && size > 1 ? size : 1, iBegin: 0, iEnd: I });
    }
  }
  if (H % 128 !== 0) problems.push(`H = ${H} is not a multiple of 128 (w13's int4 group scales run along H in groups of 128)`);
  const G13 = Math.floor(H / 128);
  const G2 = Math.floor(Ip / 128);
  const a13 = interleaveAlpha(G13);
  const a2 = interleaveAlpha(G2);
  return {
    mode,
    size,
    gpus,
    localExperts: El,
    intermediatePerGpu: Ip,
    groups13: G13,
    groups2: G2,
    alpha13: a13,
    alpha2: a2,
    shapes: {
      w13_weight: [El, 2 * Ip, H / 2],
      w13_weight_scale_inv: [El, 2 * Ip, G13],
      w13_scale_interleaved: G13 > 0 ? interleavedShape(El, 2 * Ip, G13) : [El, 0, 0],
      w2_weight: [El, H, Ip / 2],
      w2_weight_scale_inv: [El, H, G2],
      w2_scale_interleaved: G2 > 0 ? interleavedShape(El, H, G2) : [El, 0, 0],
    },
    ...(problems.length ? { problem: problems.join('; ') } : {}),
  };
}

/** the run's mode and GPU count: TP when the recipe's tp option is above 1, EP with spec.expertParallel, else one GPU */
export function runParallelism(spec: LayerSpec, tp: number): { mode: ParallelMode; size: number } {
  if (tp > 1) return { mode: 'tp', size: tp };
  if (spec.expertParallel && spec.expertParallel.size > 1) return { mode: 'ep', size: spec.expertParallel.size };
  return { mode: 'tp', size: 1 };
}

/** columns of the plan tensor, in order */
export const PLAN_COLUMNS = ['mode (0 TP, 1 EP)', 'gpu', 'first expert', 'experts', 'expert stride', 'I begin', 'I end', 'α w13', 'α w2'] as const;

/**
 * Both modes for the same GPU count as one small int32 tensor (2·P rows × 9 columns, TP rows first): a stage
 * output, so the picture draws from the Trace alone.
 */
export function parallelPlanTensor(size: number, d: ModelDims, strategy: 'linear' | 'round_robin' = 'linear'): Tensor<'i32'> {
  const rows: number[] = [];
  for (const mode of ['tp', 'ep'] as const) {
    const p = parallelLayout(mode, size, d, strategy);
    for (const g of p.gpus) rows.push(mode === 'tp' ? 0 : 1, g.gpu, g.expertFirst, g.expertCount, g.expertStride, g.iBegin, g.iEnd, p.alpha13, p.alpha2);
  }
  return new Tensor('i32', [rows.length / PLAN_COLUMNS.length, PLAN_COLUMNS.length], Int32Array.from(rows), undefined, 0, WT.parallel_plan);
}
