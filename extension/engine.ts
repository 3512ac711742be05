/**
 * Binds the real engine to the host: presets for the quick picks, runLayer / tile for the panel, the layer-file
 * and checkpoint-folder loaders (each input read once per run), and the export converters. Everything else in extension/ goes through this
 * module or engineTypes.ts, so the host's logic stays testable with a stand-in engine.
 */
import { basename } from 'node:path';
import { PRESETS, makeSpec as makePresetSpec } from '../kernels/presets';
import { runLayer, tile, type RunResult } from '../kernels/pipeline';
import { loadLayer } from '../kernels/layerFile';
import { Checkpoint } from '../kernels/io/checkpoint';
import { loadCheckpointLayerAsync } from '../kernels/checkpointLayer';
import type { LayerTensors } from '../kernels/recipes/types';
import type { CheckpointOverview, CheckpointPick } from './inspect/checkpoint';
import { archById } from '../kernels/arch/index';
import { DEFAULT_RECIPE, type Arch, type LayerSpec } from '../kernels/spec';
import { svgToPng } from '../webview/export/png';
import { toTikz } from '../webview/export/standalone';
import type { MakeSpec } from './inspect/choices';
import type { Engine } from './engineTypes';
import type { Converters } from './exportFormats';

export const makeSpec: MakeSpec = (preset, overrides) => makePresetSpec(preset, overrides);

export const presetNames = (): string[] => PRESETS.map((p) => p.label);

export function describePreset(label: string): string {
  const p = PRESETS.find((x) => x.label === label);
  if (!p) return '';
  return `K=${p.hidden} N=${p.intermediate} E=${p.experts} top-${p.topk} · ${p.scaleFormat === 'ue8m0' ? 'UE8M0' : 'f32'} scales`;
}

export const engine: Engine<RunResult> = {
  runLayer: (spec, opts) =>
    runLayer(spec, {
      backend: opts.backend,
      gpuModel: opts.gpuModel,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.onStage ? { onStage: opts.onStage } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.inlineLimit ? { inlineLimit: opts.inlineLimit } : {}),
      // tensors the host already read (a layer file, a checkpoint layer): the run reads nothing again
      ...(opts.inputs ? { inputs: opts.inputs } : {}),
    }),
  tile: (result, tensor, rows, cols, mode) => tile(result, tensor, rows, cols, mode),
};

/** a run's spec with the tensors already read for it (passed to runLayer, so the file is read once per run) */
export interface LoadedRun {
  spec: LayerSpec;
  inputs: LayerTensors;
  /** how the layer was built, for the log (experts read, bytes, quantization) */
  notes: string[];
}

/**
 * A layer file, read once: its validated tensors and its spec — shapes from the tensors (the loader names any
 * missing or misshapen tensor), the data source pointing at the file so re-runs and restores read it again.
 */
export function layerForFile(path: string, opts: { arch: Arch }): LoadedRun {
  const { recipe, inputs } = loadLayer(path);
  const formats = archById(opts.arch).scaleFormats;
  const spec = recipe.specFromInputs(inputs, {
    name: basename(path),
    arch: opts.arch,
    recipe: { ...DEFAULT_RECIPE, id: recipe.id, scaleFormat: formats[0]! },
    source: { kind: 'file', path },
  });
  return { spec, inputs, notes: [] };
}

/** A checkpoint folder's MoE layers for the quick pick, from its config and shard headers (no tensor data read). */
export function checkpointOverview(dir: string): CheckpointOverview {
  const ck = Checkpoint.open(dir);
  try {
    const c = ck.config;
    const layers = ck.layers().map((l) => ({
      layer: l.layer,
      mtp: l.mtp,
      hashRouted: l.hashRouted,
      experts: l.experts,
      ...(l.format ? { format: l.format } : {}),
      ...(l.weightDtype ? { weightDtype: l.weightDtype } : {}),
      ...(l.problem ? { problem: l.problem } : {}),
    }));
    return { dir: ck.dir, family: c.familyLabel, modelType: c.modelType, experts: c.experts, topk: c.router.topk, hidden: c.hidden, intermediate: c.intermediate, layers };
  } finally {
    ck.close();
  }
}

/**
 * One checkpoint layer, read once (only the experts its routing uses): synthetic routing of `tokens` tokens, or the
 * pick's router dump. Activation scales as `run --checkpoint` chooses them (docs/checkpoints.md). Yields to the
 * host between experts; `signal` stops the read between experts.
 */
export async function loadCheckpointRun(
  pick: CheckpointPick,
  opts: { arch: Arch; tokens: number; signal?: AbortSignal; onExpert?: (done: number, total: number) => void },
): Promise<LoadedRun> {
  const r = await loadCheckpointLayerAsync(pick.dir, {
    layer: pick.layer,
    arch: opts.arch,
    ...(pick.dump ? { dump: pick.dump } : { tokens: opts.tokens, seed: 0, skew: 0 }),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onExpert ? { onExpert: opts.onExpert } : {}),
  });
  return { spec: r.spec, inputs: r.inputs, notes: r.notes };
}

export const converters: Converters = {
  svgToPng: (svg) => svgToPng(svg, 2),
  toTikz: (view, trace, tensor) => toTikz(view, { trace, ...(tensor ? { tensor } : {}) }),
};
