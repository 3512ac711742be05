/**
 * One interface per GPU architecture (docs/layouts-and-stages.md §"Architectures"), modelled on DeepGEMM's
 * `heuristics/sm90.hpp` / `sm100.hpp`: everything the engine needs to know about an architecture lives in its
 * module, and generic code (checks, layouts, roofline, UI choices) asks the module instead of testing its name.
 */
import type { ScaleFormat } from '../spec';
import type { CheckResult } from '../trace';
import type { Tensor } from '../tensor';
import type { ScaleRole, ScaleTransform } from '../layout/transform';
import type { AddonGemmKernel } from './addonKernels';

/** A GPU model's peaks: the roofline a stage's time is measured against. */
export interface GpuModelSpec {
  id: string;
  label: string;
  /** bytes per second (read + written) */
  bandwidth: number;
  /** dense FP8 FLOP per second */
  flops: number;
  source: string;
  /** matches the CUDA device name this model describes (e.g. /H200/): how a run picks its roofline */
  deviceName?: RegExp;
}

/** What runs the grouped FP8 GEMM on this architecture, and what runs when that kernel is not available. */
export interface GemmChoice {
  /** the production kernel a user would run here, e.g. "DeepGEMM sm90_fp8_gemm_1d2d (wgmma)" */
  production: string;
  /** which of the bundled CUDA addon's kernels runs for this architecture (kernels/arch/addonKernels.ts) */
  addonKernelId: AddonGemmKernel;
  /** the same in words, for the trace */
  addonKernel: string;
  /** set when the addon's kernel is a stand-in for the production one: said in the trace next to the timing */
  addonCaveat?: string;
}

export interface ArchSpec {
  id: string;
  label: string;
  /** one line for quick picks and the settings enum */
  description: string;
  /** compute capability × 10 (90, 100): what the native addon is told */
  computeCapability: number;
  /** the activation-scale layout the kernels read, in words ("float32, MN-major, TMA-aligned") */
  scaleLayoutName: string;
  /** activation/weight scale formats this architecture's kernels take; the first is the default */
  scaleFormats: readonly ScaleFormat[];
  /** the scale layout the kernels read (SM90: float32 MN-major TMA-aligned; SM100: packed UE8M0) */
  transformScales(sf: Tensor<'f32'> | Tensor<'i32'>, role: ScaleRole): ScaleTransform;
  /** bytes read + written by re-laying out an (rows × groups) float32 activation scale tensor into the kernel layout */
  scaleRelayoutBytes(rows: number, groups: number): number;
  /** rows per tile of the masked grouped GEMM: its max_m must be a multiple (DeepEP low-latency path) */
  maskedRowBlock: number;
  gemm: GemmChoice;
  /** GPU models of this architecture; the first is the default roofline */
  gpus: readonly GpuModelSpec[];
  /** architecture-specific guards on a layer's scale format and weight scales */
  checks(ctx: ArchCheckContext): CheckResult[];
}

export interface ArchCheckContext {
  scaleFormat: ScaleFormat;
  /** weight scale tensors by name, when the inputs are known */
  weightScales?: Record<string, Tensor>;
}
