/**
 * Extension entry: registers the commands (Inspect MoE Layer, Inspect Layer File, Inspect MoE Checkpoint, Export
 * Layout Diagram, Import Profiler Trace, Compare With), the panel serializer, and the hover providers when that
 * module is present. Everything heavy (the engine) runs only when a command is invoked, so activation stays cheap.
 */
import * as vscode from 'vscode';
import { engine, makeSpec, presetNames, describePreset, layerForFile, checkpointOverview, loadCheckpointRun, converters, type LoadedRun } from './engine';
import { setConverters } from './exportFormats';
import { InspectorPanel, registerSerializer, type PanelDeps } from './panel';
import { buildSpec, reviveChoices, type InspectChoices } from './inspect/choices';
import { pickChoices, pickSource } from './inspect/picks';
import { loadWithProgress, reportError, runWithProgress } from './inspect/runner';
import { pickCheckpoint, type CheckpointPick } from './inspect/checkpoint';
import { readSettings, type InspectorSettings } from './settings';
import { registerOptional } from './optional';
import type { LayerSpec } from '../kernels/spec';
import { importProfile } from '../kernels/profile/index';
import { readTraceFile } from '../kernels/io/traceFile';
import { compareCommand, importProfileCommand, type CommandUi } from './panelCommands';

const CHOICES_KEY = 'moeInspector.lastChoices';
const CHECKPOINT_KEY = 'moeInspector.lastCheckpoint';

