/** A fresh jsdom document per test (no shared globals); canvas is absent in jsdom, so its warning is silenced. */
import { JSDOM, VirtualConsole } from 'jsdom';

export function makeDom(html = '<!doctype html><html><body></body></html>'): { window: JSDOM['window']; document: Document; container: HTMLElement } {
  const virtualConsole = new VirtualConsole();
  virtualConsole.on('jsdomError', (e) => {
    if (!/Not implemented: HTMLCanvasElement/.test(String(e.message))) console.error(e);
  });
  const dom = new JSDOM(html, { pretendToBeVisual: true, virtualConsole });
  const document = dom.window.document;
  const container = document.createElement('div');
  document.body.appendChild(container);
  return { window: dom.window, document, container };
}
