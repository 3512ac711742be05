/**
 * A recipe is one MoE pipeline as data (docs/layouts-and-stages.md §"Recipes"), modelled on DeepGEMM's
 * tests/generators.py: its options, inputs, guards, tolerances and — above all — its stages. A stage is a
 * descriptor (id, title, the tensors it reads and writes, its cost model, its CPU reference); the Trace, the CPU and
 * CUDA runners, the roofline, the stepper and the partial traces iterate the descriptors, so a recipe with other
 * stages is an addition of files (kernels/recipes/<id>/) and one line in kernels/recipes/index.ts.
 */
import type { Tensor } from '../tensor';
import type { WeightReader } from '../expertPages';
import type { LayerSpec } from '../spec';
import type { CheckResult, PermutationStats, StageId } from '../trace';
import type { Packing } from '../layout/descriptor';
import type { EstimateOptions, RunEstimate } from '../estimate';

/** Tensors of one layer under their DESIGN.md names; which ones a recipe needs is the recipe's business. */
export type LayerTensors = Record<string, Tensor>;

/** Bytes moved and FLOPs of a stage (the roofline's inputs). */
export interface StageCost {
  bytes: number;
  /** executed FLOPs (padding rows included) */
  flops: number;
  /** FLOPs on routed rows only */
  usefulFlops: number;
}

/** What a stage is, independent of a run: enough for a stepper, a pending list or a plan sent to the GPU. */
export interface StageDescriptor {
  id: StageId;
  title: string;
  /** tensor ids read (inputs of the layer or outputs of earlier stages); absent optional ones are left out */
  reads: readonly string[];
  writes: readonly string[];
  /** runs on the GEMM worker threads, which take every core: a UI host shows its picture before this starts */
  heavy?: boolean;
}

export interface CpuStageContext {
  /** every tensor known so far (inputs and earlier outputs); the stage adds its outputs */
  tensors: Map<string, Tensor>;
  /** one line each, shown with the stage (and used for the layout notes of scale tensors) */
  notes: string[];
  threads: number;
  signal?: AbortSignal;
}

/** A stage of one run: its descriptor, its cost for this run's shapes and routing, and its CPU reference. */
export interface PlannedStage extends StageDescriptor {
  cost: StageCost;
  /** extra lines for the trace (e.g. what the CPU kernel skips) */
  notes?: (backend: 'cpu' | 'cuda') => string[];
  runCpu(ctx: CpuStageContext): void | Promise<void>;
}

/** (row, col, value) of a 2-D view → value − float64 reference (NaN where there is none) */
export type ErrorFn = (row: number, col: number, value: number) => number;

/** One run's plan: the recipe's stages bound to these shapes and this routing. */
export interface RunPlan {
  stages: readonly PlannedStage[];
  /** how rows were grouped for the GEMMs: the permutation view and the padding figures */
  permutation: PermutationStats;
  /** packing of a packed (int32) scale tensor the run produced, so its layout descriptor can say what a word holds */
  packingOf?(name: string, t: Tensor): Packing | undefined;
  /** float64 reference for the error heatmap: the tensors it covers, and the error function of one */
  errorTensors?: readonly string[];
  errorOf?(name: string, tensors: ReadonlyMap<string, Tensor>): ErrorFn | undefined;
}

/** An integer option of a recipe: a CLI flag, a quick-pick input and a field of spec.recipe.options. */
export interface RecipeOption {
  id: string;
  /** CLI flag without dashes, e.g. 'max-m' */
  flag: string;
  label: string;
  description: string;
  min: number;
  /** the default for a spec (e.g. max_m from tokens and top-k) */
  defaultFor(spec: LayerSpec): number;
}

/** Seeded synthetic inputs; the weights may be written later (a UI host draws the first stages meanwhile). */
export interface SyntheticLayer {
  inputs: LayerTensors;
  /** write the deferred weights now (idempotent) */
  fillWeights?: () => void;
  /** write them in slices, yielding to the event loop */
  fillWeightsAsync?: () => Promise<void>;
  /** tensor ids still unwritten until fillWeights runs (left out of partial traces) */
  deferred?: ReadonlySet<string>;
}

/** How a run wants its synthetic inputs made. */
export interface SyntheticMode {
  /** write the FP8 weight codes only when SyntheticLayer.fillWeights is called (a UI host draws the first stages meanwhile) */
  defer: boolean;
  /**
   * the caller runs only some stages (kernels/neededStages.ts); inputs that are costly to make (the FP8 weights) may
   * be lazy tensors (kernels/lazyTensor.ts), created only when read. A recipe may ignore it.
   */
  lazy?: boolean;
  /**
   * the backend that reads the weights: the CPU engine takes large synthetic weights one GEMM batch of experts at a
   * time, the CUDA addon takes each weight tensor whole (kernels/expertPages.ts syntheticWeightsPaged decides). A
   * recipe may make whole tensors for both.
   */
  backend: WeightReader;
}

