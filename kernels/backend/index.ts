/**
 * Backend selection: 'cpu' → the TypeScript CPU backend; 'auto' → CUDA when the probe says it is usable, else CPU
 * with the probe's reason; 'cuda' → CUDA or a MoeError 'E_BACKEND' carrying the reason. The CUDA module is loaded
 * only when the probe succeeds, so a machine without the addon never touches it.
 */
import type { BackendChoice, LayerSpec } from '../spec';
import type { ComputeBackend } from './types';
import type { RecipeSpec } from '../recipes/types';
import { MoeError } from '../errors';
import { cudaRefusal } from './cudaSupport';
import { probeCuda } from './probe';
import { CpuBackend } from './cpu';

export interface SelectedBackend {
  backend: ComputeBackend;
  /** why this backend, in words for the UI (e.g. "CUDA unavailable: … — using the CPU reference") */
  reason: string;
}

export interface SelectOptions {
  /**
   * Run CUDA in this process (kernels/backend/cudaInProcess.ts) instead of a GPU worker process: for a caller that
   * runs one layer and exits (the CLI), where a device fault ends the command anyway.
   */
  cudaInProcess?: boolean;
}

export async function selectBackend(choice: BackendChoice, recipe?: RecipeSpec, spec?: LayerSpec, opts: SelectOptions = {}): Promise<SelectedBackend> {
  if (choice === 'cpu') return { backend: new CpuBackend(), reason: 'CPU backend requested' };
  if (choice !== 'auto' && choice !== 'cuda')
    throw new MoeError('E_SPEC', `backend must be 'auto', 'cpu' or 'cuda', got '${String(choice)}'`);
  const refused = cudaRefusal(recipe, spec);
  if (refused) {
    if (choice === 'cuda') throw new MoeError('E_BACKEND', `CUDA backend requested but ${refused}; run it with --backend cpu`);
    return { backend: new CpuBackend(), reason: `${refused} — using the CPU reference` };
  }
  const probe = await probeCuda();
  if (probe.ok) {
    try {
      const backend = opts.cudaInProcess ? new (await import('./cudaInProcess')).InProcessCudaBackend(probe.device) : new (await import('./cuda')).CudaBackend();
      return { backend, reason: `${probe.reason}${probe.device ? ` (${probe.device})` : ''}` };
    } catch (e) {
      const why = `CUDA probe succeeded but the CUDA backend failed to load: ${e instanceof Error ? e.message : String(e)}`;
      if (choice === 'cuda') throw new MoeError('E_BACKEND', why);
      return { backend: new CpuBackend(), reason: `${why} — using the CPU reference` };
    }
  }
  if (choice === 'cuda') throw new MoeError('E_BACKEND', `CUDA backend requested but unavailable: ${probe.reason}`);
  return { backend: new CpuBackend(), reason: `${probe.reason} — using the CPU reference` };
}
