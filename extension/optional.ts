/**
 * Wires in the tensor hover (extension/hover/, developed separately): its "open" link lands here. A probed tensor
 * is not a layer run, so it opens as a JSON document (dtype, shape, strides, storage, layout verdicts, sample)
 * beside the editor rather than in the layer panel.
 */
import * as vscode from 'vscode';
import { registerHoverProviders, type ProbedTensor } from './hover/index';

export function registerOptional(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): void {
  try {
    registerHoverProviders(context, async (t: ProbedTensor) => {
      const doc = await vscode.workspace.openTextDocument({ language: 'json', content: `${JSON.stringify(t, null, 2)}\n` });
      await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
    });
  } catch (e) {
    // the hover is an extra: a failure to register it must not take the inspector down with it
    log.error(`hover providers not registered: ${e instanceof Error ? e.message : String(e)}`);
  }
}
