/**
 * The frame every torchao training view shares: clear the container, mark it, build the model from the Trace, or
 * say in one sentence why this trace cannot be drawn (another recipe's trace, inconsistent groups).
 */
import * as d3 from 'd3';
import type { Trace } from '../../../trace';
import type { Theme } from '../../../../webview/theme';
import { THEMES } from '../../../../webview/theme';
import { trainingModel, type TrainingModel } from './model';

export interface TrainingViewOptions {
  theme?: Theme;
  width?: number;
  /** prefix of pattern ids (several views in one document) */
  idPrefix?: string;
}

export function frame(container: HTMLElement, trace: Trace, cls: string, options: TrainingViewOptions): { model: TrainingModel; theme: Theme; width: number; prefix: string } | undefined {
  const root = d3.select(container);
  root.selectAll('*').remove();
  root.classed(`moe-view torchao-view ${cls}`, true);
  const model = trainingModel(trace);
  if (typeof model === 'string') {
    root.append('div').attr('class', 'view-message').text(model);
    return undefined;
  }
  return { model, theme: options.theme ?? THEMES.dark, width: Math.max(480, options.width ?? 960), prefix: options.idPrefix ?? cls };
}
