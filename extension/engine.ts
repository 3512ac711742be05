/**
 * Binds the real engine to the host: presets for the quick picks, runLayer / tile for the panel, the layer-file
 * loader for .safetensors inputs, and the export converters. Everything else in extension/ goes through this
 * module or engineTypes.ts, so the host's logic stays testable with a stand-in engine.
 */
import { basename } from 'node:path';
import { PRESETS, makeSpec as makePresetSpec } from '../kernels/presets';
import { runLayer, tile, type RunResult } from '../kernels/pipeline';
import { loadLayer } from '../kernels/layerFile';
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
    }),
  tile: (result, tensor, rows, cols, mode) => tile(result, tensor, rows, cols, mode),
};

/**
 * The spec of a layer file: shapes from its tensors (validated by the loader, which names any missing or
 * misshapen tensor), the data source pointing at the file so re-runs and restores read it again.
 */
export function specForFile(path: string, opts: { arch: Arch }): LayerSpec {
  const { recipe, inputs } = loadLayer(path);
  const formats = archById(opts.arch).scaleFormats;
  return recipe.specFromInputs(inputs, {
    name: basename(path),
    arch: opts.arch,
    recipe: { ...DEFAULT_RECIPE, id: recipe.id, scaleFormat: formats[0]! },
    source: { kind: 'file', path },
  });
}

export const converters: Converters = {
  svgToPng: (svg) => svgToPng(svg, 2),
  toTikz: (view, trace, tensor) => toTikz(view, { trace, ...(tensor ? { tensor } : {}) }),
};
