/** LayerSpec: everything that defines one MoE layer run (DESIGN.md "The engine's vocabulary"). */
/** an architecture id of the registry in kernels/arch/ ('sm90', 'sm100', …) */
export type Arch = string;
export type ScaleFormat = 'f32' | 'ue8m0';
export type QuantConvention = 'vllm' | 'deepgemm';
export type ActivationKind = 'silu' | 'swiglu';
export type BackendChoice = 'auto' | 'cpu' | 'cuda';
/** a GPU model id of an architecture module (kernels/arch/): the roofline a run is measured against */
export type GpuModel = string;
/** a recipe id of the registry in kernels/recipes/ ('contiguous', 'masked', …) */
export type RecipeId = string;
/** where the routing weight is multiplied in: at the final reduce (vLLM), on the input (k = 1 only), or at the activation (MegaMoE) */
export type RouterWeightPlacement = 'reduce' | 'input' | 'activation';

export interface Recipe {
  /** which MoE pipeline runs the layer: a folder of kernels/recipes/ (its stages, quantizers, guards, tolerances) */
  id: RecipeId;
  /** activation quantization group along K (128 in every recipe so far) */
  actGroup: number;
  /** weight block edge (128×128 blocks) */
  weightBlock: number;
  scaleFormat: ScaleFormat;
  quant: QuantConvention;
  /** the recipe's own integer options by id (e.g. the masked recipe's maxM), declared in its RecipeSpec.options */
  options?: Record<string, number>;
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
  | { kind: 'file'; path: string }
  /**
   * one MoE layer of a Hugging Face checkpoint folder (kernels/io/checkpoint), routed by the router dump `inputs` or
   * synthetically (seed and Zipf skew; spec.tokens tokens), as kernels/checkpointLayer.ts builds it
   */
  | { kind: 'checkpoint'; path: string; layer: number; inputs?: string; seed?: number; skew?: number };

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
  blockM: number;
  source: DataSource;
}

export const DEFAULT_RECIPE: Recipe = { id: 'contiguous', actGroup: 128, weightBlock: 128, scaleFormat: 'f32', quant: 'vllm' };

/**
 * What a layer file's spec says before its tensors are read: the file gives the shapes and the recipe's
 * specFromInputs the rest; these are the defaults every recipe starts from (a caller's `base` overrides them).
 */
export const FILE_SPEC_DEFAULTS: Pick<LayerSpec, 'name' | 'arch' | 'activation' | 'routerWeight' | 'blockM' | 'source'> = {
  name: 'custom',
  arch: 'sm90',
  activation: { kind: 'silu' },
  routerWeight: 'reduce',
  blockM: 128,
  source: { kind: 'synthetic', seed: 0, skew: 0 },
};
