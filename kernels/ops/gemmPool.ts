/**
 * The worker-thread pool behind the grouped GEMM: one job at a time, shared by every caller, unref'd so a CLI exits,
 * cancellable through the job's control word. The math lives in gemmKernel.ts.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { MoeError } from '../errors';
import { type GemmJob } from './gemmKernel';
import { runUnits } from './gemmUnits';

export interface GemmOptions {
  /** worker threads; default os.availableParallelism(); 1 = compute on the calling thread */
  threads?: number;
  signal?: AbortSignal;
  /** 'scalar': the TypeScript kernel even where WebAssembly SIMD runs (the bench's before/after, the tests' second opinion) */
  kernel?: 'auto' | 'scalar';
}


interface PoolWorker {
  worker: Worker;
  pending?: { resolve: () => void; reject: (e: Error) => void };
}

let pool: PoolWorker[] = [];
let queue: Promise<unknown> = Promise.resolve();

/** The bundled worker (dist/gemmWorker.js beside the bundle), or the TypeScript source through tsx's CJS hook. */
function spawnWorker(): Worker {
  const js = join(__dirname, 'gemmWorker.js');
  if (existsSync(js)) return new Worker(js);
  const ts = join(__dirname, 'gemmWorker.ts');
  if (existsSync(ts)) {
    const tsx = createRequire(__filename).resolve('tsx/cjs');
    return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(ts)});`, { eval: true });
  }
  throw new MoeError('E_BACKEND', `grouped GEMM: worker entry not found (looked for ${js} and ${ts}); run the build (npm run build)`);
}

function dropPool(): void {
  for (const p of pool) void p.worker.terminate();
  pool = [];
}

function ensurePool(n: number): PoolWorker[] {
  while (pool.length < n) {
    const pw: PoolWorker = { worker: spawnWorker() };
    pw.worker.unref();
    pw.worker.on('message', (m: { ok: boolean; error?: string }) => {
      const p = pw.pending;
      pw.pending = undefined;
      pw.worker.unref();
      if (!p) return;
      if (m.ok) p.resolve();
      else p.reject(new MoeError('E_BACKEND', `grouped GEMM worker failed: ${m.error ?? 'unknown error'}`));
    });
    pw.worker.on('error', (err) => {
      const p = pw.pending;
      pw.pending = undefined;
      pool = pool.filter((x) => x !== pw);
      p?.reject(new MoeError('E_BACKEND', `grouped GEMM worker crashed: ${err.message}`));
    });
    pool.push(pw);
  }
  return pool.slice(0, n);
}

/** Terminates the worker threads (tests and the CLI call this to exit promptly; they are unref'd anyway). */
export function shutdownGemmWorkers(): void {
  dropPool();
}

/** Posts one message (a GemmJob, or another job gemmWorker.ts knows) to `threads` workers; `control[1]` is the cancel flag. */
function runOnWorkers(job: object, control: Int32Array, threads: number): Promise<void> {
  const workers = ensurePool(threads);
  return Promise.all(
    workers.map(
      (pw) =>
        new Promise<void>((resolve, reject) => {
          pw.pending = { resolve, reject };
          pw.worker.ref();
          pw.worker.postMessage(job);
        }),
    ),
  ).then(
    () => undefined,
    (e: unknown) => {
      // a crashed or failed worker leaves the others mid-job: stop them and start fresh next time
      Atomics.store(control, 1, 1);
      dropPool();
      throw e;
    },
  );
}

/** Runs a job on the pool's workers, after any job already queued (one job at a time, whatever its kind). */
export function runOnPool(job: object, control: Int32Array, threads: number): Promise<void> {
  const mine = queue.then(() => runOnWorkers(job, control, threads));
  queue = mine.catch(() => undefined);
  return mine;
}

export async function execute(job: GemmJob, opts: GemmOptions): Promise<void> {
  const signal = opts.signal;
  if (signal?.aborted) throw new MoeError('E_CANCELLED', 'grouped GEMM cancelled before it started');
  const threads = Math.max(1, Math.floor(opts.threads ?? availableParallelism()));
  const onAbort = (): void => {
    Atomics.store(job.control, 1, 1);
  };
  signal?.addEventListener('abort', onAbort);
  try {
    if (threads === 1) runUnits(job);
    else {
      // one job at a time on the shared pool; a second caller waits its turn
      await runOnPool(job, job.control, threads);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (Atomics.load(job.control, 1) !== 0 || signal?.aborted) throw new MoeError('E_CANCELLED', 'grouped GEMM cancelled');
}

// ---------------------------------------------------------------------------------------------------------------
// argument checks and preparation shared by both layouts
