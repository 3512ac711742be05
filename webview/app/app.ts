/**
 * The app shell: wires the state (state.ts), the conversation with the host (messages.ts), the page (page.ts), the
 * stepper (sidebar.ts), the view host (viewHost.ts, services.ts), the keys (keyboard.ts) and exports (exporter.ts).
 * Everything view-specific is in the view registry (views/registry.ts).
 */
import { PROTOCOL_VERSION, type ExportFormat, type HostEvent } from '../../kernels/protocol';
import { themeFromDocument, type Theme } from '../theme';
import { viewById, viewsFor } from '../views/registry';
import { AppState, type VsCodeApi } from './state';
import { connect, type Connection } from './messages';
import { buildPage, focusTab, renderActions, renderHeader, renderTabs, showError, showProgress, type Page } from './page';
import { ViewHost } from './viewHost';
import { bindTabArrows, bindViewKeys } from './keyboard';
import { exportCurrentView } from './exporter';
import { marks } from './instrument';
import { Sidebar } from './sidebar';
import { viewServices } from './services';

export function startApp(vscode: VsCodeApi, doc: Document): void {
  const win = doc.defaultView!;
  const state = new AppState(vscode);
  const page = buildPage(doc);
  const mark = marks(doc);
  let theme: Theme = themeFromDocument(doc);

  const conn: Connection = connect(win, vscode, {
    event: (m) => onEvent(m),
    refused: (reason) => {
      showError(page, `The host sent a message this panel cannot read: ${reason}`);
      conn.notify({ type: 'log', level: 'warn', message: `webview refused a host message: ${reason}` });
    },
  });

  const views = new ViewHost(page, state, viewServices(state, conn, mark, () => theme));
  const sidebar = new Sidebar(page, state, doc, { redrawView: () => views.render(), selectView: (id) => selectView(id) });

  const selectView = (id: string, focus = false): void => {
    state.save({ view: id });
    renderTabs(page, state.trace ? viewsFor(state.trace, state.compare) : [], id, (v) => selectView(v));
    renderActions(page, state.trace ? viewById(id) : undefined, exportAs);
    views.render();
    if (focus) focusTab(page, id);
  };
  const viewIds = (): string[] => (state.trace ? viewsFor(state.trace, state.compare).map((v) => v.id) : []);
  bindViewKeys(doc, { views: viewIds, current: () => state.saved.view, select: selectView });
  bindTabArrows(page.tabs.node()!, { views: viewIds, current: () => state.saved.view, select: selectView });

  const exportAs = (format: ExportFormat): void =>
    void exportCurrentView(format, doc, state, theme, conn, {
      progress: (t) => page.toast.text(t),
      done: (t) => page.toast.text(t),
      failed: (t) => {
        page.toast.text('');
        showError(page, t);
      },
    });

  /** header and stepper (not the view); the next trace of the same run updates the stepper in place */
  const renderChrome = (sameRun: boolean): void => {
    renderHeader(page, state, (arch) => conn.notify({ type: 'rerun', arch }), (command) => conn.notify({ type: 'command', command }));
    sidebar.render(theme, sameRun);
  };

  const onTrace = (m: Extract<HostEvent, { type: 'trace' }>): void => {
    if (m.version !== PROTOCOL_VERSION) {
      showError(page, `This panel speaks protocol v${PROTOCOL_VERSION}, the host sent v${String(m.version)}: reload the window.`);
      return;
    }
    mark.traceReceived();
    const previous = state.trace;
    const samePartialRun = state.showTrace(m);
    // the next partial of the run shown, or its final trace: the same stages, further on
    const ids = (t: typeof previous): string => (t ? [...t.stages, ...(t.pending ?? [])].map((x) => x.id).join(',') : '');
    const sameRun = !!previous?.pending && ids(previous) === ids(m.trace) && previous.spec.name === m.trace.spec.name;
    page.app.classed('run-stopped', false).classed('run-partial', state.partial);
    showError(page, null);
    if (!state.partial) page.progress.attr('hidden', '');
    // the next partial of the same run: stepper and header always, the view only when its data changed
    const unchanged = samePartialRun && views.unchanged();
    renderChrome(sameRun);
    if (unchanged) renderTabs(page, viewsFor(state.trace!, state.compare), state.saved.view, (v) => selectView(v));
    else selectView(state.saved.view);
    conn.notify({ type: 'drawn', partial: state.partial });
  };

  const onEvent = (m: HostEvent): void => {
    switch (m.type) {
      case 'trace':
        return onTrace(m);
      case 'progress':
        return showProgress(page, m.fraction, m.message);
      case 'error':
        showError(page, m.message);
        page.progress.attr('hidden', '');
        // a partial picture stays, but nothing is running any more
        page.app.classed('run-stopped', true);
        return;
      case 'exportRequest':
        return exportAs(m.format);
      case 'profile':
        // imported kernel times: the timing view draws them beside the run's own
        state.setProfile(m.profile);
        if (state.trace) views.render();
        return;
    }
  };

  // theme switches: VS Code swaps the body class and the variables; colours are resolved again and views redrawn
  new win.MutationObserver(() => {
    theme = themeFromDocument(doc);
    views.render();
  }).observe(doc.body, { attributes: true, attributeFilter: ['class'] });
  let resizeTimer = 0;
  win.addEventListener('resize', () => {
    win.clearTimeout(resizeTimer);
    resizeTimer = win.setTimeout(() => views.render(), 150);
  });

  renderHeader(page, state, () => undefined);
  views.render();
  conn.notify({ type: 'ready', version: PROTOCOL_VERSION });
}

export type { Page };
