/** LayerSpec: everything that defines one MoE layer run (DESIGN.md "The engine's vocabulary"). */
export type Arch = 'sm90' | 'sm100';
export type ScaleFormat = 'f32' | 'ue8m0';
export type QuantConvention = 'vllm' | 'deepgemm';
export type ActivationKind = 'silu' | 'swiglu';
export type BackendChoice = 'auto' | 'cpu' | 'cuda';
export type GpuModel = 'H100' | 'H200' | 'B200' | 'H100-measured' | 'H200-measured';
/** where the routing weight is multiplied in: at the final reduce (vLLM), on the input (k = 1 only), or at the activation (MegaMoE) */
export type RouterWeightPlacement = 'reduce' | 'input' | 'activation';

export interface Recipe {
  /** activation quantization group along K (always 128 here) */
  actGroup: 128;
  /** weight block edge (128×128 blocks) */
  weightBlock: 128;
  scaleFormat: ScaleFormat;
  quant: QuantConvention;
}

export interface ExpertParallel {
  /** number of ranks sharing the experts */
  size: number;
  /** this rank */
  rank: number;
  strategy: 'linear' | 'round_robin';
}

export type DataSource =
  | { kind: 'synthetic'; seed: number; /** Zipf exponent of the router; 0 = uniform */ skew: number }
  | { kind: 'file'; path: string };

export interface LayerSpec {
  /** preset name or 'custom' */
  name: string;
  tokens: number;
  hidden: number;
  intermediate: number;
  experts: number;
  topk: number;
  expertParallel?: ExpertParallel;
  arch: Arch;
  recipe: Recipe;
  activation: { kind: ActivationKind; clampLimit?: number };
  routerWeight: RouterWeightPlacement;
  /** row alignment of expert segments (DeepGEMM's get_mk_alignment_for_contiguous_layout) */
  blockM: 128;
  source: DataSource;
}

export const DEFAULT_RECIPE: Recipe = { actGroup: 128, weightBlock: 128, scaleFormat: 'f32', quant: 'vllm' };
