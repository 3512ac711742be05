/**
 * The grouped GEMM's work loop (docs/layouts-and-stages.md §5): units of (expert, rows, ≤ 128 output columns) handed
 * out through an atomic counter over SharedArrayBuffers, so the calling thread and the worker threads
 * (gemmWorker.ts) run the same code. A unit runs on the WebAssembly SIMD kernel when the job carries it, else on the
 * scalar kernel; both give the naive loop's bits, so any split of the work gives the same output.
 */
import { computeUnit, type GemmJob, type Scratch } from './gemmKernel';
import { wasmUnits } from './gemmWasm';

/** Runs units until the counter passes the end or the cancel flag is set. Used by the workers and inline. */
export function runUnits(job: GemmJob): void {
  const nUnits = job.units.length / 5;
  const wasm = job.wasm ? wasmUnits(job.wasm) : undefined;
  const scratch: Scratch = { aF: new Float64Array(0), bF: new Float64Array(0) };
  const u5 = job.units;
  for (;;) {
    if (Atomics.load(job.control, 1) !== 0) return;
    const u = Atomics.add(job.control, 0, 1);
    if (u >= nUnits) return;
    const o = u * 5;
    if (wasm) wasm.run(job, u5[o]!, u5[o + 1]!, u5[o + 2]!, u5[o + 3]!, u5[o + 4]!);
    else computeUnit(job, u5[o]!, u5[o + 1]!, u5[o + 2]!, u5[o + 3]!, u5[o + 4]!, scratch);
  }
}
