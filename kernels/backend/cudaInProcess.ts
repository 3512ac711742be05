/**
 * The CUDA backend in the caller's own process, for the CLI: one layer per process, so the addon can run the tensors
 * the CLI already read and validated — no GPU worker that reads the layer file again, no 1.4 GB of stage tensors sent
 * back through a pipe (a DeepSeek-V3 EP8 layer file: ~4 s of the worker path's 9 s, 2026-12-02). Kernel errors still
 * come back as MoeError 'E_BACKEND' with the CUDA text (the addon throws them). The editor keeps the worker
 * (kernels/backend/cuda.ts): there a device fault must never take the extension host down, and a run after a fault
 * needs a fresh CUDA context. The probe still loads the addon in a child process first (kernels/backend/probe.ts),
 * so a broken driver that crashes the addon is reported, not suffered.
 */
import type { BackendRun, ComputeBackend, RunOptions } from './types';
import type { LayerSpec } from '../spec';
import type { RunPlan } from '../recipes/types';
import type { Tensor } from '../tensor';
import { MoeError } from '../errors';
import { loadAddon, type NativeAddon } from '../native/addon';
import { isAddonGemmKernel } from '../arch/addonKernels';
import { addonDevice, checkRepeats, cudaStagesOf, runOnAddon } from './addonRun';

export class InProcessCudaBackend implements ComputeBackend {
  readonly name = 'cuda' as const;
  private addon: { a: NativeAddon; device: string } | undefined;

  /**
   * `device`: the device as the driver probe (a child process, kernels/backend/probe.ts) named it; given, the addon
   * is not asked again (its probe reads every device's properties: ~0.1 s on the H200 machine)
   */
  constructor(private readonly device?: string) {}

  private loaded(): { a: NativeAddon; device: string } {
    if (this.addon) return this.addon;
    const a = loadAddon();
    this.addon = { a, device: this.device ?? addonDevice(a) };
    return this.addon;
  }

  async run(inputs: Record<string, Tensor>, spec: LayerSpec, plan: RunPlan, opts: RunOptions = {}): Promise<BackendRun> {
    const stages = cudaStagesOf(spec, plan);
    const repeats = checkRepeats(opts.repeats ?? 5);
    // a kernel cannot be interrupted once it runs: cancelling is honoured up to the start
    if (opts.signal?.aborted) throw new MoeError('E_CANCELLED', 'GPU run cancelled before it started');
    opts.onProgress?.('setup', 0, 'running the layer on the GPU');
    const { a, device } = this.loaded();
    const r = runOnAddon(a, inputs, spec, stages, repeats, opts.stageTensors !== false);
    opts.onProgress?.(plan.stages.at(-1)?.id ?? 'setup', 1, 'done');
    return { tensors: r.tensors, timesMs: r.timesMs, device, notes: r.notes, ...(isAddonGemmKernel(r.gemmKernel) ? { gemmKernel: r.gemmKernel } : {}) };
  }
}