type Result = Awaited<ReturnType<typeof engine.runLayer>>;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('MoE Layout Inspector', { log: true });
  setConverters(converters);
  context.subscriptions.push(log);
  const settings = () => readSettings((k) => vscode.workspace.getConfiguration('moeInspector').get(k));

  const deps: PanelDeps<Result> = {
    context,
    engine,
    log,
    // Re-runs (SM90↔SM100 toggle, restore after reload) keep the panel's backend and layer file.
    run: (spec: LayerSpec, panel) =>
      runWithProgress(engine, { spec, backend: panel.backendOverride ?? settings().backend, settings: settings(), onProgress: panel.progress, onStage: panel.partial }, log),
    // a run to compare with: the notification shows its progress, the panel keeps its picture until it is done
    runAside: (spec, backend) => runWithProgress(engine, { spec, backend: backend ?? settings().backend, settings: settings() }, log),
  };

  const commandUi: CommandUi = {
    panel: () => InspectorPanel.current?.commandTarget,
    pickFile: async (title, filters) => (await vscode.window.showOpenDialog({ title, canSelectMany: false, filters }))?.[0]?.fsPath,
    // ignoreFocusOut: the palette hands focus back to the panel's webview as the command starts, and a pick that
    // closes on focus-out can vanish before it is seen (as the Inspect flow's picks, extension/inspect/picks.ts)
    pick: async (title, items) => (await vscode.window.showQuickPick(items, { title, ignoreFocusOut: true }))?.value,
    info: (m) => void vscode.window.showInformationMessage(m),
    warn: (m) => void vscode.window.showWarningMessage(m),
    error: (doing, e) => reportError(e, doing, log),
  };

  // `inputs`: the tensors the host already read for this spec (a layer file, a checkpoint layer), so the run reads
  // nothing again (issue 11: each input once per run)
  const showRun = async ({ spec, inputs }: Pick<LoadedRun, 'spec'> & Partial<Pick<LoadedRun, 'inputs'>>, backend: InspectorSettings['backend']): Promise<void> => {
    const panel = InspectorPanel.show(deps);
    panel.backendOverride = backend;
    const result = await runWithProgress(engine, { spec, backend, settings: settings(), onProgress: panel.progress, onStage: panel.partial, ...(inputs ? { inputs } : {}) }, log);
    if (result) panel.show(spec, result);
    else panel.showError('The run did not finish; see the notification or the "MoE Layout Inspector" output.');
  };

  const inspectFile = async (uri: vscode.Uri | undefined): Promise<void> => {
    let target = uri;
    if (!target) {
      const picked = await vscode.window.showOpenDialog({
        title: 'Inspect MoE layer file',
        canSelectMany: false,
        filters: { 'safetensors (vLLM FusedMoE names)': ['safetensors'] },
      });
      target = picked?.[0];
    }
    if (!target) return;
    const s = settings();
    const path = target.fsPath;
    let loaded: LoadedRun;
    try {
      loaded = await loadWithProgress(`reading ${path}`, () => layerForFile(path, { arch: s.arch }));
    } catch (e) {
      reportError(e, `Inspecting ${path}`, log);
      return;
    }
    await showRun(loaded, s.backend);
  };

  // the explorer's "Inspect MoE Checkpoint…" (a folder) or "From a checkpoint folder…" of Inspect MoE Layer
  const inspectCheckpoint = async (uri: vscode.Uri | undefined): Promise<void> => {
    const s = settings();
    // remembered state is not trusted: only a folder path and a layer number are taken from it
    const saved = context.globalState.get<unknown>(CHECKPOINT_KEY);
    const last: Partial<CheckpointPick> | undefined =
      saved && typeof saved === 'object' && typeof (saved as CheckpointPick).dir === 'string'
        ? { dir: (saved as CheckpointPick).dir, ...(Number.isSafeInteger((saved as CheckpointPick).layer) ? { layer: (saved as CheckpointPick).layer } : {}) }
        : undefined;
    let loaded: LoadedRun;
    let doing = 'Opening the checkpoint';
    try {
      const pick = await pickCheckpoint(vscode.window, {
        ...(uri ? { folder: uri.fsPath } : {}),
        workspaceFolders: (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
        ...(last ? { last } : {}),
        tokens: s.tokens,
        overview: (dir) => {
          doing = `Opening the checkpoint ${dir}`;
          return checkpointOverview(dir);
        },
      });
      if (!pick) return;
      await context.globalState.update(CHECKPOINT_KEY, pick);
      doing = `Reading layer ${pick.layer} of ${pick.dir}`;
      loaded = await loadWithProgress(`reading layer ${pick.layer} of ${pick.dir}`, (signal, report) =>
        loadCheckpointRun(pick, { arch: s.arch, tokens: s.tokens, signal, onExpert: (done, total) => report(done / total, `expert ${done} of ${total}`) }),
      );
    } catch (e) {
      reportError(e, doing, log);
      return;
    }
    for (const n of loaded.notes) log.info(`${loaded.spec.name}: ${n}`);
    await showRun(loaded, s.backend);
  };

  context.subscriptions.push(
    vscode.commands.registerCommand('moeInspector.inspectLayer', async () => {
      const s = settings();
      const saved = context.globalState.get<unknown>(CHOICES_KEY);
      const last: InspectChoices = saved
        ? reviveChoices(saved)
        : { ...reviveChoices(undefined), preset: s.preset, tokens: s.tokens, arch: s.arch, recipe: s.recipe, backend: s.backend };
      const source = await pickSource(presetNames(), describePreset, last.preset);
      if (!source) return;
      if (source.kind === 'file') return inspectFile(undefined);
      if (source.kind === 'checkpoint') return inspectCheckpoint(undefined);
      let spec: LayerSpec;
      let choices: InspectChoices | undefined;
      try {
        choices = await pickChoices(last, source, makeSpec);
        if (!choices) return;
        spec = buildSpec(choices, makeSpec);
      } catch (e) {
        reportError(e, 'Building the layer spec', log);
        return;
      }
      await context.globalState.update(CHOICES_KEY, choices);
      await showRun({ spec }, choices.backend);
    }),
    vscode.commands.registerCommand('moeInspector.inspectFile', (uri?: vscode.Uri) => inspectFile(uri)),
    vscode.commands.registerCommand('moeInspector.inspectCheckpoint', (uri?: vscode.Uri) => inspectCheckpoint(uri)),
    vscode.commands.registerCommand('moeInspector.exportDiagram', async () => {
      const panel = InspectorPanel.current;
      if (!panel) {
        void vscode.window.showWarningMessage('Export Layout Diagram: no MoE Layout Inspector panel is open. Run "Inspect MoE Layer" first.');
        return;
      }
      const format = await vscode.window.showQuickPick(
        [
          { label: 'SVG', description: 'vector, as drawn', value: 'svg' as const },
          { label: 'PNG', description: 'raster image', value: 'png' as const },
          { label: 'TikZ', description: 'LaTeX picture', value: 'tikz' as const },
        ],
        { title: 'Export Layout Diagram', placeHolder: 'Format of the current view', ignoreFocusOut: true },
      );
      if (!format) return;
      panel.panel.reveal(undefined, false);
      // The webview renders the view it shows and answers with an 'export' message; the host then saves it.
      panel.requestExport(format.value);
    }),
    vscode.commands.registerCommand('moeInspector.importProfile', () => importProfileCommand(commandUi, importProfile)),
    vscode.commands.registerCommand('moeInspector.compare', () => compareCommand(commandUi, readTraceFile)),
    registerSerializer(deps),
  );

  registerOptional(context, log);
}

export function deactivate(): void {
  // Nothing to tear down: panels and channels are disposed through context.subscriptions.
}
