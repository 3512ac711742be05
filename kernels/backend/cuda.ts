/**
 * The CUDA backend: runs the whole layer in a child process (gpuWorker) that owns the addon, so a kernel fault or a
 * broken driver surfaces here as MoeError 'E_BACKEND' with the CUDA error text and never kills the caller.
 * Inputs travel cheaply: synthetic specs as the spec alone (the worker regenerates the identical tensors from the
 * seed), file specs as the path, anything else as the tensors themselves (structured clone).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendRun, ComputeBackend, RunOptions } from './types';
import type { LayerSpec } from '../spec';
import type { StageId } from '../trace';
import type { RunPlan } from '../recipes/types';
import type { Tensor } from '../tensor';
import { MoeError, type ErrorCode } from '../errors';
import { packageRoot } from '../native/addon';
import { tensorsFromWire, tensorsToWire } from '../native/marshal';
import { nativeArgs } from '../native/layerArgs';
import { isAddonGemmKernel } from '../arch/addonKernels';
import type { InputSource, WorkerRequest, WorkerResponse } from './gpuWorker';
import { checkRepeats, cudaStagesOf } from './addonRun';

export interface CudaBackendOptions {
  /** worker script (default: dist/gpuWorker.js beside the bundle, else kernels/backend/gpuWorker.ts through tsx) */
  workerPath?: string;
  /** how inputs reach the worker; 'auto' = spec for synthetic, path for files, tensors otherwise */
  inputTransport?: 'auto' | 'tensors';
}

interface WorkerEntry {
  file: string;
  execArgv: string[];
}

/** Where the worker is: bundled JS next to this bundle or in dist/, else the TypeScript source through tsx. */
export function locateWorker(explicit?: string): WorkerEntry {
  const tsxArgs = ['--import', 'tsx'];
  if (explicit) return { file: explicit, execArgv: explicit.endsWith('.ts') ? tsxArgs : [] };
  for (const js of [join(__dirname, 'gpuWorker.js'), join(packageRoot(), 'dist', 'gpuWorker.js')]) {
    if (existsSync(js) && !__filename.endsWith('.ts')) return { file: js, execArgv: [] };
  }
  const ts = join(__dirname, 'gpuWorker.ts');
  if (existsSync(ts)) return { file: ts, execArgv: tsxArgs };
  return { file: join(packageRoot(), 'dist', 'gpuWorker.js'), execArgv: [] };
}

function inputSource(inputs: Record<string, Tensor>, spec: LayerSpec, transport: 'auto' | 'tensors'): InputSource {
  if (transport === 'auto' && spec.source.kind === 'synthetic') return { kind: 'synthetic' };
  if (transport === 'auto' && spec.source.kind === 'file') return { kind: 'file', path: spec.source.path };
  return { kind: 'tensors', tensors: tensorsToWire(inputs as unknown as Record<string, never>) };
}

export class CudaBackend implements ComputeBackend {
  readonly name = 'cuda' as const;
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { child: ChildProcess; resolve: (r: WorkerResponse) => void; reject: (e: Error) => void }>();
  private readonly opts: CudaBackendOptions;

  constructor(opts: CudaBackendOptions = {}) {
    this.opts = opts;
  }

  private worker(): ChildProcess {
    if (this.child && this.child.connected) return this.child;
    const entry = locateWorker(this.opts.workerPath);
    const child = fork(entry.file, [], {
      execArgv: entry.execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on('message', (m: WorkerResponse) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      p.resolve(m);
      // after a CUDA fault the worker's context is unusable: retire it, the next request starts a fresh one
      if (!m.ok && m.fatal) {
        if (this.child === child) this.child = undefined;
        child.kill();
      }
    });
    const fail = (why: string): void => {
      if (this.child === child) this.child = undefined;
      const tail = stderr.trim().split('\n').slice(-5).join('\n');
      for (const [id, p] of this.pending) {
        if (p.child !== child) continue; // a request to a newer worker is not affected
        this.pending.delete(id);
        p.reject(new MoeError('E_BACKEND', `the GPU worker ${why}${tail ? `: ${tail}` : ''}`));
      }
    };
    child.on('exit', (code, signal) => fail(signal ? `was killed by ${signal}` : `exited with code ${code}`));
    child.on('error', (e) => fail(`could not run (${e.message})`));
    this.child = child;
    return child;
  }

  protected request(make: (id: number) => WorkerRequest, signal?: AbortSignal): Promise<WorkerResponse> {
    if (signal?.aborted) return Promise.reject(new MoeError('E_CANCELLED', 'GPU run cancelled before it started'));
    const child = this.worker();
    const id = this.nextId++;
    return new Promise<WorkerResponse>((resolve, reject) => {
      const onAbort = (): void => {
        this.pending.delete(id);
        reject(new MoeError('E_CANCELLED', 'GPU run cancelled'));
        // a kernel cannot be interrupted: the worker is stopped and the next run starts a fresh one
        child.kill();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        child,
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      child.send(make(id), (err) => {
        if (err && this.pending.has(id)) {
          this.pending.delete(id);
          reject(new MoeError('E_BACKEND', `could not send the layer to the GPU worker: ${err.message}`));
        }
      });
    });
  }

  protected static unwrap(r: WorkerResponse): Extract<WorkerResponse, { ok: true }> {
    if (r.ok) return r;
    throw new MoeError(r.error.code as ErrorCode, r.error.message, 'tensor' in r.error ? r.error.tensor : undefined);
  }

  async run(raw: Record<string, Tensor>, spec: LayerSpec, plan: RunPlan, opts: RunOptions = {}): Promise<BackendRun> {
    // the addon runs the stages its recipe lists in cudaStages (selectBackend refuses recipes without any)
    const stages = cudaStagesOf(spec, plan);
    const inputs = raw;
    const last = plan.stages.at(-1)?.id ?? 'setup';
    const repeats = checkRepeats(opts.repeats ?? 5);
    opts.onProgress?.('setup', 0, 'running the layer on the GPU');
    const source = inputSource(inputs, spec, opts.inputsGiven ? 'tensors' : (this.opts.inputTransport ?? 'auto'));
    // tensors given by the caller are checked here, before anything is sent (the worker and the addon check again)
    if (source.kind === 'tensors') nativeArgs(inputs, spec, stages, repeats);
    const r = CudaBackend.unwrap(await this.request((id) => ({ type: 'run', id, spec, source, stages, repeats, fetch: opts.stageTensors !== false }), opts.signal));
    const run = r.run;
    if (!run) throw new MoeError('E_BACKEND', 'the GPU worker answered without a result');
    opts.onProgress?.(last, 1, 'done');
    return {
      tensors: tensorsFromWire(run.tensors),
      timesMs: run.timesMs as Record<StageId, number>,
      device: run.device,
      notes: run.notes,
      ...(isAddonGemmKernel(run.gemmKernel) ? { gemmKernel: run.gemmKernel } : {}),
    };
  }

  /** Free and total device memory as the worker's context sees it (tests check it stays flat). */
  async memInfo(): Promise<{ free: number; total: number }> {
    const r = CudaBackend.unwrap(await this.request((id) => ({ type: 'memInfo', id })));
    if (!r.memInfo) throw new MoeError('E_BACKEND', 'the GPU worker answered without memory figures');
    return r.memInfo;
  }

  dispose(): void {
    const c = this.child;
    this.child = undefined;
    if (c && c.exitCode === null) {
      c.disconnect?.();
      c.kill();
    }
  }
}
