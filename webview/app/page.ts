/**
 * The page's layout: header (run, badges, re-run), progress bar, error banner, the stepper's sidebar, the tab bar
 * with the export buttons, the view host and the toast — built once, then filled in by the app shell.
 */
import * as d3 from 'd3';
import type { ArchChoice, ExportFormat, PanelCommand } from '../../kernels/protocol';
import type { Trace } from '../../kernels/trace';
import type { ViewEntry } from '../views/context';
import { fmtTime } from '../views/svgkit';

type Sel<E extends d3.BaseType> = d3.Selection<E, unknown, null, undefined>;

export interface Page {
  app: Sel<HTMLElement>;
  header: Sel<HTMLElement>;
  progress: Sel<HTMLDivElement>;
  banner: Sel<HTMLDivElement>;
  sidebar: Sel<HTMLElement>;
  tabs: Sel<HTMLDivElement>;
  actions: Sel<HTMLDivElement>;
  host: Sel<HTMLDivElement>;
  toast: Sel<HTMLDivElement>;
}

export function buildPage(doc: Document): Page {
  // the host's HTML shell provides #app (with a loading line); standalone harnesses may not
  const mount = doc.getElementById('app') ?? doc.body.appendChild(doc.createElement('div'));
  const app = d3.select<HTMLElement, unknown>(mount).attr('class', 'app');
  app.selectAll('*').remove();
  const header = app.append('header').attr('class', 'app-header');
  const progress = app.append('div').attr('class', 'progress').attr('role', 'progressbar').attr('aria-label', 'Run progress').attr('hidden', '');
  const banner = app.append('div').attr('class', 'error-banner').attr('role', 'alert').attr('hidden', '');
  const body = app.append('div').attr('class', 'app-body');
  const sidebar = body.append('aside').attr('class', 'sidebar').attr('aria-label', 'Pipeline stages');
  const content = body.append('main').attr('class', 'content');
  const bar = content.append('div').attr('class', 'tabbar');
  const tabs = bar.append('div').attr('class', 'tabs').attr('role', 'tablist').attr('aria-label', 'Views');
  const actions = bar.append('div').attr('class', 'actions').attr('role', 'group').attr('aria-label', 'Export the current view');
  const host = content.append('div').attr('id', 'view-host').attr('class', 'view-host').attr('role', 'tabpanel').attr('tabindex', -1);
  const toast = app.append('div').attr('class', 'toast').attr('role', 'status').attr('aria-live', 'polite');
  return { app, header, progress, banner, sidebar, tabs, actions, host, toast };
}

export function showError(page: Page, msg: string | null): void {
  page.banner.attr('hidden', msg ? null : '').text(msg ?? '');
}

export function showProgress(page: Page, fraction: number, message: string): void {
  page.progress.attr('hidden', null).attr('aria-valuenow', Math.round(fraction * 100)).style('--fraction', String(fraction)).attr('title', message);
}

/**
 * How the run was sharded, for the header: "EP 8 rank 3" (expert parallelism: this rank's E/ep experts; round-robin
 * placement said), "TP 4" (a recipe's tensor-parallel option: every GPU holds all experts and I/tp); '' for one GPU.
 */
export function parallelismOf(s: Trace['spec']): string {
  const parts: string[] = [];
  const ep = s.expertParallel;
  if (ep && ep.size > 1) parts.push(`EP ${ep.size} rank ${ep.rank}${ep.strategy === 'round_robin' ? ' (round-robin)' : ''}`);
  const tp = s.recipe.options?.['tp'];
  if (tp !== undefined && tp > 1) parts.push(`TP ${tp}`);
  return parts.join(' · ');
}

