/**
 * Headless export (Node only: the extension host and the CLI). Renders a view through jsdom with the same code the
 * webview runs, so exported pictures and on-screen pictures cannot drift apart. main.ts must never import this.
 */
import { JSDOM } from 'jsdom';
import type { ViewId } from '../../kernels/protocol';
import { renderViewSvg, serializeSvg, type ExportInput, type ExportOptions } from './standalone';

export type { ExportInput, ExportOptions } from './standalone';
export { svgToPng } from './png';
export { toTikz } from './standalone';

export function toSvg(view: ViewId, data: ExportInput, options: ExportOptions = {}): string {
  const dom = new JSDOM('<!doctype html><html><body></body></html>');
  try {
    return serializeSvg(renderViewSvg(dom.window.document, view, data, options));
  } finally {
    dom.window.close();
  }
}
