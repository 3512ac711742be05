/**
 * The CPU's own roofline (docs/layouts-and-stages.md §12): a CPU run's stages are measured against what this
 * machine can do — copy bandwidth and float64 multiply-add rate on every core — measured once and cached in the
 * temp folder per CPU model and core count, so the panel says "40 % of this CPU's floor" instead of "0.0008 % of an
 * H100's". The GPU floor is still reported beside it ("on an H100 this stage would take ≥ …").
 */
import { cpus, availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { GpuModelSpec } from './arch/types';
import { kernelWasm } from './ops/gemmWasmModule';

const COPY_BYTES = 1 << 26;
const FMA_STEPS = 1 << 22;

/** best-of-3 copy of a 64 MB buffer, bytes read + written per second (one thread: the CPU kernels' memory passes are single-threaded) */
function measureCopy(): number {
  const src = new Float64Array(COPY_BYTES / 8).fill(1.5);
  const dst = new Float64Array(src.length);
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    dst.set(src);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * COPY_BYTES) / (best / 1e3);
}

/**
 * float64 multiply-adds per second on every core: the faster of the WebAssembly GEMM's own inner loop from L1 (f64x2
 * loads, multiplies and adds: kernels/wasm/peakRate.ts) and four scalar chains (the TypeScript fallback kernel's).
 * With the scalar figure alone (a quarter of the SIMD one here), the GEMM showed as "100 %" of a floor it beat.
 */
function measureFma(): { flops: number; how: string } {
  const scalar = measureScalarFma();
  const simd = measureSimdFma();
  return simd > scalar ? { flops: simd * availableParallelism(), how: 'WebAssembly SIMD f64x2' } : { flops: scalar * availableParallelism(), how: 'scalar' };
}

function measureSimdFma(): number {
  const k = kernelWasm();
  if (!('module' in k)) return 0;
  const run = (new WebAssembly.Instance(k.module, {}).exports as { gemmInnerLoop?: (steps: number) => number }).gemmInnerLoop;
  if (!run) return 0;
  const steps = FMA_STEPS / 2;
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    if (!(run(steps) > 0)) throw new Error('unreachable: keeps the loop alive');
    best = Math.min(best, performance.now() - t0);
  }
  return (32 * steps) / (best / 1e3);
}

/** four independent scalar float64 multiply-add chains, one core */
function measureScalarFma(): number {
  let a = 1, b = 1.1, c = 1.2, d = 1.3;
  const m = 0.999999, k = 1e-7;
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < FMA_STEPS; i++) {
      a = a * m + k;
      b = b * m + k;
      c = c * m + k;
      d = d * m + k;
    }
    best = Math.min(best, performance.now() - t0);
  }
  if (!(a + b + c + d > 0)) throw new Error('unreachable: keeps the loop alive');
  return (8 * FMA_STEPS) / (best / 1e3);
}

let cached: GpuModelSpec | undefined;

export function cpuPeaks(): GpuModelSpec {
  if (cached) return cached;
  const model = cpus()[0]?.model?.trim() || 'unknown CPU';
  const cores = availableParallelism();
  // v2: the compute peak measured with the GEMM's SIMD instructions (an older cache holds the scalar figure)
  const file = join(tmpdir(), `moe-inspector-cpu-peaks-v2-${Buffer.from(`${model}|${cores}`).toString('base64url').slice(0, 40)}.json`);
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as { bandwidth: number; flops: number; how: string; measuredAt: string };
    if (c.bandwidth > 0 && c.flops > 0 && typeof c.how === 'string') return (cached = spec(model, cores, c.bandwidth, c.flops, c.how, c.measuredAt));
  } catch {
    // not measured yet on this machine (or an unreadable cache): measure below
  }
  const bandwidth = measureCopy();
  const { flops, how } = measureFma();
  const measuredAt = new Date().toISOString();
  try {
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ bandwidth, flops, how, measuredAt }));
    renameSync(tmp, file);
  } catch {
    // a read-only temp folder only costs a re-measurement next time
  }
  return (cached = spec(model, cores, bandwidth, flops, how, measuredAt));
}

function spec(model: string, cores: number, bandwidth: number, flops: number, how: string, measuredAt: string): GpuModelSpec {
  return {
    id: 'cpu',
    label: `${model} (${cores} cores)`,
    bandwidth,
    flops,
    source: `measured on this CPU at ${measuredAt}: copy ${(bandwidth / 1e9).toFixed(1)} GB/s, float64 multiply-add (${how}) ${(flops / 1e9).toFixed(1)} GFLOP/s on ${cores} cores`,
  };
}
