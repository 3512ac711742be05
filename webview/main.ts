/**
 * The webview app shell (bundled to dist/webview.js as an IIFE). It owns the conversation with the host
 * (protocol.ts), the tabs, the saved state and the export buttons; the views themselves are pure
 * render(container, data, options) functions. Node-only modules (export/headless.ts) are never imported here.
 */
import * as d3 from 'd3';
import { PROTOCOL_VERSION, type HostMessage, type WebviewMessage, type WebviewState, type ViewId, type ExportFormat, type Tile } from './protocol';
import type { Trace, StageId } from '../kernels/trace';
import type { Arch } from '../kernels/spec';
import { themeFromDocument, type Theme } from './theme';
import { scaleTensorsOf, permutationOf, heatmapTensorsOf } from './model/traceData';
import * as stepperView from './views/stepper';
import * as scalesView from './views/scales';
import * as permutationView from './views/permutation';
import * as timingView from './views/timing';
import * as heatmapView from './views/heatmap';
import { renderViewSvg, serializeSvg } from './export/standalone';
import { fmtTime } from './views/svgkit';
import { missingStagesFor, viewKey, rowSegmentsOf } from './model/partial';

interface VsCodeApi {
  postMessage(message: WebviewMessage): void;
  getState(): WebviewState | undefined;
  setState(state: WebviewState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const VIEWS: { id: ViewId; label: string }[] = [
  { id: 'scales', label: 'Scale layout' },
  { id: 'permutation', label: 'Permutation' },
  { id: 'timing', label: 'Timing' },
  { id: 'heatmap', label: 'Tensor heatmap' },
];

function start(): void {
  const vscode = acquireVsCodeApi();
  const saved = vscode.getState();
  let restored = saved?.version === PROTOCOL_VERSION;
  let state: WebviewState = restored ? saved! : { version: PROTOCOL_VERSION, view: 'scales', stage: 'quantize', arch: 'sm90' };
  let trace: Trace | undefined;
  let compare: Trace | undefined;
  /** the trace shown is a partial one (the run goes on); the final Trace replaces it */
  let partial = false;
  /** what the current view was drawn from, so a partial trace redraws a view only when its data changed */
  let drawnKey = '';
  let theme: Theme = themeFromDocument(document);
  let heatmapMode: 'value' | 'error' = 'value';
  let scaleTensor: string | undefined = state.scaleTensor;
  let nextId = 1;
  const tileWaiters = new Map<number, { resolve: (t: Tile) => void; reject: (e: Error) => void }>();
  let firstPictureAt = 0;
  let stepper: stepperView.StepperHandle | undefined;
  let destroyView: (() => void) | undefined;

  const post = (m: WebviewMessage): void => vscode.postMessage(m);
  const save = (patch: Partial<WebviewState>): void => {
    state = { ...state, ...patch };
    vscode.setState(state);
  };

  // the host's HTML shell provides #app (with a loading line); standalone harnesses may not
  const mount = document.getElementById('app') ?? document.body.appendChild(document.createElement('div'));
  const app = d3.select(mount).attr('class', 'app');
  app.selectAll('*').remove();
  const header = app.append('header').attr('class', 'app-header');
  const progress = app.append('div').attr('class', 'progress').attr('role', 'progressbar').attr('aria-label', 'Run progress').attr('hidden', '');
  const errorBanner = app.append('div').attr('class', 'error-banner').attr('role', 'alert').attr('hidden', '');
  const body = app.append('div').attr('class', 'app-body');
  const sidebar = body.append('aside').attr('class', 'sidebar').attr('aria-label', 'Pipeline stages');
  const content = body.append('main').attr('class', 'content');
  const bar = content.append('div').attr('class', 'tabbar');
  const tabs = bar.append('div').attr('class', 'tabs').attr('role', 'tablist').attr('aria-label', 'Views');
  const tabButtons = tabs.selectAll<HTMLButtonElement, (typeof VIEWS)[number]>('button').data(VIEWS).join('button')
    .attr('type', 'button').attr('role', 'tab').attr('id', (v) => `tab-${v.id}`).attr('aria-controls', 'view-host')
    .attr('class', 'tab').html((v, i) => `${v.label} <kbd>${i + 1}</kbd>`);
  const actions = bar.append('div').attr('class', 'actions').attr('role', 'group').attr('aria-label', 'Export the current view');
  actions.selectAll('button').data<ExportFormat>(['svg', 'png', 'tikz']).join('button').attr('type', 'button').attr('class', 'secondary')
    .attr('data-format', (f) => f).attr('title', (f) => `Export the current view as ${f.toUpperCase()}`).text((f) => `Export ${f === 'tikz' ? 'TikZ' : f.toUpperCase()}`)
    .on('click', (_e, f) => exportView(f));
  const host = content.append('div').attr('id', 'view-host').attr('class', 'view-host').attr('role', 'tabpanel').attr('tabindex', -1);
  const toast = app.append('div').attr('class', 'toast').attr('role', 'status').attr('aria-live', 'polite');

  const showError = (msg: string | null): void => {
    errorBanner.attr('hidden', msg ? null : '').text(msg ?? '');
  };
  const notePicture = (): void => {
    if (firstPictureAt) return;
    firstPictureAt = performance.now();
    document.body.dataset.firstPictureMs = firstPictureAt.toFixed(1);
    document.dispatchEvent(new CustomEvent('moe-first-picture', { detail: firstPictureAt }));
  };
  const onFrame = (ms: number): void => {
    notePicture();
    document.dispatchEvent(new CustomEvent('moe-frame', { detail: ms }));
  };

  const requestTile = (tensor: string, rows: [number, number], cols: [number, number], mode: 'value' | 'error'): Promise<Tile> =>
    new Promise((resolve, reject) => {
      const requestId = nextId++;
      tileWaiters.set(requestId, { resolve, reject });
      post({ type: 'tile', requestId, tensor, mode, rows, cols });
    });

  const renderHeader = (): void => {
    header.selectAll('*').remove();
    if (!trace) {
      header.append('h1').text('MoE Layout Inspector');
      header.append('span').attr('class', 'muted').text('Waiting for a run…');
      return;
    }
    const s = trace.spec;
    header.append('h1').text(s.name);
    header.append('span').attr('class', 'spec').text(`M ${s.tokens} · K ${s.hidden} · N ${s.intermediate} · E ${s.experts} · top-${s.topk} · ${s.recipe.scaleFormat} scales · ${s.recipe.quant}`);
    const badges = header.append('span').attr('class', 'badges');
    badges.append('span').attr('class', `badge backend-${trace.backend.name}`).attr('title', trace.backend.reason).text(`${trace.backend.name.toUpperCase()} · ${trace.backend.device}`);
    if (compare) badges.append('span').attr('class', `badge backend-${compare.backend.name}`).text(`vs ${compare.backend.name.toUpperCase()}`);
    if (partial) badges.append('span').attr('class', 'badge running').text(`running · ${trace.stages.length}/${trace.stages.length + (trace.pending?.length ?? 0)} stages`);
    else badges.append('span').attr('class', 'badge').text(`total ${fmtTime(trace.totalMs)}`);
    const warn = trace.checks.filter((c) => c.level === 'warn' || c.level === 'fail');
    if (warn.length) badges.append('span').attr('class', 'badge warn').attr('title', warn.map((c) => c.message).join('\n')).text(`${warn.length} check${warn.length > 1 ? 's' : ''} to read`);
  };

  const selectView = (v: ViewId, focus = false): void => {
    save({ view: v });
    tabButtons.attr('aria-selected', (d) => String(d.id === v)).attr('tabindex', (d) => (d.id === v ? 0 : -1)).classed('active', (d) => d.id === v);
    host.attr('aria-labelledby', `tab-${v}`);
    renderView();
    if (focus) (tabButtons.filter((d) => d.id === v).node() as HTMLButtonElement | null)?.focus();
  };
  tabButtons.on('click', (_e, v) => selectView(v.id));
  tabs.on('keydown', (e: KeyboardEvent) => {
    // arrow keys move between tabs (WAI-ARIA tabs pattern); the stepper's ←/→ apply elsewhere
    const i = VIEWS.findIndex((v) => v.id === state.view);
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      e.stopPropagation();
      e.preventDefault();
      selectView(VIEWS[(i + (e.key === 'ArrowRight' ? 1 : VIEWS.length - 1)) % VIEWS.length]!.id, true);
    }
  });

  const size = (): { width: number; height: number } => {
    const el = host.node()!;
    // clientWidth includes the host's padding (14 px each side) and room for a scrollbar
    return { width: Math.max(480, el.clientWidth - 44), height: Math.max(360, el.clientHeight - 24) };
  };

  const renderView = (): void => {
    destroyView?.();
    destroyView = undefined;
    drawnKey = trace ? viewKey(trace, state.view, partial) : '';
    host.selectAll('*').remove();
    if (!trace) {
      host.append('div').attr('class', 'empty muted').text('Run “MoE: Inspect MoE Layer” to see a layer here.');
      return;
    }
    const el = host.append('div').attr('class', 'view').node()!;
    const { width, height } = size();
    // a partial trace: views whose data is not computed yet say so (with what they wait for) instead of failing
    const waitFor = partial ? missingStagesFor(trace, state.view) : [];
    if (waitFor.length) {
      const p = d3.select(el).append('div').attr('class', 'view-pending').attr('role', 'status').attr('data-waiting-for', waitFor.map((s) => s.id).join(' '));
      p.append('span').attr('class', 'spinner running').attr('aria-hidden', 'true');
      p.append('span').text(`${VIEWS.find((v) => v.id === state.view)!.label}: not computed yet — drawn when ${waitFor.map((s) => `“${s.title}”`).join(' and ')} ${waitFor.length > 1 ? 'finish' : 'finishes'}.`);
      return;
    }
    try {
      switch (state.view) {
        case 'scales': {
          const tensors = scaleTensorsOf(trace);
          if (!tensors.length) throw new Error('This trace carries no scale tensor with inline values.');
          const h = scalesView.render(el, { tensors }, {
            theme, arch: state.arch, tensor: scaleTensor, width, height, idPrefix: 'live-scales', onFrame,
            onArchChange: (a) => save({ arch: a }),
            onTensorChange: (n) => {
              scaleTensor = n;
              save({ scaleTensor: n });
            },
            onZoom: (panel, z) => panel === 'logical' && save({ zoom: z }),
            zoom: state.zoom,
          });
          if (h.mode === 'svg') notePicture();
          destroyView = h.destroy;
          break;
        }
        case 'permutation': {
          const m = permutationOf(trace);
          if (typeof m === 'string') throw new Error(m);
          destroyView = permutationView.render(el, { model: m, title: `Expert permutation — ${trace.spec.name}` }, { theme, width, idPrefix: 'live-perm' }).destroy;
          notePicture();
          break;
        }
        case 'timing':
          destroyView = timingView.render(el, { traces: compare ? [trace, compare] : [trace] }, { theme, width, stage: state.stage }).destroy;
          notePicture();
          break;
        case 'heatmap': {
          const list = heatmapTensorsOf(trace);
          const producer = state.heatmapTensor && !trace.tensors[state.heatmapTensor] ? trace.pending?.find((p) => p.outputs.includes(state.heatmapTensor!)) : undefined;
          if (producer) {
            // a tensor of a stage that has not run: say so, and keep the picker so another tensor can be chosen
            const p = d3.select(el).append('div').attr('class', 'view-pending').attr('role', 'status').attr('data-waiting-for', producer.id);
            p.append('span').attr('class', 'spinner running').attr('aria-hidden', 'true');
            p.append('span').text(`${state.heatmapTensor}: not computed yet — stage “${producer.title}” has not run.`);
          }
          const name = state.heatmapTensor && trace.tensors[state.heatmapTensor] ? state.heatmapTensor : list[0]?.name;
          if (!name) throw new Error('This trace has no tensor to show.');
          if (producer) {
            const pick = d3.select(el).append('div').attr('class', 'toolbar');
            const sel0 = pick.append('label').attr('class', 'field');
            sel0.append('span').text('Show instead');
            const s0 = sel0.append('select').attr('aria-label', 'Tensor to show');
            s0.selectAll('option').data(list).join('option').attr('value', (t) => t.name).text((t) => `${t.name} ${t.dtype}[${t.shape.join('×')}]`);
            s0.property('value', '').on('change', () => {
              save({ heatmapTensor: s0.property('value') as string });
              renderView();
            });
            break;
          }
          const bar2 = d3.select(el).append('div').attr('class', 'toolbar');
          const lab = bar2.append('label').attr('class', 'field');
          lab.append('span').text('Tensor');
          const sel = lab.append('select').attr('aria-label', 'Tensor to show');
          sel.selectAll('option').data(list).join('option').attr('value', (t) => t.name).text((t) => `${t.name} ${t.dtype}[${t.shape.join('×')}]`);
          sel.property('value', name).on('change', () => {
            save({ heatmapTensor: sel.property('value') as string });
            renderView();
          });
          const seg = bar2.append('div').attr('class', 'segmented').attr('role', 'radiogroup').attr('aria-label', 'Heatmap mode');
          seg.selectAll('button').data<'value' | 'error'>(['value', 'error']).join('button').attr('type', 'button').attr('role', 'radio')
            .attr('aria-checked', (m) => String(m === heatmapMode)).classed('active', (m) => m === heatmapMode)
            .text((m) => (m === 'value' ? 'Values' : '|error| vs float64'))
            .on('click', (_e, m) => {
              heatmapMode = m;
              renderView();
            });
          const holder = d3.select(el).append('div').node()!;
          // while the run goes on, the host holds no tensors to cut tiles from: say when they come
          const tiles: heatmapView.RequestTile = partial
            ? () => Promise.reject(new Error('values load when the run finishes (tiles come from the finished run)'))
            : requestTile;
          const segments = rowSegmentsOf(trace, trace.tensors[name]!);
          destroyView = heatmapView.render(holder, { tensor: trace.tensors[name]!, mode: heatmapMode, ...(segments ? { rowSegments: segments } : {}) }, { theme, width, height: height - 40, requestTile: tiles, onFrame }).destroy;
          break;
        }
      }
    } catch (e) {
      d3.select(el).append('div').attr('class', 'view-error').attr('role', 'alert').text(e instanceof Error ? e.message : String(e));
    }
  };

  const renderAll = (): void => {
    renderChrome();
    selectView(state.view);
  };

  /** header and stepper (not the view) */
  const renderChrome = (): void => {
    renderHeader();
    stepper?.destroy();
    sidebar.selectAll('*').remove();
    if (trace) {
      stepper = stepperView.render(sidebar.node()!, { trace }, {
        theme,
        stage: state.stage,
        keyTarget: document,
        onStage: (id: StageId) => {
          if (id === state.stage) return;
          save({ stage: id });
          post({ type: 'stage', stage: id });
          if (state.view === 'timing') renderView();
        },
        onView: (v) => selectView(v, true),
        onTensor: (n) => {
          const isScale = scaleTensorsOf(trace!).some((t) => t.name === n);
          if (isScale) {
            scaleTensor = n;
            save({ scaleTensor: n });
            selectView('scales');
          } else {
            save({ heatmapTensor: n });
            selectView('heatmap');
          }
        },
      });
    }
  };

  const exportView = (format: ExportFormat): void => {
    if (!trace) return;
    const requestId = nextId++;
    try {
      if (format === 'tikz') {
        post({ type: 'export', requestId, view: state.view, format, arch: state.arch });
        return;
      }
      const svgEl = renderViewSvg(document, state.view, { trace, compare, arch: state.arch, tensor: state.view === 'heatmap' ? state.heatmapTensor : scaleTensor }, { theme, width: 1000 });
      post({ type: 'export', requestId, view: state.view, format, svg: serializeSvg(svgEl) });
      toast.text(`Exporting ${format.toUpperCase()}…`);
    } catch (e) {
      showError(`Export failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  window.addEventListener('message', (ev: MessageEvent<HostMessage>) => {
    const m = ev.data;
    if (!m || typeof m !== 'object' || typeof m.type !== 'string') return;
    switch (m.type) {
      case 'trace':
        if (m.version !== PROTOCOL_VERSION) {
          showError(`This panel speaks protocol v${PROTOCOL_VERSION}, the host sent v${String(m.version)}: reload the window.`);
          return;
        }
        // benchmark hook: when the trace arrived (first picture time = this + render time)
        document.body.dataset.traceReceivedMs ??= performance.now().toFixed(1);
        {
          const wasPartial = partial;
          trace = m.trace;
          compare = m.compare;
          partial = m.partial === true;
          app.classed('run-stopped', false).classed('run-partial', partial);
          showError(null);
          if (!partial) progress.attr('hidden', '');
          // a fresh panel starts on the run's architecture; a restored one keeps what the user picked
          save({ spec: trace.spec, arch: restored ? state.arch : (trace.spec.arch as Arch) });
          restored = true;
          // the next partial of the same run: stepper and header always, the view only when its data changed
          if (partial && wasPartial && viewKey(trace, state.view, partial) === drawnKey) renderChrome();
          else renderAll();
          post({ type: 'drawn', partial });
        }
        break;
      case 'progress':
        progress.attr('hidden', null).attr('aria-valuenow', Math.round(m.fraction * 100)).style('--fraction', String(m.fraction)).attr('title', m.message);
        break;
      case 'error':
        showError(m.message);
        progress.attr('hidden', '');
        // a partial picture stays, but nothing is running any more
        app.classed('run-stopped', true);
        break;
      case 'tile':
        tileWaiters.get(m.requestId)?.resolve(m.tile);
        tileWaiters.delete(m.requestId);
        break;
      case 'tileError':
        tileWaiters.get(m.requestId)?.reject(new Error(m.message));
        tileWaiters.delete(m.requestId);
        break;
      case 'exportDone':
        toast.text(`Saved ${m.path}`);
        break;
      case 'exportRequest':
        exportView(m.format);
        break;
      case 'selectView':
        if (m.stage) stepper?.select(m.stage);
        selectView(m.view);
        break;
    }
  });

  // theme switches: VS Code swaps the body class and the variables; colours are resolved again and views redrawn
  new MutationObserver(() => {
    theme = themeFromDocument(document);
    renderView();
  }).observe(document.body, { attributes: true, attributeFilter: ['class'] });
  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(renderView, 150);
  });

  renderHeader();
  renderView();
  post({ type: 'ready', version: PROTOCOL_VERSION });
}

start();
