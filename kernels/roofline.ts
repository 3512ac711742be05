/**
 * Per-stage roofline (docs/layouts-and-stages.md §"Roofline"): a stage's floor time on a GPU model is
 * max(bytes / bandwidth, FLOPs / peak), from the cost its recipe declares. The GPU models live in the architecture
 * modules (kernels/arch/). The floor is always taken against a GPU model (the UI says which backend measured the
 * time); CPU runs additionally report their own GB/s and GFLOP/s in the stage notes.
 */
import type { GpuModel } from './spec';
import type { Roofline } from './trace';
import type { StageCost } from './recipes/types';
import { gpuModelById, type GpuModelSpec } from './arch/index';

export type { StageCost } from './recipes/types';

/** Floor time of a stage on a GPU model (an id, or a model's peaks such as the CPU's) and the measured time's distance from it. */
export function roofline(cost: StageCost, timeMs: number, gpu: GpuModel | GpuModelSpec): Roofline {
  const peak = typeof gpu === 'string' ? gpuModelById(gpu) : gpu;
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
