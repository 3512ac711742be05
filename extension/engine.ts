/**
 * Binds the real engine to the host: presets for the quick picks, runLayer / tile for the panel, the layer-file
 * loader for .safetensors inputs, and the export converters. Everything else in extension/ goes through this
 * module or engineTypes.ts, so the host's logic stays testable with a stand-in engine.
 */
import { basename } from 'node:path';
import { PRESETS, makeSpec as makePresetSpec } from '../kernels/presets';
import { runLayer, tile, type RunResult } from '../kernels/pipeline';
import { loadLayerFile, specFromInputs } from '../kernels/inputs';
import type { Arch, LayerSpec } from '../kernels/spec';
import { svgToPng } from '../webview/export/png';
import { toTikz } from '../webview/export/tikz';
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
  const inputs = loadLayerFile(path);
  return specFromInputs(inputs, {
    name: basename(path),
    arch: opts.arch,
    ...(opts.arch === 'sm100' ? { recipe: { actGroup: 128, weightBlock: 128, scaleFormat: 'ue8m0', quant: 'vllm' } } : {}),
    source: { kind: 'file', path },
  });
}

export const converters: Converters = {
  svgToPng: (svg) => svgToPng(svg, 2),
  toTikz: (view, trace) => toTikz(view, { trace }),
};
