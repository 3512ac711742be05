/**
 * The slice of the engine the extension host uses, as types: runLayer / tile from kernels/pipeline and makeSpec
 * from kernels/presets. The host's logic is written against this seam so its tests can drive it with a stand-in
 * engine; extension/engine.ts binds the real one.
 */
import type { LayerSpec, BackendChoice, GpuModel } from '../kernels/spec';
import type { Trace, StageId } from '../kernels/trace';
import type { Tile } from '../kernels/protocol';
import type { LayerTensors } from '../kernels/recipes/types';

export interface RunResultLike {
  trace: Trace;
}

export interface RunLayerOptions {
  backend: BackendChoice;
  gpuModel: GpuModel;
  onProgress?: (stage: StageId | 'setup', fraction: number, message: string) => void;
  signal?: AbortSignal;
  inlineLimit?: number;
  /** a partial Trace after each finished stage (finished stages in `stages`, the others in `pending`) */
  onStage?: (partial: Trace) => void | Promise<void>;
  /** the layer's tensors when the host has read them already (a layer file, a checkpoint layer): not read again */
  inputs?: LayerTensors;
}

export interface Engine<R extends RunResultLike = RunResultLike> {
  runLayer(spec: LayerSpec, opts: RunLayerOptions): Promise<R>;
  tile(result: R, tensor: string, rows: [number, number], cols: [number, number], mode: 'value' | 'error'): Tile;
}
