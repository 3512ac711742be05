/**
 * The seam between the pipeline and whatever computes it. A backend runs a recipe's planned stages (data crosses
 * to a device only at the ends) and returns the stage tensors under DESIGN.md's names plus a time per stage.
 * Bytes, FLOPs and the roofline come from the plan, the same way for every backend.
 */
import type { Tensor } from '../tensor';
import type { LayerSpec } from '../spec';
import type { StageId } from '../trace';
import type { RunPlan } from '../recipes/types';
import type { AddonGemmKernel } from '../arch/addonKernels';

/** The contiguous recipe's inputs under vLLM FusedMoE names (other recipes declare their own in their folder). */
export type LayerInputs = {
  /** (M, K) bf16 or f32 */
  hidden_states: Tensor<'bf16'> | Tensor<'f32'>;
  /** (M, topk) i32 or i64; −1 = no expert */
  topk_ids: Tensor<'i32'> | Tensor<'i64'>;
  /** (M, topk) f32 */
  topk_weights: Tensor<'f32'>;
  /** (E_local, 2N, K) fp8 */
  w13_weight: Tensor<'f8e4m3fn'>;
  /** (E_local, 2N/128, K/128) f32 */
  w13_weight_scale_inv: Tensor<'f32'>;
  /** (E_local, K, N) fp8 */
  w2_weight: Tensor<'f8e4m3fn'>;
  /** (E_local, K/128, N/128) f32 */
  w2_weight_scale_inv: Tensor<'f32'>;
  /** (E_global,) global → local expert id, −1 = not on this rank */
  expert_map?: Tensor<'i32'>;
};

/**
 * Stage outputs, logical row-major unless the name says otherwise:
 * a1q (M,K) fp8, a1q_scale (M,K/128) f32, a1q_scale_layout (the kernel layout of stage 2: SM90 MN-major f32 or SM100
 * packed i32), m_indices (M_sum) i32, inv_perm (M,topk) i32, mm1_out (M_sum,2N) bf16, act_out (M_sum,N) bf16,
 * a2q (M_sum,N) fp8, a2q_scale (M_sum,N/128) f32, a2q_scale_layout, mm2_out (M_sum,K) bf16, output (M,K) bf16.
 */
export type StageTensors = Record<string, Tensor>;

export interface RunOptions {
  onProgress?: (stage: StageId | 'setup', fraction: number, message: string) => void;
  signal?: AbortSignal;
  /** timed repetitions per stage after warm-up (GPU); the median is reported */
  repeats?: number;
  /**
   * The inputs are the caller's own tensors, not what the spec's source would make: a backend that rebuilds inputs
   * elsewhere (the CUDA worker regenerates synthetic specs from their seed) must send these instead.
   */
  inputsGiven?: boolean;
  /**
   * A stage finished; `tensors` is the record the backend fills (the stages done so far). Awaited, so the caller can
   * yield and post a partial picture before the next (long) stage starts. Backends that run the layer in one piece
   * (CUDA) need not call it.
   */
  /**
   * false: the caller reads no stage tensor (a CLI run that prints its table and writes nothing). A backend that
   * would copy them back from a device need not (CUDA: 1.35 GB for a DeepSeek-V3 EP8 layer); `tensors` may then be
   * empty. Default true.
   */
  stageTensors?: boolean;
  onStageDone?: (stage: StageId, tensors: StageTensors, timesMs: Partial<Record<StageId, number>>) => void | Promise<void>;
}

export interface BackendRun {
  tensors: StageTensors;
  /** per stage id of the plan */
  timesMs: Record<StageId, number>;
  /** device name as the backend reports it, e.g. "NVIDIA H100 80GB HBM3" or "CPU (2 threads)" */
  device: string;
  notes?: string[];
  /** notes that belong to one stage (the trace shows them on it) */
  stageNotes?: Partial<Record<StageId, string[]>>;
  /** the addon's grouped-GEMM kernel that really ran (CUDA): the trace reports it, not the one the spec asked for */
  gemmKernel?: AddonGemmKernel;
}

export interface ComputeBackend {
  readonly name: 'cpu' | 'cuda';
  run(inputs: Record<string, Tensor>, spec: LayerSpec, plan: RunPlan, opts?: RunOptions): Promise<BackendRun>;
  dispose?(): Promise<void> | void;
}

export interface CudaProbe {
  ok: boolean;
  /** why CUDA is (not) usable, in words a user can act on */
  reason: string;
  device?: string;
}
