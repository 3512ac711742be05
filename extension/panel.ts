/**
 * The inspector's webview panel: one per run target (reused when the user inspects again), strict CSP, the run's
 * Trace posted once the webview says 'ready', tiles served from the RunResult, SM90↔SM100 re-runs, exports, and
 * a WebviewPanelSerializer that re-runs the saved spec after a window reload.
 */
import * as vscode from 'vscode';
import type { BackendChoice, LayerSpec } from '../kernels/spec';
import type { StageId, Trace } from '../kernels/trace';
import type { ExportFormat, HostMessage, WebviewState } from '../webview/protocol';
import { PanelController } from './panelController';
import { panelHtml } from './panelHtml';
import type { Engine, RunResultLike } from './engineTypes';
import { exportView } from './exportFile';

export const PANEL_VIEW_TYPE = 'moeInspector.panel';

export interface PanelDeps<R extends RunResultLike> {
  context: vscode.ExtensionContext;
  engine: Engine<R>;
  /** runs a spec with progress; resolves undefined when cancelled or failed (the runner already told the user) */
  run(spec: LayerSpec, panel: InspectorPanel<R>): Promise<R | undefined>;
  log: vscode.LogOutputChannel;
}

export class InspectorPanel<R extends RunResultLike> {
  private static live: InspectorPanel<RunResultLike> | undefined;
  readonly controller: PanelController<R>;
  private spec: LayerSpec | undefined;
  private disposed = false;
  /** the backend the user picked for this panel's run; re-runs keep it */
  backendOverride: BackendChoice | undefined;

  /** The panel to show a run in: the live one when there is one, else a new one. */
  static show<R extends RunResultLike>(deps: PanelDeps<R>): InspectorPanel<R> {
    const live = InspectorPanel.live as InspectorPanel<R> | undefined;
    if (live && !live.disposed) {
      live.panel.reveal(undefined, false);
      return live;
    }
    const panel = vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, 'MoE Layout Inspector', vscode.ViewColumn.Active, webviewOptions(deps.context));
    return new InspectorPanel(panel, deps);
  }

  static get current(): InspectorPanel<RunResultLike> | undefined {
    return InspectorPanel.live && !InspectorPanel.live.disposed ? InspectorPanel.live : undefined;
  }

  constructor(
    readonly panel: vscode.WebviewPanel,
    private readonly deps: PanelDeps<R>,
  ) {
    InspectorPanel.live = this as unknown as InspectorPanel<RunResultLike>;
    this.controller = new PanelController<R>({
      post: (m: HostMessage) => panel.webview.postMessage(m),
      engine: deps.engine,
      exportView: (view, format, svg, result) => exportView(view, format, svg, result?.trace),
      rerun: (change) => void this.rerun(change),
      log: (level, message) => deps.log[level](`webview: ${message}`),
    });
    panel.webview.options = webviewOptions(deps.context);
    panel.webview.html = this.html();
    panel.webview.onDidReceiveMessage((m: unknown) => {
      this.controller.handle(m).catch((e: unknown) => deps.log.error(`panel message failed: ${String(e)}`));
    });
    panel.onDidDispose(() => {
      this.disposed = true;
      if (InspectorPanel.live === (this as unknown as InspectorPanel<RunResultLike>)) InspectorPanel.live = undefined;
    });
  }

  private html(): string {
    const web = this.panel.webview;
    const root = this.deps.context.extensionUri;
    return panelHtml({
      cspSource: web.cspSource,
      scriptUri: web.asWebviewUri(vscode.Uri.joinPath(root, 'dist', 'webview.js')).toString(),
      styleUri: web.asWebviewUri(vscode.Uri.joinPath(root, 'media', 'webview.css')).toString(),
    });
  }

  /** Show a finished run. */
  show(spec: LayerSpec, result: R): void {
    this.spec = spec;
    this.panel.title = panelTitle(spec);
    this.controller.setResult(result);
  }

  showError(message: string, code?: string): void {
    this.abandonRun();
    this.controller.showError(message, code);
  }

  /** A run ended without a result: the panel shows the last finished run (title included) again. */
  private abandonRun(): void {
    this.controller.abandonPartial();
    this.panel.title = this.spec ? panelTitle(this.spec) : 'MoE Layout Inspector';
  }

  /** Draws a run's finished stages while the rest runs (the engine's onStage). */
  readonly partial = (trace: Trace): Promise<void> | undefined => {
    if (this.disposed) return undefined;
    this.panel.title = `${panelTitle(trace.spec)} (running)`;
    return this.controller.setPartial(trace);
  };

  /** Forwards the engine's progress to the panel's own progress bar. */
  readonly progress = (stage: StageId | 'setup', fraction: number, message: string): void => {
    if (!this.disposed) void this.panel.webview.postMessage({ type: 'progress', stage, fraction, message } satisfies HostMessage);
  };

  get currentSpec(): LayerSpec | undefined {
    return this.spec;
  }

  async rerun(change: { arch?: LayerSpec['arch']; backend?: 'auto' | 'cpu' | 'cuda' }): Promise<void> {
    if (!this.spec) return;
    const spec: LayerSpec = { ...this.spec, ...(change.arch ? { arch: change.arch } : {}) };
    if (change.backend) this.backendOverride = change.backend;
    // SM100 consumes packed UE8M0 scales only (spec §6): switching to it switches the scale format too.
    if (spec.arch === 'sm100' && spec.recipe.scaleFormat !== 'ue8m0') spec.recipe = { ...spec.recipe, scaleFormat: 'ue8m0' };
    const result = await this.deps.run(spec, this);
    if (this.disposed) return;
    if (result) this.show(spec, result);
    else this.abandonRun();
  }

  /** Ask the webview to export its current view (the Export Layout Diagram command). */
  requestExport(format: ExportFormat): void {
    const msg: HostMessage = { type: 'exportRequest', format };
    void this.panel.webview.postMessage(msg);
  }
}

const panelTitle = (spec: LayerSpec): string => `MoE: ${spec.name} · ${spec.arch.toUpperCase()} · M=${spec.tokens}`;

export function webviewOptions(context: vscode.ExtensionContext): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return {
    enableScripts: true,
    retainContextWhenHidden: true,
    localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'dist'), vscode.Uri.joinPath(context.extensionUri, 'media')],
  };
}

/** Restores panels after a reload: the saved spec is re-run (the tensors themselves are not persisted). */
export function registerSerializer<R extends RunResultLike>(deps: PanelDeps<R>): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
    async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown): Promise<void> {
      const p = new InspectorPanel<R>(panel, deps);
      const spec = (state as Partial<WebviewState> | undefined)?.spec;
      if (!spec) {
        p.showError('This panel was saved without a layer spec; run "Inspect MoE Layer" again.', 'E_SPEC');
        return;
      }
      const result = await deps.run(spec, p);
      if (result) p.show(spec, result);
      else p.showError('The run did not finish; see the notification or the "MoE Layout Inspector" output.');
    },
  });
}
