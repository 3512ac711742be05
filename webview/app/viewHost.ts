/**
 * Draws the current view into the view host through its registry entry: a partial trace's view that waits for
 * stages says so (and which), a view that fails says why (and the host's log hears it), and a new partial of the
 * same run redraws the view only when its data changed (the entry's data key).
 */
import * as d3 from 'd3';
import { missingStagesFor, viewById, viewKey } from '../views/registry';
import type { ViewContext, ViewHandle } from '../views/context';
import type { Page } from './page';
import type { AppState } from './state';

/** What a view needs from the app shell besides the state (see ViewContext). */
export type ViewServices = Pick<ViewContext, 'requestTile' | 'loadValues' | 'onFrame' | 'notePicture' | 'theme'> & {
  /** a view failed to draw: said on screen and to the host's log */
  failed(view: string, message: string): void;
};

export class ViewHost {
  private handle: ViewHandle | undefined;
  /** what the view on screen was drawn from */
  private drawnKey = '';

  constructor(
    private readonly page: Page,
    private readonly state: AppState,
    private readonly services: () => ViewServices,
  ) {}

  /** The same picture would be drawn: the next partial changed nothing this view shows. */
  unchanged(): boolean {
    const { trace, partial, saved } = this.state;
    return !!trace && partial && viewKey(trace, saved.view, partial) === this.drawnKey;
  }

  private size(): { width: number; height: number } {
    const el = this.page.host.node()!;
    // clientWidth includes the host's padding (14 px each side) and room for a scrollbar
    return { width: Math.max(480, el.clientWidth - 44), height: Math.max(360, el.clientHeight - 24) };
  }

  render(): void {
    this.handle?.destroy();
    this.handle = undefined;
    const { trace, partial, saved } = this.state;
    this.drawnKey = trace ? viewKey(trace, saved.view, partial) : '';
    const host = this.page.host;
    host.selectAll('*').remove();
    if (!trace) {
      host.append('div').attr('class', 'empty muted').text('Run “MoE: Inspect MoE Layer” to see a layer here.');
      return;
    }
    const entry = viewById(saved.view);
    const el = host.append('div').attr('class', 'view').node()!;
    if (!entry) return this.fail(el, saved.view, `unknown view '${saved.view}'`);
    // a partial trace: views whose data is not computed yet say so (with what they wait for) instead of failing
    const waitFor = partial ? missingStagesFor(trace, entry.id) : [];
    if (waitFor.length) {
      const p = d3.select(el).append('div').attr('class', 'view-pending').attr('role', 'status').attr('data-waiting-for', waitFor.map((s) => s.id).join(' '));
      p.append('span').attr('class', 'spinner running').attr('aria-hidden', 'true');
      p.append('span').text(`${entry.label}: not computed yet — drawn when ${waitFor.map((s) => `“${s.title}”`).join(' and ')} ${waitFor.length > 1 ? 'finish' : 'finishes'}.`);
      return;
    }
    const s = this.services();
    const ctx: ViewContext = {
      ...s,
      trace,
      ...(this.state.compare ? { compare: this.state.compare } : {}),
      ...(this.state.profile ? { profile: this.state.profile } : {}),
      partial,
      ...this.size(),
      state: saved,
      save: (patch) => this.state.save(patch),
      redraw: () => this.render(),
      values: this.state.valuesOf,
      ui: this.state.ui,
    };
    try {
      this.handle = entry.render(el, ctx);
    } catch (e) {
      this.fail(el, entry.id, e instanceof Error ? e.message : String(e));
    }
  }

  private fail(el: HTMLElement, view: string, message: string): void {
    d3.select(el).append('div').attr('class', 'view-error').attr('role', 'alert').text(message);
    this.services().failed(view, message);
  }
}
