/**
 * Finding and loading the CUDA addon (build/Release/moe_native.node) and its typed surface. Only the GPU worker
 * and the probe's child process load it: a broken driver or a kernel fault must never take the caller down.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { StageId } from '../trace';

export const ADDON_FILE = 'moe_native.node';

/** What scripts/build-native.mjs recorded about the last build (absent when it never ran). */
export interface NativeBuildInfo {
  built: boolean;
  reason: string;
  date?: string;
}

export interface NativeDevice {
  name: string;
  major: number;
  minor: number;
  sms: number;
  memoryBytes: number;
  l2Bytes: number;
}

export interface NativeProbe {
  runtimeVersion: number;
  driverVersion: number;
  errorCode: number;
  errorName: string;
  errorString: string;
  count: number;
  devices: NativeDevice[];
}

/** What every recipe's layer run is told: the plan, the architecture and the numeric recipe. */
interface NativeLayerCommon {
  /** the plan's stage ids, in the order they run (RunPlan.stages); the addon refuses ids it does not implement */
  stages: readonly StageId[];
  K: number;
  N: number;
  E: number;
  /** the spec architecture's compute capability × 10 (ArchSpec.computeCapability): 90 = float32 MN-major A scales, 100 = packed UE8M0 */
  arch: number;
  quant: 'vllm' | 'deepgemm';
  scaleFormat: 'f32' | 'ue8m0';
  activation: 'silu' | 'swiglu';
  clampLimit?: number;
  routerWeight: 'reduce' | 'input' | 'activation';
  repeats?: number;
}

/** The contiguous recipe: hidden_states (M, K), top-k routing, optional expert map. */
export interface NativeContiguousConfig extends NativeLayerCommon {
  recipe: 'contiguous';
  M: number;
  eGlobal?: number;
  topk: number;
}

/** The masked recipe: hidden_states (E, maxM, K) and masked_m (E). */
export interface NativeMaskedConfig extends NativeLayerCommon {
  recipe: 'masked';
  maxM: number;
}

/**
 * The W4AFP8 recipe (kernels/recipes/w4afp8/native.ts builds it): its own sizes (H, I_p per GPU), SGLang's input
 * names, and the TP/EP plan tensor (planRows × planCols int32) that load_scales hands back.
 */
export interface NativeW4afp8Config {
  recipe: 'w4afp8';
  stages: readonly StageId[];
  /** the spec architecture's compute capability × 10: the addon's W4AFP8 kernel is SM90 (wgmma) only */
  arch: number;
  M: number;
  H: number;
  Ip: number;
  E: number;
  eGlobal?: number;
  topk: number;
  planRows: number;
  planCols: number;
  repeats?: number;
}

/** torchao FP8 training (kernels/recipes/torchao-fp8-training/native.ts builds it): Mbuf padded buffer rows, S group rows. */
export interface NativeTorchaoConfig {
  recipe: 'torchao-fp8-training';
  stages: readonly StageId[];
  M: number;
  K: number;
  N: number;
  E: number;
  Mbuf: number;
  S: number;
  arch: number;
  repeats?: number;
}

export type NativeLayerConfig = NativeContiguousConfig | NativeMaskedConfig | NativeW4afp8Config | NativeTorchaoConfig;

/** Flat row-major inputs under their DESIGN.md names (hidden_states, topk_ids or masked_m, the weights, …). */
export type NativeLayerTensors = Record<string, Uint8Array | Uint16Array | Int32Array | BigInt64Array | Float32Array>;

/** One stage tensor as the addon returns it: its storage with the strides that address it. */
export interface NativeTensor {
  dtype: 'f8e4m3fn' | 'bf16' | 'f32' | 'i32';
  shape: number[];
  strides: number[];
  /** a kernel layout (the *_scale_layout tensors): kept as strided storage; anything else is made row-major */
  kernelLayout: boolean;
  data: Uint8Array | Uint16Array | Float32Array | Int32Array;
}

export interface NativeLayerResult {
  /** rows the GEMMs ran over: M_sum (contiguous) or E·max_m (masked) */
  rows: number;
  /** per stage id of the plan */
  timesMs: Record<StageId, number>;
  /** the grouped-GEMM kernel that really ran (wgmma only for an SM90 spec on an sm_90 device) */
  gemmKernel: 'sm90-tma' | 'wgmma' | 'mma.sync';
  /** outputs of the stages that ran, under their DESIGN.md names */
  tensors: Record<string, NativeTensor>;
}

export interface NativeQuantizeArgs {
  x: Uint16Array | Float32Array;
  M: number;
  K: number;
  quant: 'vllm' | 'deepgemm';
  scaleFormat: 'f32' | 'ue8m0';
  scaleLayout?: 'row-major' | 'mn-major';
}

