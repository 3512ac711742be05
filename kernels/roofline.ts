/**
 * Per-stage roofline (layout-spec.md §12): compulsory bytes and FLOPs of each stage from the layer's shapes and
 * routing, and the floor time on a chosen GPU model. The floor is always taken against the GPU model (the UI says
 * which backend measured the time); CPU runs additionally report their own GB/s and GFLOP/s in the stage notes.
 */
import type { Arch, GpuModel } from './spec';
import type { Roofline, StageId } from './trace';

export interface GpuPeak {
  model: GpuModel;
  /** bytes per second */
  bandwidth: number;
  /** dense FP8 FLOP per second */
  flops: number;
  source: string;
}

export const GPU_PEAKS: Readonly<Record<GpuModel, GpuPeak>> = {
  H100: { model: 'H100', bandwidth: 3.35e12, flops: 1979e12, source: 'H100 SXM5 80 GB datasheet: 3.35 TB/s HBM3, 1979 TFLOP/s dense FP8' },
  H200: { model: 'H200', bandwidth: 4.8e12, flops: 1979e12, source: 'H200 SXM 141 GB: 4.8 TB/s HBM3e, 1979 TFLOP/s dense FP8' },
  B200: { model: 'B200', bandwidth: 8e12, flops: 4500e12, source: 'B200 HGX: 8 TB/s, 4500 TFLOP/s dense FP8 (not checked against NVIDIA datasheet)' },
  'H100-measured': { model: 'H100-measured', bandwidth: 2.99e12, flops: 1395e12, source: 'measured on the project H100: copy 2.99 TB/s, FP8 GEMM 8192³ 1395 TFLOP/s' },
  'H200-measured': {
    model: 'H200-measured',
    bandwidth: 4.11e12,
    flops: 1302e12,
    source: 'measured on the project H200 (2026-12-02): device-to-device copy 4.11 TB/s, FP8 torch._scaled_mm 8192³ 1302 TFLOP/s',
  },
};

/**
 * The roofline model for a device as its backend names it (e.g. "NVIDIA H200", "NVIDIA H100 80GB HBM3"): the
 * measured model where the project has one for that chip, else its datasheet model; undefined for anything else
 * (a CPU, another GPU), where the caller keeps its configured model.
 */
export function gpuModelForDevice(device: string): GpuModel | undefined {
  const name = device.toUpperCase();
  // H200 before H100: no H100 name contains "H200", but test the more specific chip first anyway
  if (/\bH200\b/.test(name)) return 'H200-measured';
  if (/\bH100\b/.test(name)) return 'H100-measured';
  if (/\bB200\b/.test(name)) return 'B200';
  return undefined;
}

export interface StageCost {
  bytes: number;
  /** executed FLOPs (padding rows included) */
  flops: number;
  /** FLOPs on routed rows only */
  usefulFlops: number;
}

export interface CostInputs {
  /** tokens T */
  tokens: number;
  /** hidden H */
  hidden: number;
  /** intermediate I */
  intermediate: number;
  topk: number;
  /** global experts (expert_map length) */
  experts: number;
  /** routed pairs per local expert */
  counts: ArrayLike<number>;
  /** rows the GEMMs execute (exact M_sum on SM90) */
  mSum: number;
  /** allocated permute rows (worst-case bound in vLLM; = mSum here) */
  mSumBuffer?: number;
  arch: Arch;
  /** the activation scales needed a re-layout before GEMM1 (SM90 float row-major → MN-major) */
  scaleRelayout: boolean;
  /** the activation/requant kernel skips −1 rows (the CPU reference does): bytes on R rows instead of S */
  skipsPadding?: boolean;
  hasExpertMap?: boolean;
}

const align = (x: number, a: number): number => Math.ceil(x / a) * a;

export function stageCosts(c: CostInputs): Record<StageId, StageCost> {
  const T = c.tokens, H = c.hidden, I = c.intermediate, k = c.topk;
  const GH = Math.ceil(H / 128);
  const GI = Math.ceil(I / 128);
  let R = 0;
  let Ea = 0;
  for (let e = 0; e < c.counts.length; e++) {
    R += c.counts[e]!;
    if (c.counts[e]! > 0) Ea++;
  }
  const S = c.mSum;
  const Sbuf = c.mSumBuffer ?? S;
  const actRows = c.skipsPadding ? R : S;
  const transformBytes = !c.scaleRelayout
    ? 0
    : c.arch === 'sm100'
      ? 4 * T * GH + 4 * align(T, 4) * Math.ceil(GH / 4)
      : 4 * T * GH + 4 * align(T, 4) * GH;
  const mem = (bytes: number): StageCost => ({ bytes, flops: 0, usefulFlops: 0 });
  return {
    quantize: mem(2 * T * H + T * H + 4 * T * GH),
    transform_scales: mem(transformBytes),
    permute: mem(T * H + 4 * T * GH + 4 * T * k + (c.hasExpertMap ? 4 * c.experts : 0) + R * H + 4 * Sbuf * GH + 4 * Sbuf + 4 * T * k),
    gemm1: {
      bytes: S * H + 4 * S * GH + Ea * 2 * I * H + 4 * Ea * Math.ceil((2 * I) / 128) * GH + 2 * S * 2 * I,
      flops: 2 * S * 2 * I * H,
      usefulFlops: 2 * R * 2 * I * H,
    },
    activation: mem(2 * actRows * 2 * I + 2 * actRows * I),
    requantize: mem(2 * actRows * I + actRows * I + 4 * actRows * GI),
    gemm2: {
      bytes: S * I + 4 * S * GI + Ea * H * I + 4 * Ea * GH * GI + 2 * S * H,
      flops: 2 * S * H * I,
      usefulFlops: 2 * R * H * I,
    },
    unpermute: { bytes: 2 * R * H + 12 * T * k + 2 * T * H, flops: 2 * R * H, usefulFlops: 2 * R * H },
  };
}

/** Floor time of a stage on a GPU model and the measured time's distance from it. */
export function roofline(cost: StageCost, timeMs: number, gpu: GpuModel): Roofline {
  const peak = GPU_PEAKS[gpu];
  const tMem = (cost.bytes / peak.bandwidth) * 1e3;
  const tMath = (cost.flops / peak.flops) * 1e3;
  const floorMs = Math.max(tMem, tMath);
  return {
    floorMs,
    fraction: timeMs > 0 ? Math.min(1, floorMs / timeMs) : 0,
    bound: tMath > tMem ? 'compute' : 'memory',
    intensity: cost.bytes > 0 ? cost.flops / cost.bytes : 0,
  };
}

/** "12.3 GB/s, 4.56 GFLOP/s useful" for a measured stage (the CPU's own figures, beside the GPU roofline) */
export function throughputNote(cost: StageCost, timeMs: number, backend: string): string {
  if (!(timeMs > 0)) return `${backend}: too fast to time`;
  const gbs = cost.bytes / (timeMs * 1e6);
  const gf = cost.usefulFlops / (timeMs * 1e6);
  return `${backend}: ${gbs.toFixed(2)} GB/s${cost.usefulFlops > 0 ? `, ${gf.toFixed(2)} GFLOP/s useful` : ''} (measured)`;
}
