/**
 * The synthetic FP8 weight codes of several experts at once, on the GEMM's worker threads (each expert has its own
 * seed, so the fills are independent and any split gives the same bytes as fillCodes one after the other).
 */
import { availableParallelism } from 'node:os';
import { type CodesJob, fillCodes } from './syntheticCodes';
import { runOnPool } from './ops/gemmPool';
import { sharedBytes } from './ops/sharedMemory';

const onSharedMemory = (a: Uint8Array): boolean => a.buffer instanceof SharedArrayBuffer;

/**
 * Fills each dst with fillCodes(dst, seed), the fills shared out among `threads` worker threads (default
 * os.availableParallelism()). Every dst must lie on a SharedArrayBuffer (as synthetic weights do, kernels/ops/
 * sharedMemory.ts) for the workers to write it; otherwise, or with one thread, the fills run here, one by one.
 */
export async function fillCodesParallel(fills: { dst: Uint8Array; seed: number }[], threads = availableParallelism()): Promise<void> {
  const n = Math.max(1, Math.min(Math.floor(threads), fills.length));
  if (n === 1 || !fills.every((f) => onSharedMemory(f.dst))) {
    for (const f of fills) fillCodes(f.dst, f.seed);
    return;
  }
  const control = new Int32Array(sharedBytes(8).buffer);
  // largest first: the last fills handed out are the small ones, so the threads finish together
  const job: CodesJob = { kind: 'codes', fills: [...fills].sort((a, b) => b.dst.length - a.dst.length), control };
  await runOnPool(job, control, n);
}
