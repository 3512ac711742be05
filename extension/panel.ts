/**
 * The inspector's webview panel: one per run target (reused when the user inspects again), strict CSP, the run's
 * Trace posted once the webview says 'ready', tiles served from the RunResult, re-runs on another architecture,
 * exports, an imported profiler trace and a second run to compare (panelCommands.ts), and a WebviewPanelSerializer
 * that re-runs the saved spec after a window reload — once it has been checked (panelRestore.ts).
 */
import * as vscode from 'vscode';
import type { BackendChoice, LayerSpec } from '../kernels/spec';
import type { StageId, Trace } from '../kernels/trace';
import type { ExportFormat } from '../kernels/protocol';
import { timingsOnStages, type ProfileImport } from '../kernels/profile/index';
import type { ImportedTimings } from '../kernels/profile/onStages';
import { ARCHS, ARCH_IDS, archById } from '../kernels/arch/index';
import { VIEW_IDS } from '../webview/views/registry';
import { PanelController } from './panelController';
import { profileOnStages, restoredProfile, restoredSpec } from './panelRestore';
import { panelHtml } from './panelHtml';
import type { Engine, RunResultLike } from './engineTypes';
import { exportView } from './exportFile';
import type { CommandPanel } from './panelCommands';
import { PANEL_COMMAND_IDS, PANEL_OPEN_CONTEXT } from './manifest';

export { PANEL_COMMAND_IDS };

export const PANEL_VIEW_TYPE = 'moeInspector.panel';

export interface PanelDeps<R extends RunResultLike> {
  context: vscode.ExtensionContext;
  engine: Engine<R>;
  /** runs a spec with progress; resolves undefined when cancelled or failed (the runner already told the user) */
  run(spec: LayerSpec, panel: InspectorPanel<R>): Promise<R | undefined>;
  /** runs a spec for comparison: progress in a notification only, nothing drawn in the panel until it is done */
  runAside(spec: LayerSpec, backend: BackendChoice | undefined): Promise<R | undefined>;
  log: vscode.LogOutputChannel;
}

export class InspectorPanel<R extends RunResultLike> {
  private static live: InspectorPanel<RunResultLike> | undefined;
  /** panels open now (restored ones included): the palette offers the panel commands while there is one */
  private static openCount = 0;
  readonly controller: PanelController<R>;
  private spec: LayerSpec | undefined;
  private disposed = false;
  /** the backend the user picked for this panel's run; re-runs keep it */
  backendOverride: BackendChoice | undefined;
  /** an imported profiler trace, mapped again onto each run shown */
  private imported: ProfileImport | undefined;
  /** after a reload: the imported timings the panel showed (the file is not read again), placed on each run shown */
  private restoredTimings: ImportedTimings | undefined;

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

  private static countOpen(delta: number): void {
    const before = InspectorPanel.openCount > 0;
    InspectorPanel.openCount = Math.max(0, InspectorPanel.openCount + delta);
    const now = InspectorPanel.openCount > 0;
    if (before !== now) void vscode.commands.executeCommand('setContext', PANEL_OPEN_CONTEXT, now);
  }

  static get current(): InspectorPanel<RunResultLike> | undefined {
    return InspectorPanel.live && !InspectorPanel.live.disposed ? InspectorPanel.live : undefined;
  }

