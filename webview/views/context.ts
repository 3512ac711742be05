/**
 * The contract between the app shell and a view (types only): what a view receives to draw live (ViewContext) and
 * to draw standalone for export (ExportInput), and what a registry entry declares (ViewEntry). The entries
 * themselves are in registry.ts; each view's code is one file of views/.
 */
import type { PendingStage, Trace } from '../../kernels/trace';
import type { ExportFormat, Tile, TileMode, ViewId, WebviewState } from '../../kernels/protocol';
import type { Theme } from '../theme';
import type { ImportedTimings } from '../../kernels/profile/onStages';

/** Asks the host for a window of a tensor (rejects with the host's reason). */
export type RequestTile = (tensor: string, rows: [number, number], cols: [number, number], mode: TileMode) => Promise<Tile>;

/** Values of tensors too large to travel inline, once fetched (tiles in the panel, the run's tensors in the CLI). */
export type ValuesOf = (tensor: string) => ArrayLike<number> | undefined;

export interface ViewContext {
  trace: Trace;
  /** a second run drawn beside the first (timing, compare) */
  compare?: Trace;
  /** imported profiler times on the run's stages (MoE: Import Profiler Trace…), drawn by the timing view */
  profile?: ImportedTimings;
  /** the run is still going: `trace` is partial, tiles are not served yet */
  partial: boolean;
  theme: Theme;
  width: number;
  height: number;
  /** the panel's saved state (tensor selections, zoom, stage) */
  state: Readonly<WebviewState>;
  save(patch: Partial<WebviewState>): void;
  /** draw this view again (after a selection that changes what it shows) */
  redraw(): void;
  requestTile: RequestTile;
  /** fetched values, and a way to fetch a whole (bounded) tensor through tiles */
  values: ValuesOf;
  loadValues(tensor: string): Promise<void>;
  /** per-panel choices that are not persisted (heatmap mode) */
  ui: { heatmapMode: TileMode };
  /** a canvas frame was drawn in `ms` (the first one is the first picture) */
  onFrame(ms: number): void;
  /** the view is on screen */
  notePicture(): void;
}

export interface ViewHandle {
  destroy(): void;
}

/** What a standalone (exported) picture of a view is drawn from. */
export interface ExportInput {
  trace: Trace;
  /** a second trace (e.g. CUDA next to CPU) for the timing and compare views */
  compare?: Trace;
  /** imported profiler times for the timing view */
  profile?: ImportedTimings;
  /** the tensor the view shows (scale layout, heatmap) */
  tensor?: string;
  heatmapMode?: TileMode;
  tiles?: Tile[];
  /** values of tensors not inline in the trace */
  valuesOf?: ValuesOf;
}

export interface StandaloneOptions {
  theme: Theme;
  width: number;
  /** per-panel rectangle budget of the vector scale layout before binning */
  maxRects?: number;
}

/** One view: a file of views/ plus this entry in registry.ts. */
export interface ViewEntry {
  id: ViewId;
  label: string;
  /** what the export buttons, the Export command and `moe-inspect export --format` offer for this view */
  exportFormats: readonly ExportFormat[];
  /** whether the view has something to draw for this trace (and the second run shown beside it, if any): its tab, key and export exist only then */
  applies(trace: Trace, compare?: Trace): boolean;
  /** the stages of a partial trace the view waits for (default: none) */
  waitsFor?(trace: Trace): PendingStage[];
  /** equal keys for two partial traces: the view would draw the same picture (default: the view's id) */
  dataKey?(trace: Trace): string;
  render(el: HTMLElement, ctx: ViewContext): ViewHandle;
  svg(doc: Document, input: ExportInput, options: StandaloneOptions): SVGSVGElement;
  tikz?(input: ExportInput): string;
  /** the tensor an export of the view shows, from the saved state */
  exportTensor?(state: Readonly<WebviewState>): string | undefined;
  /** the view shows a tensor (a stepper chip was clicked): the state that selects it, or undefined if it cannot */
  opensTensor?(trace: Trace, name: string): Partial<WebviewState> | undefined;
  /** the view draws the stage selected in the stepper (redrawn when it changes) */
  followsStage?: boolean;
}
