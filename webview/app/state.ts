/**
 * The panel's state: what is persisted with vscode.setState (the view, the stage, tensor selections, zoom, the run's
 * spec and the imported profiler trace for a restore after reload), the trace(s) shown, and what lives only as long
 * as the panel (heatmap mode, values fetched through tiles). One object, owned by the app shell; views see it through their ViewContext.
 */
import { PROTOCOL_VERSION, reviveWebviewState, type ArchChoice, type HostEvent, type TileMode, type WebviewState } from '../../kernels/protocol';
import type { Trace } from '../../kernels/trace';
import type { ImportedTimings } from '../../kernels/profile/onStages';
import { VIEW_IDS, viewById, viewsFor } from '../views/registry';

export interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: WebviewState): void;
}

export class AppState {
  saved: WebviewState;
  /** a saved state came back after a reload: its view and selections win over a fresh panel's defaults */
  readonly restored: boolean;
  trace: Trace | undefined;
  compare: Trace | undefined;
  /** imported profiler times on the run's stages (the host sends them again, re-mapped, after each new run) */
  profile: ImportedTimings | null = null;
  /** the trace shown is a partial one (the run goes on); the final Trace replaces it */
  partial = false;
  /** architectures the host can re-run on */
  archs: ArchChoice[] = [];
  readonly ui: { heatmapMode: TileMode } = { heatmapMode: 'value' };
  private values = new Map<string, ArrayLike<number>>();

  constructor(private readonly vscode: VsCodeApi) {
    // a state from another version, or one naming a view that no longer exists, is dropped rather than misread
    const revived = reviveWebviewState(vscode.getState(), VIEW_IDS);
    this.restored = revived !== undefined;
    this.saved = revived ?? { version: PROTOCOL_VERSION, view: VIEW_IDS[0]! };
  }

  save(patch: Partial<WebviewState>): void {
    this.saved = { ...this.saved, ...patch };
    this.vscode.setState(this.saved);
  }

  /** Takes a trace message; true when it is the next partial of the run already shown. */
  showTrace(m: Extract<HostEvent, { type: 'trace' }>): boolean {
    const samePartialRun = this.partial && m.partial === true;
    // fetched values belong to one finished run
    if (this.trace?.createdAt !== m.trace.createdAt) this.values.clear();
    this.trace = m.trace;
    this.compare = m.compare;
    this.partial = m.partial === true;
    if (m.archs) this.archs = m.archs;
    this.save({ spec: m.trace.spec });
    // a view that does not apply to this run (the permutation of a masked run) gives way to the first that does
    if (!viewById(this.saved.view)?.applies(m.trace, m.compare)) this.save({ view: viewsFor(m.trace, m.compare)[0]?.id ?? VIEW_IDS[0]! });
    return samePartialRun;
  }

  /** Imported kernel times (null: none); persisted, so the host can draw them again on the re-run after a reload. */
  setProfile(profile: ImportedTimings | null): void {
    this.profile = profile;
    if (profile) this.save({ profile });
    else if (this.saved.profile) {
      const { profile: _dropped, ...rest } = this.saved;
      void _dropped;
      this.saved = rest;
      this.vscode.setState(this.saved);
    }
  }

  valuesOf = (name: string): ArrayLike<number> | undefined => this.values.get(name);

  setValues(name: string, v: ArrayLike<number>): void {
    this.values.set(name, v);
  }
}
