/**
 * The TypeScript CPU backend: runs a recipe's planned stages with their reference kernels (kernels/ops via
 * kernels/recipes/<id>/stages.ts), timing each with performance.now. Heavy stages (the grouped GEMMs) use worker
 * threads; everything else runs on the calling thread. Cancellation is checked between stages and inside the GEMMs;
 * it surfaces as MoeError 'E_CANCELLED'.
 */
import { availableParallelism, cpus } from 'node:os';
import type { BackendRun, ComputeBackend, RunOptions, StageTensors } from './types';
import type { LayerSpec } from '../spec';
import type { StageId } from '../trace';
import type { RunPlan, CpuStageContext } from '../recipes/types';
import type { Tensor } from '../tensor';
import { MoeError } from '../errors';
import { expertPagesMadeMs, expertPagesOf } from '../expertPages';

export interface CpuBackendOptions {
  /** GEMM worker threads (default: available parallelism) */
  threads?: number;
}

export class CpuBackend implements ComputeBackend {
  readonly name = 'cpu' as const;
  private readonly threads: number;

  constructor(opts: CpuBackendOptions = {}) {
    this.threads = Math.max(1, opts.threads ?? availableParallelism());
  }

  get device(): string {
    const model = cpus()[0]?.model?.trim() || 'unknown CPU';
    return `CPU (${model}, ${this.threads} GEMM thread${this.threads === 1 ? '' : 's'})`;
  }

  async run(inputs: Record<string, Tensor>, _spec: LayerSpec, plan: RunPlan, opts: RunOptions = {}): Promise<BackendRun> {
    const { signal, onProgress } = opts;
    const known = new Map<string, Tensor>(Object.entries(inputs));
    const outputs: StageTensors = {};
    const timesMs: Record<StageId, number> = {};
    const notes: string[] = [];
    const stageNotes: Partial<Record<StageId, string[]>> = {};
    // weights made (or read) per expert, one GEMM batch at a time, inside the stage that reads them: that is making the
    // inputs, not computing the layer, so it is taken out of the stage's time (and said)
    const paged = Object.values(inputs).filter((t) => expertPagesOf(t));
    const madeMs = (): number => paged.reduce((a, t) => a + expertPagesMadeMs(t), 0);
    const ctx: CpuStageContext = { tensors: known, notes, threads: this.threads, ...(signal ? { signal } : {}) };
    const n = plan.stages.length;
    for (let i = 0; i < n; i++) {
      const s = plan.stages[i]!;
      if (signal?.aborted) throw new MoeError('E_CANCELLED', `run cancelled before stage '${s.id}'`);
      onProgress?.(s.id, i / n, s.title);
      const made0 = madeMs();
      const t0 = performance.now();
      await s.runCpu(ctx);
      const made = madeMs() - made0;
      timesMs[s.id] = performance.now() - t0 - made;
      if (made > 0.5)
        stageNotes[s.id] = [`${made.toFixed(0)} ms more went to making this stage's FP8 weights one GEMM batch at a time (per-expert inputs, not the layer's compute); left out of its time`];
      for (const w of s.writes) {
        const t = known.get(w);
        if (t) outputs[w] = t;
      }
      // report the stage before the next one starts (a UI host posts its picture meanwhile); the last one is
      // reported by the final trace
      if (i < n - 1) await opts.onStageDone?.(s.id, outputs, timesMs);
    }
    if (n) onProgress?.(plan.stages[n - 1]!.id, 1, 'done');
    return { tensors: outputs, timesMs, device: this.device, notes, stageNotes };
  }
}