  constructor(
    readonly panel: vscode.WebviewPanel,
    private readonly deps: PanelDeps<R>,
  ) {
    InspectorPanel.live = this as unknown as InspectorPanel<RunResultLike>;
    InspectorPanel.countOpen(+1);
    this.controller = new PanelController<R>({
      post: (m) => panel.webview.postMessage(m),
      engine: deps.engine,
      exportView: (view, format, svg, result, tensor) => exportView(view, format, svg, result?.trace, tensor),
      rerun: (change) => void this.rerun(change),
      command: (c) => void vscode.commands.executeCommand(PANEL_COMMAND_IDS[c]),
      // level is one of info | warn | error: the controller checked it before it got here
      log: (level, message) => deps.log[level](message),
      registries: { viewIds: VIEW_IDS, archIds: ARCH_IDS },
      archs: ARCHS.map((a) => ({ id: a.id, label: a.label })),
    });
    panel.webview.options = webviewOptions(deps.context);
    panel.webview.html = this.html();
    panel.webview.onDidReceiveMessage((m: unknown) => {
      this.controller.handle(m).catch((e: unknown) => deps.log.error(`panel message failed: ${String(e)}`));
    });
    panel.onDidDispose(() => {
      this.disposed = true;
      InspectorPanel.countOpen(-1);
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
    const stageIds = result.trace.stages.map((s) => s.id);
    if (this.imported) this.controller.setProfile(timingsOnStages(this.imported, stageIds));
    else if (this.restoredTimings) this.controller.setProfile(profileOnStages(this.restoredTimings, stageIds));
  }

  /** What MoE: Import Profiler Trace… and MoE: Compare With… act on. */
  get commandTarget(): CommandPanel {
    return {
      trace: () => (this.controller.running ? undefined : this.controller.current?.trace),
      showProfile: (p) => {
        this.imported = p;
        this.restoredTimings = undefined;
        const trace = this.controller.current!.trace;
        const t = timingsOnStages(p, trace.stages.map((s) => s.id));
        this.controller.setProfile(t);
        this.panel.reveal(undefined, false);
        const on = p.kernels.filter((k) => k.stage !== undefined && t.stages.some((s) => s.stage === k.stage)).length;
        const unmatched = p.kernels.filter((k) => k.stage === undefined).length;
        return { onStages: on, outside: p.kernels.length - on - unmatched, unmatched };
      },
      showCompare: (trace) => {
        this.controller.setCompare(trace);
        this.panel.reveal(undefined, false);
      },
      comparing: () => this.controller.comparing,
      runVariant: async (change) => {
        if (!this.spec) return undefined;
        const spec = change.arch ? specOnArch(this.spec, change.arch) : this.spec;
        const result = await this.deps.runAside(spec, change.backend ?? this.backendOverride);
        return result?.trace;
      },
      archs: ARCHS.map((a) => ({ id: a.id, label: a.label })),
    };
  }

  /** After a reload: the imported timings this panel showed, drawn again on the run it re-runs (and on later runs). */
  restoreProfile(timings: ImportedTimings | undefined): void {
    this.restoredTimings = timings;
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
    if (!this.disposed) this.controller.progress(stage, fraction, message);
  };

  get currentSpec(): LayerSpec | undefined {
    return this.spec;
  }

  async rerun(change: { arch?: LayerSpec['arch']; backend?: 'auto' | 'cpu' | 'cuda' }): Promise<void> {
    if (!this.spec) return;
    const spec = change.arch ? specOnArch(this.spec, change.arch) : this.spec;
    if (change.backend) this.backendOverride = change.backend;
    const result = await this.deps.run(spec, this);
    if (this.disposed) return;
    if (result) this.show(spec, result);
    else this.abandonRun();
  }

  /** Ask the webview to export its current view (the Export Layout Diagram command). */
  requestExport(format: ExportFormat): void {
    this.controller.requestExport(format);
  }
}

/**
 * The spec on another architecture. It takes the scale formats its module lists (SM100: packed UE8M0 only): the
 * run's when it is one of them, else the architecture's first. (A recipe option the new architecture cannot take —
 * a masked max_m that is not a multiple of its row block — is refused by the run's checks with the reason, rather
 * than silently changed here.)
 */
function specOnArch(spec: LayerSpec, arch: LayerSpec['arch']): LayerSpec {
  const out: LayerSpec = { ...spec, arch };
  const formats = archById(arch).scaleFormats;
  if (!formats.includes(out.recipe.scaleFormat)) out.recipe = { ...out.recipe, scaleFormat: formats[0]! };
  return out;
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
      let spec: LayerSpec;
      try {
        spec = restoredSpec(state);
      } catch (e) {
        deps.log.warn(`restoring a panel: ${e instanceof Error ? e.message : String(e)}`);
        p.showError(e instanceof Error ? e.message : String(e), 'E_SPEC');
        return;
      }
      const restored = restoredProfile(state);
      if (restored.problem) deps.log.warn(`restoring a panel's imported profile: ${restored.problem}`);
      p.restoreProfile(restored.profile);
      const result = await deps.run(spec, p);
      if (result) p.show(spec, result);
      else p.showError('The run did not finish; see the notification or the "MoE Layout Inspector" output.');
    },
  });
}
