/**
 * Export of the view shown: the webview renders it as a standalone SVG (or, for TikZ, names what to draw) and asks
 * the host to save it; the host answers with the path, or with the reason it failed — shown here, never only logged.
 */
import type { ExportFormat } from '../../kernels/protocol';
import { viewById } from '../views/registry';
import { renderViewSvg, serializeSvg } from '../export/standalone';
import type { Theme } from '../theme';
import type { Connection } from './messages';
import type { AppState } from './state';

export interface ExportUi {
  progress(text: string): void;
  done(text: string): void;
  failed(text: string): void;
}

export async function exportCurrentView(format: ExportFormat, doc: Document, state: AppState, theme: Theme, conn: Connection, ui: ExportUi): Promise<void> {
  const trace = state.trace;
  const entry = viewById(state.saved.view);
  if (!trace || !entry) return ui.failed('Export failed: no run is shown yet.');
  if (!entry.exportFormats.includes(format)) return ui.failed(`Export failed: the ${entry.label} view exports as ${entry.exportFormats.join(', ')}, not ${format}.`);
  const tensor = entry.exportTensor?.(state.saved);
  try {
    let svg: string | undefined;
    if (format !== 'tikz') {
      const input = { trace, ...(state.compare ? { compare: state.compare } : {}), ...(state.profile ? { profile: state.profile } : {}), ...(tensor ? { tensor } : {}), valuesOf: state.valuesOf };
      svg = serializeSvg(renderViewSvg(doc, entry.id, input, { theme, width: 1000 }));
    }
    ui.progress(`Exporting ${format.toUpperCase()}…`);
    const reply = await conn.request({ type: 'export', view: entry.id, format, ...(svg ? { svg } : {}), ...(tensor ? { tensor } : {}) });
    ui.done(reply.path ? `Saved ${reply.path}` : 'Export cancelled.');
  } catch (e) {
    ui.failed(`Export failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
