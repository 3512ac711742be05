/**
 * One layer through the CUDA addon, wherever the addon lives: the GPU worker process (the editor's path: a device
 * fault there never reaches the extension host) and the CLI's own process (kernels/backend/cudaInProcess.ts: one run
 * per process, so the layer's tensors need not be read twice and sent through a pipe).
 */
import { MoeError } from '../errors';
import type { LayerSpec } from '../spec';
import type { StageId } from '../trace';
import type { Tensor } from '../tensor';
import type { RunPlan } from '../recipes/types';
import type { StageTensors } from './types';
import type { NativeAddon } from '../native/addon';
import { stageTensorsFromNative } from '../native/marshal';
import { nativeArgs } from '../native/layerArgs';
import { recipeById } from '../recipes/index';
import { interpretProbe } from './probe';

export interface AddonRun {
  tensors: StageTensors;
  timesMs: Record<StageId, number>;
  notes: string[];
  /** the grouped-GEMM kernel the addon really ran ('wgmma' or 'mma.sync') */
  gemmKernel: string;
}

/** The addon's device in words, or E_BACKEND with the probe's reason when it cannot run kernels. */
export function addonDevice(a: NativeAddon): string {
  const probe = interpretProbe(a.probe());
  if (!probe.ok) throw new MoeError('E_BACKEND', probe.reason);
  return probe.device ?? 'CUDA device';
}

/** The plan's stage ids, refused unless the recipe's addon kernels cover every one of them. */
export function cudaStagesOf(spec: LayerSpec, plan: RunPlan): StageId[] {
  const recipe = recipeById(spec.recipe.id);
  const stages = plan.stages.map((s) => s.id);
  const missing = stages.filter((id) => !recipe.cudaStages?.includes(id));
  if (missing.length)
    throw new MoeError('E_BACKEND', `the CUDA addon has no kernels for stage${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of the ${recipe.id} recipe; run it with --backend cpu`);
  return stages;
}

export function checkRepeats(repeats: number): number {
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > 1000) throw new MoeError('E_VALUE', `repeats: expected an integer within 1…1000, got ${repeats}`);
  return repeats;
}

/**
 * Runs exactly `stages` of the layer on the addon (inputs checked by nativeArgs first) and returns the stage tensors
 * (none when `fetch` is false: they stay on the device).
 */
export function runOnAddon(a: NativeAddon, inputs: Record<string, Tensor | undefined>, spec: LayerSpec, stages: StageId[], repeats: number, fetch = true): AddonRun {
  const { cfg, tensors, notes } = nativeArgs(inputs, spec, stages, repeats);
  const r = a.runLayer({ ...cfg, fetch }, tensors);
  notes.push(`GPU times: CUDA events, median of ${repeats} runs per stage after one warm-up`);
  return { tensors: stageTensorsFromNative(r), timesMs: r.timesMs, notes, gemmKernel: r.gemmKernel };
}
