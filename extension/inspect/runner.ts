/**
 * Runs one layer under a cancellable progress notification and turns failures into messages a user can act on:
 * a MoeError's message (which names the tensor and the expectation) with a "Show details" action that opens the
 * log with the code and stack. Cancellation is not an error: it says so quietly.
 */
import * as vscode from 'vscode';
import { MoeError } from '../../kernels/errors';
import type { LayerSpec } from '../../kernels/spec';
import type { Engine, RunResultLike } from '../engineTypes';
import type { InspectorSettings } from '../settings';
import type { StageId, Trace } from '../../kernels/trace';
import { panelRunSize, type PanelRunSize } from '../runSize';
import { heldExperts } from '../cli/sizeGuard';
import type { LayerTensors } from '../../kernels/recipes/types';

export interface RunRequest {
  spec: LayerSpec;
  backend: InspectorSettings['backend'];
  settings: InspectorSettings;
  /** also told about progress (the panel's own progress bar) */
  onProgress?: (stage: StageId | 'setup', fraction: number, message: string) => void;
  /** told about each partial Trace (the panel draws what is done while the rest runs) */
  onStage?: (partial: Trace) => void | Promise<void>;
  /** the spec's tensors, already read (a layer file, a checkpoint layer): the run reads nothing again */
  inputs?: LayerTensors;
}

export async function runWithProgress<R extends RunResultLike>(engine: Engine<R>, req: RunRequest, log: vscode.LogOutputChannel): Promise<R | undefined> {
  const started = Date.now();
  const what = `${req.spec.name} · ${req.spec.arch.toUpperCase()} · M=${req.spec.tokens}`;
  // as the CLI does: refuse what cannot fit before anything is generated; say what a large run will cost
  let size: PanelRunSize;
  try {
    size = panelRunSize(req.spec, {}, { ...heldExperts(req.inputs), backend: req.backend });
  } catch (e) {
    reportError(e, `Inspecting ${what}`, log);
    return undefined;
  }
  if (size.notice) log.info(`${what}: ${size.notice}`);
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `MoE Layout Inspector: ${what}${size.short ? ` (${size.short})` : ''}`, cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        if (size.notice) progress.report({ message: size.notice });
        let reported = 0;
        return engine.runLayer(req.spec, {
          backend: req.backend,
          gpuModel: req.settings.gpuModel,
          inlineLimit: req.settings.inlineLimit,
          signal: abort.signal,
          ...(req.onStage ? { onStage: req.onStage } : {}),
          ...(req.inputs ? { inputs: req.inputs } : {}),
          onProgress: (stage, fraction, message) => {
            req.onProgress?.(stage, fraction, message);
            // withProgress wants increments; the engine reports the fraction of the run done, so convert
            const overall = stage === 'setup' ? 0 : Math.min(100, Math.max(0, fraction) * 100);
            progress.report({ message, increment: Math.max(0, overall - reported) });
            reported = Math.max(reported, overall);
          },
        });
      },
    );
    log.info(`ran ${what} on ${result.trace.backend.name} (${result.trace.backend.reason}) in ${Date.now() - started} ms`);
    return result;
  } catch (e) {
    reportError(e, `Inspecting ${what}`, log);
    return undefined;
  }
}

/**
 * Reads a run's inputs (a layer file, a checkpoint layer) under a progress notification. `load` gets an AbortSignal
 * (the notification's Cancel) and a progress callback (fraction done, message); a synchronous reader (a layer file)
 * ignores both, the checkpoint reader stops between experts.
 */
export async function loadWithProgress<T>(title: string, load: (signal: AbortSignal, report: (fraction: number, message: string) => void) => T | Promise<T>): Promise<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `MoE Layout Inspector: ${title}`, cancellable: true }, async (progress, token) => {
    const abort = new AbortController();
    token.onCancellationRequested(() => abort.abort());
    let reported = 0;
    // a turn of the event loop first, so the notification is posted before a synchronous read blocks the host
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    return load(abort.signal, (fraction, message) => {
      const pct = Math.min(100, Math.max(0, fraction * 100));
      progress.report({ message, increment: Math.max(0, pct - reported) });
      reported = Math.max(reported, pct);
    });
  });
}

export function reportError(e: unknown, doing: string, log: vscode.LogOutputChannel): void {
  if ((e instanceof MoeError && e.code === 'E_CANCELLED') || (e instanceof Error && e.name === 'AbortError')) {
    log.info(`${doing}: cancelled`);
    void vscode.window.showInformationMessage(`${doing}: cancelled.`);
    return;
  }
  const message = e instanceof Error ? e.message : String(e);
  const code = e instanceof MoeError ? e.code : 'internal';
  log.error(`${doing} failed [${code}]: ${message}${e instanceof Error && e.stack ? `\n${e.stack}` : ''}`);
  void vscode.window.showErrorMessage(`${doing} failed: ${message}`, 'Show details').then((choice) => {
    if (choice === 'Show details') log.show(true);
  });
}
