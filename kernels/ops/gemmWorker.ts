/**
 * Worker-thread entry of the grouped GEMM (bundled to dist/gemmWorker.js; under tsx the .ts file is loaded through
 * tsx's CJS hook, see spawnWorker in gemm.ts). Each message is one GemmJob over shared memory (the worker pulls
 * units from the job's atomic counter until none are left) or a CodesJob (synthetic weight codes,
 * kernels/syntheticCodesParallel.ts: fills pulled the same way), and is answered {ok}.
 */
import { parentPort } from 'node:worker_threads';
import { type GemmJob } from './gemmKernel';
import { runUnits } from './gemmUnits';
import { type CodesJob, runCodesJob } from '../syntheticCodes';

parentPort?.on('message', (job: GemmJob | CodesJob) => {
  try {
    if ('kind' in job && job.kind === 'codes') runCodesJob(job);
    else runUnits(job as GemmJob);
    parentPort!.postMessage({ ok: true });
  } catch (e) {
    parentPort!.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
  }
});
