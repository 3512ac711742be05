/** Trace: the result of one pipeline run, serialisable to JSON (tensors are referenced by name). */
import type { DType } from './dtypes/index';
import type { LayoutDescriptor } from './layout/descriptor';
import type { LayerSpec, GpuModel } from './spec';

/**
 * A stage id of a recipe (kernels/recipes/<id>/stages.ts): the recipe's descriptors say which stages a run has and
 * in what order, and the Trace lists them in that order. Nothing outside a recipe lists stages.
 */
export type StageId = string;

export interface TensorSummary {
  min: number;
  max: number;
  mean: number;
  absMax: number;
  nanCount: number;
  infCount: number;
  /**
   * present when the figures above come from a sample, not every value: `values` of them, every k-th of the tensor
   * ('even', as large weight and stage tensors are summarised) or the first values of each expert ('expert-prefix':
   * weights read per expert from a file or checkpoint past one array)
   */
  sampled?: { values: number; how: 'even' | 'expert-prefix' };
}

export interface TensorRef {
  name: string;
  dtype: DType;
  shape: number[];
  layout: LayoutDescriptor;
  summary: TensorSummary;
  /** logical values (decoded, row-major) for small tensors; large ones are fetched as tiles */
  inline?: number[];
}

export interface Roofline {
  /** lower bound on the stage's time from bytes / bandwidth and FLOPs / peak, in ms */
  floorMs: number;
  /** floorMs / measured time, 0…1 */
  fraction: number;
  bound: 'memory' | 'compute';
  /** FLOPs per byte */
  intensity: number;
}

export interface StageRecord {
  id: StageId;
  title: string;
  inputs: string[];
  outputs: string[];
  timeMs: number;
  bytes: number;
  /** FLOPs actually executed (padding rows included) */
  flops: number;
  /** FLOPs on valid rows only (what DeepGEMM's benchmarks report) */
  usefulFlops: number;
  /** against the device that ran the stage: the CPU's own measured peaks on the CPU path, the GPU model on CUDA */
  roofline: Roofline;
  /** CPU runs: the floor of this stage on the trace's GPU model ("on an H200 this stage would take ≥ …") */
  gpuFloorMs?: number;
  /** 'cpu' or 'cuda', and the device that produced the time */
  backend: 'cpu' | 'cuda';
  device: string;
  notes?: string[];
}

export type CheckLevel = 'pass' | 'info' | 'warn' | 'fail';

export interface CheckResult {
  id: string;
  level: CheckLevel;
  message: string;
  tensor?: string;
}

export interface PermutationStats {
  /** how the rows are grouped for the grouped GEMMs: 128-row-aligned segments, or one (max_m)-row buffer per expert */
  layout?: 'contiguous' | 'masked';
  /** per local expert: routed (token, slot) pairs (masked: masked_m) */
  counts: number[];
  /** Σ align(count, blockM) */
  mSum: number;
  /** routed rows R */
  routedRows: number;
  /** (M_sum − R) / M_sum */
  paddingWaste: number;
  /** experts with at least one row */
  activeExperts: number;
  /** masked layout only: rows per expert buffer, the kernel's row block, and the rows its tiles execute */
  masked?: { maxM: number; rowBlock: number; bufferRows: number; executedRows: number };
}

export interface BackendInfo {
  name: 'cpu' | 'cuda';
  /** why this backend was used, e.g. "CUDA unavailable: no driver (cudaGetDeviceCount error 35)" */
  reason: string;
  device: string;
}

export interface Trace {
  version: 1;
  spec: LayerSpec;
  /** the recipe that ran (spec.recipe.id) and the architecture's GEMM, in words */
  recipe: { id: string; label: string };
  /** what the grouped GEMM is on this architecture, and what the backend really ran (a caveat when it differs) */
  gemm: { production: string; ran: string; caveat?: string };
  backend: BackendInfo;
  /** the GPU model of the floors (the roofline on CUDA runs, `gpuFloorMs` on CPU runs) */
  gpuModel: GpuModel;
  /** what each stage's `roofline` is measured against (the CPU's measured peaks on CPU runs), in words */
  rooflineModel: { id: string; label: string; source: string };
  stages: StageRecord[];
  checks: CheckResult[];
  tensors: Record<string, TensorRef>;
  permutation: PermutationStats;
  createdAt: string;
  totalMs: number;
  /**
   * Only on a partial Trace (sent while the run goes on): the stages not computed yet, in order, with the tensors
   * they will write. `stages` then holds the finished stages only. Absent on a finished run.
   */
  pending?: PendingStage[];
}

export interface PendingStage {
  id: StageId;
  title: string;
  outputs: string[];
}