export interface NativeAddon {
  probe(): NativeProbe;
  memInfo(): { free: number; total: number };
  /** `fetch: false`: the stage tensors stay on the device (times only); `tensors` is then empty */
  runLayer(cfg: NativeLayerConfig & { fetch?: boolean }, tensors: NativeLayerTensors): NativeLayerResult;
  quantize(args: NativeQuantizeArgs): { q: Uint8Array; scales: Float32Array; mnStride: number };
  quantizeWeights(args: { w: Uint16Array | Float32Array; E: number; R: number; C: number; quant: 'vllm' | 'deepgemm'; scaleFormat: 'f32' | 'ue8m0' }): {
    q: Uint8Array;
    scales: Float32Array;
  };
  transformScales(args: { sf: Float32Array; B?: number; M: number; G: number; arch: 90 | 100 }): Float32Array | Int32Array;
  /** DeepEP's masked layout from quantized rows and routing (as kernels/ops/permute.ts maskedLayout) */
  maskedLayout(args: {
    q: Uint8Array;
    scales: Float32Array;
    topk_ids: Int32Array | BigInt64Array;
    expert_map?: Int32Array;
    M: number;
    K: number;
    E: number;
    eGlobal?: number;
    topk: number;
    maxM?: number;
  }): { a: Uint8Array; scale: Float32Array; maskedM: Int32Array; invPerm: Int32Array };
}

/** The contiguous layer as benchLayer takes it: every stage, inputs generated on the device. */
export type NativeBenchLayerConfig = Omit<NativeContiguousConfig, 'recipe' | 'stages'> & { seed?: number };

/**
 * Exports for development only, present when the loading process sets MOE_NATIVE_DEV=1 (the GPU tests,
 * `npm run bench:gpu`): benchmarks and a trapping kernel.
 */
export interface NativeDevAddon extends NativeAddon {
  /** contiguous (rows per expert in 128-aligned segments), or masked when maxM is given (rows = masked_m; kernel
   *  'recipe': the GEMM the masked recipe runs, 'tma': the SM90 TMA kernel's masked variant) */
  benchGemm(args: { rows: number[]; N: number; K: number; scaleLayout?: 'sm90' | 'sm100'; repeats?: number; maxM?: number; kernel?: 'recipe' | 'tma' }): {
    ms: number;
    mSum: number;
    usefulFlops: number;
    executedFlops: number;
    /** masked only: the kernel that ran (sm90-tma, wgmma, mma.sync) */
    kernel?: string;
  };
  benchQuantize(args: { M: number; K: number; repeats?: number }): { ms: number; bytes: number };
  benchLayer(cfg: NativeBenchLayerConfig): { mSum: number; timesMs: Record<StageId, number> };
  faultForTest(): void;
}

/** The environment variable that makes the addon export NativeDevAddon's functions. */
export const DEV_EXPORTS_ENV = 'MOE_NATIVE_DEV';

/** The repository (or installed extension) root: the nearest folder above `from` holding package.json. */
export function packageRoot(from: string = __dirname): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return resolve(from);
    dir = up;
  }
}

/** $MOE_NATIVE_ADDON, else build/Release/moe_native.node under the package root. */
export function addonPath(): string {
  return process.env.MOE_NATIVE_ADDON ?? join(packageRoot(), 'build', 'Release', ADDON_FILE);
}

export function buildInfo(path = addonPath()): NativeBuildInfo | undefined {
  const p = join(dirname(path), 'native-build.json');
  if (!existsSync(p)) return undefined;
  try {
    const j = JSON.parse(readFileSync(p, 'utf8')) as Partial<NativeBuildInfo>;
    return { built: j.built === true, reason: String(j.reason ?? ''), ...(j.date ? { date: j.date } : {}) };
  } catch {
    return undefined;
  }
}

/** Why the addon file is missing, in words a user can act on. */
export function missingAddonReason(path = addonPath()): string {
  const info = buildInfo(path);
  if (info && !info.built) return `addon not built (${info.reason})`;
  return `addon not built (${path} is missing; run \`npm run build:native\` with the CUDA toolkit installed)`;
}

/** Loads the addon in this process. Call only from a process that may die (the worker, the probe child). */
export function loadAddon(path = addonPath()): NativeAddon {
  const req = createRequire(__filename);
  return req(path) as NativeAddon;
}

/** Loads the addon with its development exports (sets MOE_NATIVE_DEV=1 first: the addon reads it when it loads). */
export function loadDevAddon(path = addonPath()): NativeDevAddon {
  process.env[DEV_EXPORTS_ENV] = '1';
  const a = loadAddon(path) as Partial<NativeDevAddon>;
  if (typeof a.benchGemm !== 'function')
    throw new Error(`the addon at ${path} was loaded earlier in this process without ${DEV_EXPORTS_ENV}=1: its development exports are missing`);
  return a as NativeDevAddon;
}
