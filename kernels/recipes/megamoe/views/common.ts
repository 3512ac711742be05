/**
 * What the MegaMoE views share: options, mounting an <svg> into a container, a titled message when the trace lacks
 * what a view draws, and reading small stage tensors out of a Trace (inline values only: views never compute).
 */
import * as d3 from 'd3';
import type { Trace, TensorRef } from '../../../trace';
import { THEMES, type Theme } from '../../../../webview/theme';
import { createSvg, type Svg } from '../../../../webview/views/svgkit';

export interface MegamoeViewOptions {
  theme?: Theme;
  width?: number;
  /** prefix of pattern ids (several views on one page) */
  idPrefix?: string;
}

export const themeOf = (o?: MegamoeViewOptions): Theme => o?.theme ?? THEMES.dark;

export function mount(container: HTMLElement, svg: Svg, cls: string): void {
  const root = d3.select(container);
  root.selectAll('*').remove();
  root.classed(`moe-view ${cls}`, true);
  container.appendChild(svg.node()!);
}

/** a picture that says what is missing and how to get it */
export function messageSvg(doc: Document, theme: Theme, title: string, message: string, width = 720): Svg {
  const svg = createSvg(doc, width, 70, theme, title);
  svg.append('text').attr('class', 'title').attr('x', 14).attr('y', 22).attr('font-size', 14).attr('font-weight', 600).text(title);
  svg.append('text').attr('class', 'message').attr('x', 14).attr('y', 46).attr('fill', theme.muted).attr('font-size', 12).text(message);
  return svg;
}

export function tensorOf(trace: Trace, name: string): TensorRef | undefined {
  return trace.tensors[name];
}

/** inline values of a tensor, or undefined when the trace holds only its summary */
export function inlineOf(trace: Trace, name: string): number[] | undefined {
  return trace.tensors[name]?.inline;
}

export const fmtShape = (s: readonly number[]): string => `(${s.join(', ')})`;

export function fmtBytesShort(b: number): string {
  const u = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) {
    b /= 1024;
    i++;
  }
  return `${b.toFixed(b >= 100 || i === 0 ? 0 : 1)} ${u[i]}`;
}
