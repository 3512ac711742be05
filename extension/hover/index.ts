/**
 * The vscode adapter of the tensor hover (issue 5): registers a hover provider for Python notebook cells (probe in
 * the running Jupyter kernel) and one for Python files while a debug session is paused (probe in the current
 * frame), plus the `moeInspector.openProbedTensor` command behind the hover's link. All the logic lives in
 * vscode-free modules (expression, runners, hoverCore, markdown, classify); this file only finds the kernel or
 * frame and wraps the result. Without the Jupyter extension, a started kernel or a paused Python debugger it
 * returns undefined at once: no errors, no prompts, nothing evaluated.
 */
import * as vscode from 'vscode';
import type { Jupyter } from '@vscode/jupyter-extension';
import probeSource from './probe.py';
import { computeHover, ProbeCache, type CoreHover } from './hoverCore';
import { OPEN_PROBED_TENSOR_COMMAND, type OpenProbedTensorArgs } from './markdown';
import { probeInDebugSession, probeInKernel, type KernelLike } from './runners';
import type { ProbedTensor } from './types';

export type { ProbedTensor, TensorSample } from './types';
export { OPEN_PROBED_TENSOR_COMMAND } from './markdown';

const JUPYTER_EXTENSION_ID = 'ms-toolsai.jupyter';
const PYTHON_DEBUG_TYPES = new Set(['python', 'debugpy']);
/** first use of a CUDA tensor in a kernel can take a moment; after that a probe answers in milliseconds */
const NOTEBOOK_TIMEOUT_MS = 4000;
const DEBUG_TIMEOUT_MS = 3000;

function setting(key: 'notebook' | 'debug'): boolean {
  return vscode.workspace.getConfiguration('moeInspector.hover').get<boolean>(key, true) !== false;
}

function toHover(h: CoreHover | undefined, position: vscode.Position): vscode.Hover | undefined {
  if (!h) return undefined;
  const md = new vscode.MarkdownString(h.markdown, true);
  // trusted for our one command only; the thumbnail is a markdown image with a data: URI, no HTML needed
  md.isTrusted = { enabledCommands: [OPEN_PROBED_TENSOR_COMMAND] };
  return new vscode.Hover(md, new vscode.Range(position.line, h.start, position.line, h.end));
}

/** The started kernel of the notebook that holds this cell, without activating or prompting for anything. */
async function kernelFor(cell: vscode.TextDocument): Promise<KernelLike | undefined> {
  const ext = vscode.extensions.getExtension<Jupyter>(JUPYTER_EXTENSION_ID);
  if (!ext || !ext.isActive || !ext.exports?.kernels) return undefined;
  const notebook = vscode.workspace.notebookDocuments.find((nb) => nb.getCells().some((c) => c.document === cell));
  if (!notebook) return undefined;
  const kernel = await ext.exports.kernels.getKernel(notebook.uri);
  return kernel ?? undefined;
}

/** The paused frame to evaluate in: the focused stack frame, else the top frame of the focused thread. */
async function pausedFrame(): Promise<{ session: vscode.DebugSession; frameId: number } | undefined> {
  const session = vscode.debug.activeDebugSession;
  if (!session || !PYTHON_DEBUG_TYPES.has(session.type)) return undefined;
  const item = vscode.debug.activeStackItem;
  if (!item || item.session.id !== session.id) return undefined;
  if (item instanceof vscode.DebugStackFrame) return { session, frameId: item.frameId };
  // a focused thread: ask for its top frame (fails while the thread runs, which is the answer we want)
  const trace = (await session.customRequest('stackTrace', { threadId: item.threadId, startFrame: 0, levels: 1 })) as
    | { stackFrames?: { id?: unknown }[] }
    | undefined;
  const id = trace?.stackFrames?.[0]?.id;
  return typeof id === 'number' ? { session, frameId: id } : undefined;
}

export function registerHoverProviders(context: vscode.ExtensionContext, openTensor: (t: ProbedTensor) => Promise<void>): void {
  const cache = new ProbeCache(16);
  let channel: vscode.LogOutputChannel | undefined;
  const log = (message: string): void => {
    channel ??= vscode.window.createOutputChannel('MoE Layout Inspector: hover', { log: true });
    channel.debug(message);
  };
  context.subscriptions.push({ dispose: () => channel?.dispose() });

  const notebookHover: vscode.HoverProvider = {
    async provideHover(document, position, token) {
      if (!setting('notebook')) return undefined;
      try {
        const kernel = await kernelFor(document);
        if (!kernel || token.isCancellationRequested) return undefined;
        const opts = { timeoutMs: NOTEBOOK_TIMEOUT_MS, token, log };
        const h = await computeHover(document.lineAt(position.line).text, position.character, (e) => probeInKernel(kernel, probeSource, e, opts), cache);
        return toHover(h, position);
      } catch (e) {
        log(`notebook hover: ${e instanceof Error ? e.message : String(e)}`);
        return undefined;
      }
    },
  };

  const debugHover: vscode.HoverProvider = {
    async provideHover(document, position, token) {
      if (!vscode.debug.activeDebugSession || !setting('debug')) return undefined;
      try {
        const frame = await pausedFrame();
        if (!frame || token.isCancellationRequested) return undefined;
        const opts = { timeoutMs: DEBUG_TIMEOUT_MS, token, log };
        const h = await computeHover(
          document.lineAt(position.line).text,
          position.character,
          (e) => probeInDebugSession(frame.session, frame.frameId, probeSource, e, opts),
          cache,
        );
        return toHover(h, position);
      } catch (e) {
        log(`debug hover: ${e instanceof Error ? e.message : String(e)}`);
        return undefined;
      }
    },
  };

  context.subscriptions.push(
    vscode.languages.registerHoverProvider({ scheme: 'vscode-notebook-cell', language: 'python' }, notebookHover),
    vscode.languages.registerHoverProvider(
      [
        { scheme: 'file', language: 'python' },
        { scheme: 'untitled', language: 'python' },
      ],
      debugHover,
    ),
    vscode.commands.registerCommand(OPEN_PROBED_TENSOR_COMMAND, async (args?: Partial<OpenProbedTensorArgs>) => {
      const t = typeof args?.id === 'string' ? cache.get(args.id) : undefined;
      if (!t) {
        void vscode.window.showInformationMessage(
          `MoE Layout Inspector: ${args?.expression ? `\`${args.expression}\`` : 'that tensor'} is no longer cached; hover it again to open it.`,
        );
        return;
      }
      await openTensor(t);
    }),
  );
}
