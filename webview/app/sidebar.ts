/**
 * The stepper in the sidebar: created for a run, updated in place by the next (partial or final) trace of the same
 * run, recreated for another run. Selecting a stage saves it (and redraws a view that follows the stage); a tensor
 * chip opens the first view that can show that tensor (views/registry.ts).
 */
import * as stepperView from '../views/stepper';
import { viewById, viewForTensor } from '../views/registry';
import type { Theme } from '../theme';
import type { Page } from './page';
import type { AppState } from './state';

export interface SidebarActions {
  /** redraw the current view */
  redrawView(): void;
  selectView(id: string): void;
}

export class Sidebar {
  private stepper: stepperView.StepperHandle | undefined;

  constructor(
    private readonly page: Page,
    private readonly state: AppState,
    private readonly doc: Document,
    private readonly actions: SidebarActions,
  ) {}

  render(theme: Theme, sameRun: boolean): void {
    const trace = this.state.trace;
    if (sameRun && this.stepper && trace) return this.stepper.setTrace(trace);
    this.stepper?.destroy();
    this.stepper = undefined;
    this.page.sidebar.selectAll('*').remove();
    if (!trace || trace.stages.length + (trace.pending?.length ?? 0) === 0) return;
    const state = this.state;
    this.stepper = stepperView.render(this.page.sidebar.node()!, { trace }, {
      theme,
      ...(state.saved.stage ? { stage: state.saved.stage } : {}),
      keyTarget: this.doc,
      onStage: (id) => {
        if (id === state.saved.stage) return;
        state.save({ stage: id });
        if (viewById(state.saved.view)?.followsStage) this.actions.redrawView();
      },
      onTensor: (name) => {
        const to = state.trace && viewForTensor(state.trace, name);
        if (!to) return;
        state.save(to.patch);
        this.actions.selectView(to.view);
      },
    });
  }
}
