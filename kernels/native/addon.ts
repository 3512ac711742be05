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

export interface NativeLayerConfig {
  M: number;
  K: number;
  N: number;
  E: number;
  eGlobal?: number;
  topk: number;
  /** 90: float32 MN-major A scales; 100: packed UE8M0 */
  arch: 90 | 100;
  quant: 'vllm' | 'deepgemm';
  scaleFormat: 'f32' | 'ue8m0';
  activation: 'silu' | 'swiglu';
  clampLimit?: number;
  routerWeight: 'reduce' | 'input' | 'activation';
  repeats?: number;
}

export interface NativeLayerTensors {
  hidden_states: Uint16Array | Float32Array;
  topk_ids: Int32Array | BigInt64Array;
  topk_weights: Float32Array;
  w13_weight: Uint8Array;
  w13_weight_scale_inv: Float32Array;
  w2_weight: Uint8Array;
  w2_weight_scale_inv: Float32Array;
  expert_map?: Int32Array;
}

export interface NativeLayerResult {
  mSum: number;
  timesMs: Record<StageId, number>;
  tensors: {
    a1q: Uint8Array;
    a1q_scale: Float32Array;
    /** SM90: MN-major f32 storage ((G−1)·Ma + M); SM100: packed i32 storage (Ma·⌈G/4⌉) */
    a1q_scale_layout: Float32Array | Int32Array;
    expert_counts: Int32Array;
    m_indices: Int32Array;
    inv_perm: Int32Array;
    a1q_permuted: Uint8Array;
    /** (M_sum, G) MN-major storage, column stride M_sum */
    a1q_scale_permuted_mn: Float32Array;
    mm1_out: Uint16Array;
    act_out: Uint16Array;
    a2q: Uint8Array;
    /** (M_sum, N/128) MN-major storage, column stride M_sum */
    a2q_scale_mn: Float32Array;
    a2q_scale_packed?: Int32Array;
    mm2_out: Uint16Array;
    output: Uint16Array;
  };
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
  runLayer(cfg: NativeLayerConfig, tensors: NativeLayerTensors): NativeLayerResult;
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
  benchGemm(args: { rows: number[]; N: number; K: number; scaleLayout?: 'sm90' | 'sm100'; repeats?: number }): {
    ms: number;
    mSum: number;
    usefulFlops: number;
    executedFlops: number;
  };
  benchQuantize(args: { M: number; K: number; repeats?: number }): { ms: number; bytes: number };
  benchLayer(cfg: NativeLayerConfig & { seed?: number }): { mSum: number; timesMs: Record<StageId, number> };
  faultForTest(): void;
}

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
