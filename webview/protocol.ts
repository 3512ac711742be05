/**
 * Every message between the extension host and the webview, in one place (like vscode-hexeditor's
 * shared/protocol.ts): a discriminated union per direction; requests carry an id that the response echoes.
 * This module imports nothing from 'vscode' or the DOM so both sides (and tests) can use it.
 */
import type { Trace, StageId } from '../kernels/trace';
import type { Arch } from '../kernels/spec';

export const PROTOCOL_VERSION = 1;

export type ViewId = 'scales' | 'permutation' | 'timing' | 'heatmap';
export type ExportFormat = 'svg' | 'png' | 'tikz';

/** A rectangular window of a 2-D (or flattened-to-2-D) tensor, rows × cols half-open ranges. */
export interface TileRange {
  rows: [number, number];
  cols: [number, number];
}

export interface Tile extends TileRange {
  tensor: string;
  /** 'value' = decoded values; 'error' = |value − float64 reference| */
  mode: 'value' | 'error';
  /** row-major values of the window, NaN kept */
  values: number[];
  /** logical shape of the whole tensor viewed as 2-D */
  shape2d: [number, number];
}

/** host → webview */
export type HostMessage =
  /**
   * `partial`: the run is still going; `trace.stages` holds the finished stages and `trace.pending` the others.
   * Each partial replaces the previous one; the final Trace (no `partial`) replaces them all.
   */
  | { type: 'trace'; version: typeof PROTOCOL_VERSION; trace: Trace; compare?: Trace; partial?: boolean }
  | { type: 'progress'; stage: StageId | 'setup'; fraction: number; message: string }
  | { type: 'error'; message: string; code?: string }
  | { type: 'tile'; requestId: number; tile: Tile }
  | { type: 'tileError'; requestId: number; message: string }
  | { type: 'exportDone'; requestId: number; path: string }
  | { type: 'selectView'; view: ViewId; stage?: StageId }
  /** the Export Layout Diagram command: export the view shown now (the webview answers with an 'export' message) */
  | { type: 'exportRequest'; format: ExportFormat };

/** webview → host */
export type WebviewMessage =
  | { type: 'ready'; version: typeof PROTOCOL_VERSION }
  | { type: 'tile'; requestId: number; tensor: string; mode: 'value' | 'error'; rows: [number, number]; cols: [number, number] }
  | { type: 'export'; requestId: number; view: ViewId; format: ExportFormat; /** rendered SVG markup for svg/png */ svg?: string; /** for tikz: the view's data is re-rendered by the host */ arch?: Arch }
  | { type: 'stage'; stage: StageId }
  /** a trace message has been drawn (the host holds a run's grouped GEMMs until its first picture is on screen) */
  | { type: 'drawn'; partial: boolean }
  | { type: 'rerun'; arch?: Arch; backend?: 'auto' | 'cpu' | 'cuda' }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string };

/** State persisted with vscode.setState and restored by the WebviewPanelSerializer. */
export interface WebviewState {
  version: typeof PROTOCOL_VERSION;
  view: ViewId;
  stage: StageId;
  arch: Arch;
  heatmapTensor?: string;
  /** scale tensor shown in the scale-layout view */
  scaleTensor?: string;
  zoom?: { k: number; x: number; y: number };
  /** the spec of the run shown, so the host can re-run it after a reload */
  spec?: Trace['spec'];
}

export function isWebviewMessage(m: unknown): m is WebviewMessage {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}