/** Tolerance of a stage tensor against the golden files / the float64 reference. */
export type Tolerance = { kind: 'exact' } | { kind: 'relL2'; max: number };

export interface RecipeSpec {
  id: string;
  label: string;
  /** one line for quick picks and --help */
  description: string;
  /** the project's page on it */
  doc: string;
  options: readonly RecipeOption[];
  /** the tensor ids a layer file of this recipe must hold, and those it may hold */
  inputNames: readonly string[];
  optionalInputNames?: readonly string[];
  /** does a layer file with these tensors (name → shape) belong to this recipe? */
  detect(shapes: ReadonlyMap<string, readonly number[]>): boolean;
  /** validated inputs from tensors read out of a file (names, dtypes, shapes; one-line errors naming the tensor) */
  inputsFromTensors(raw: Record<string, Tensor | undefined>): LayerTensors;
  /** the spec of a layer file: shapes from its tensors */
  specFromInputs(inputs: LayerTensors, base: Partial<LayerSpec>): LayerSpec;
  /** the layer's seeded synthetic inputs, made as `opts` asks (SyntheticMode) */
  synthetic(spec: LayerSpec, opts: SyntheticMode): SyntheticLayer;
  /** guards on the spec (and the inputs once known); architecture guards are added by the caller */
  checks(spec: LayerSpec, inputs?: LayerTensors): CheckResult[];
  /** check ids whose failure makes the layer impossible to compute (the pipeline refuses to run) */
  blocking: ReadonlySet<string>;
  plan(spec: LayerSpec, inputs: LayerTensors, env: { backend: 'cpu' | 'cuda' }): RunPlan;
  /**
   * The stage descriptors every plan of this recipe lists, in order: what a caller needs to know, before any input
   * exists, which stages (and so which tensors) a set of wanted tensors takes (kernels/neededStages.ts). Absent =
   * only known from a plan.
   */
  stages?: readonly StageDescriptor[];
  /** stage tensor → tolerance against the golden files (test/kernels/recipes/ iterates these) */
  tolerances: Readonly<Record<string, Tolerance>>;
  /**
   * `moe-inspect transform`: a layer file's tensors re-laid out as this recipe's kernels load them (weights
   * interleaved, scales cast and reordered), named like the inputs. Absent = the kernels take the layer as stored.
   */
  transformLayer?(raw: Readonly<Record<string, Tensor>>, opts: { arch: string }): { tensors: Record<string, Tensor>; notes: string[]; metadata?: Record<string, string> };
  /**
   * Peak memory and rough CPU time of a run from its spec alone (kernels/estimate.ts for the FP8 recipes): the CLI
   * refuses what cannot fit before generating anything. Absent = no estimate (the run is not guarded).
   * `tensors`: only these tensor ids will be allocated (a run of some stages, kernels/neededStages.ts); default all.
   */
  estimate?(spec: LayerSpec, opts: EstimateOptions): RunEstimate;
  /**
   * its tensors that are DeepGEMM 128×128 block scales, which an architecture may have rules for (SM100 packs only
   * powers of two); default: w13_weight_scale_inv and w2_weight_scale_inv. W4AFP8's group scales are not.
   */
  blockScaleTensors?: readonly string[];
  /** what its tensors are, for the hover */
  hoverHints?: readonly HoverHint[];
  /** false for a recipe that only transforms a layer (moe-inspect transform) and cannot run: the quick picks list it last and, picked, point to moe-inspect transform */
  runnable?: boolean;
  /** stage ids the bundled CUDA addon runs for this recipe; absent = CPU only (auto falls back, saying so) */
  cudaStages?: readonly StageId[];
}

/** How a recipe's tensor reads when hovered in a notebook or a paused debug session (extension/hover/classify.ts). */
export interface HoverHint {
  /** the hovered leaf name */
  name: RegExp;
  /** dtype as the probe reports it (torch/NumPy names: float8_e4m3fn, int32, …) or the engine's (f8e4m3fn, i32, …) */
  dtype?: string;
  rank?: number;
  /** an extra test on the shape (e.g. group scales vs block scales under one name) */
  shape?: (shape: readonly number[]) => boolean;
  text: string;
}

/** The option's value for a spec: the one given, else the recipe's default. */
export function optionValue(spec: LayerSpec, option: RecipeOption): number {
  return spec.recipe.options?.[option.id] ?? option.defaultFor(spec);
}