/** The run in one line, its backend and state as badges, and the architectures it can be re-run on. */
export function renderHeader(
  page: Page,
  run: { trace?: Trace; compare?: Trace; partial: boolean; archs: ArchChoice[] },
  onRerun: (arch: string) => void,
  onCommand: (command: PanelCommand) => void = () => undefined,
): void {
  const header = page.header;
  header.selectAll('*').remove();
  const { trace, compare, partial } = run;
  if (!trace) {
    header.append('h1').text('MoE Layout Inspector');
    header.append('span').attr('class', 'muted').text('Waiting for a run…');
    return;
  }
  const s = trace.spec;
  header.append('h1').text(s.name);
  const par = parallelismOf(s);
  header.append('span').attr('class', 'spec')
    .text(`M ${s.tokens} · K ${s.hidden} · N ${s.intermediate} · E ${s.experts} · top-${s.topk}${par ? ` · ${par}` : ''} · ${s.recipe.scaleFormat} scales · ${s.recipe.quant} · ${trace.recipe.label}`);
  const badges = header.append('span').attr('class', 'badges');
  badges.append('span').attr('class', `badge backend-${trace.backend.name}`).attr('title', trace.backend.reason).text(`${trace.backend.name.toUpperCase()} · ${trace.backend.device}`);
  if (compare) badges.append('span').attr('class', `badge backend-${compare.backend.name}`).attr('title', `compared with ${compare.spec.name} · ${compare.spec.arch.toUpperCase()} · ${compare.backend.device} (${compare.createdAt})`)
    .text(`vs ${compare.spec.arch.toUpperCase()} · ${compare.backend.name.toUpperCase()}`);
  if (partial) badges.append('span').attr('class', 'badge running').text(`running · ${trace.stages.length}/${trace.stages.length + (trace.pending?.length ?? 0)} stages`);
  else badges.append('span').attr('class', 'badge').text(`total ${fmtTime(trace.totalMs)}`);
  const warn = trace.checks.filter((c) => c.level === 'warn' || c.level === 'fail');
  if (warn.length) badges.append('span').attr('class', 'badge warn').attr('title', warn.map((c) => c.message).join('\n')).text(`${warn.length} check${warn.length > 1 ? 's' : ''} to read`);
  if (trace.gemm.caveat) badges.append('span').attr('class', 'badge warn').attr('title', trace.gemm.caveat).text('GEMM stand-in');
  if (!partial) {
    // the palette's MoE: Import Profiler Trace… and MoE: Compare With…, one click away
    const tools = header.append('div').attr('class', 'header-tools').attr('role', 'group').attr('aria-label', 'Bring in another measurement');
    tools.append('button').attr('type', 'button').attr('class', 'secondary').attr('data-command', 'importProfile')
      .attr('title', 'Import a PyTorch profiler trace (.json / .json.gz) or an ncu CSV: its kernel times beside this run\'s in the Timing view').text('Import profiler trace…')
      .on('click', () => onCommand('importProfile'));
    tools.append('button').attr('type', 'button').attr('class', 'secondary').attr('data-command', 'compare')
      .attr('title', 'Show a second run beside this one: a saved trace (moe-inspect run --trace), or this layer on another architecture or backend').text('Compare with…')
      .on('click', () => onCommand('compare'));
  }
  if (run.archs.length > 1) {
    // the layouts drawn are the run's own: another architecture is another run
    const seg = header.append('div').attr('class', 'segmented rerun').attr('role', 'radiogroup').attr('aria-label', 'Architecture (re-runs the layer)');
    seg.selectAll('button').data(run.archs).join('button').attr('type', 'button').attr('role', 'radio').attr('data-arch', (a) => a.id)
      .attr('aria-checked', (a) => String(a.id === s.arch)).classed('active', (a) => a.id === s.arch)
      .attr('title', (a) => (a.id === s.arch ? `this run: ${a.label}` : `re-run on ${a.label}`)).text((a) => a.label)
      .on('click', (_e, a) => a.id !== s.arch && onRerun(a.id));
  }
}

/** Tabs of the views that apply, numbered for the keys 1…N. */
export function renderTabs(page: Page, views: readonly ViewEntry[], current: string, onSelect: (id: string) => void): void {
  page.tabs.selectAll<HTMLButtonElement, ViewEntry>('button').data(views, (v) => v.id).join('button')
    .attr('type', 'button').attr('role', 'tab').attr('id', (v) => `tab-${v.id}`).attr('aria-controls', 'view-host').attr('class', 'tab')
    .html((v, i) => `${v.label} <kbd>${i + 1}</kbd>`)
    .attr('aria-selected', (v) => String(v.id === current)).attr('tabindex', (v) => (v.id === current ? 0 : -1)).classed('active', (v) => v.id === current)
    .on('click', (_e, v) => onSelect(v.id));
  page.host.attr('aria-labelledby', `tab-${current}`);
}

export function focusTab(page: Page, id: string): void {
  (page.tabs.select(`#tab-${id}`).node() as HTMLButtonElement | null)?.focus();
}

/** The export buttons of the current view's formats. */
export function renderActions(page: Page, entry: ViewEntry | undefined, onExport: (f: ExportFormat) => void): void {
  page.actions.selectAll<HTMLButtonElement, ExportFormat>('button').data(entry?.exportFormats ?? [], (f) => f).join('button')
    .attr('type', 'button').attr('class', 'secondary').attr('data-format', (f) => f).attr('title', (f) => `Export the current view as ${f.toUpperCase()}`)
    .text((f) => `Export ${f === 'tikz' ? 'TikZ' : f.toUpperCase()}`)
    .on('click', (_e, f) => onExport(f));
}
