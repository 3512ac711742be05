/**
 * Export Layout Diagram: ask where to save (the host owns the file system, the webview only renders), convert,
 * write. SVG is written as the webview rendered it; PNG is rasterised host-side; TikZ is generated from the Trace.
 */
import * as vscode from 'vscode';
import { homedir } from 'node:os';
import { MoeError } from '../kernels/errors';
import { writeFileAtomic } from '../kernels/io/atomicWrite';
import type { Trace } from '../kernels/trace';
import type { ExportFormat, ViewId } from '../kernels/protocol';
import { exportBytes, defaultExportName, EXPORT_FILTERS } from './exportFormats';

export async function exportView(view: ViewId, format: ExportFormat, svg: string | undefined, trace: Trace | undefined, tensor?: string): Promise<string | undefined> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(homedir());
  const target = await vscode.window.showSaveDialog({
    title: `Export ${view} diagram as ${format.toUpperCase()}`,
    defaultUri: vscode.Uri.joinPath(folder, defaultExportName(view, format, trace)),
    filters: EXPORT_FILTERS[format],
    saveLabel: 'Export',
  });
  if (!target) return undefined;
  const bytes = await exportBytes(view, format, svg, trace, tensor);
  try {
    // a local file is replaced atomically (kernels/io/atomicWrite.ts): a reader never sees half a diagram; other
    // schemes (a remote workspace) have only the file-system provider's write
    if (target.scheme === 'file') writeFileAtomic(target.fsPath, bytes, { what: 'export' });
    else await vscode.workspace.fs.writeFile(target, bytes);
  } catch (e) {
    if (e instanceof MoeError) throw e;
    throw new MoeError('E_IO', `export: could not write ${target.fsPath}: ${e instanceof Error ? e.message : String(e)}`);
  }
  void vscode.window.showInformationMessage(`Exported ${view} diagram to ${target.fsPath}`);
  return target.fsPath;
}
