/**
 * The app shell as it ships — webview/main.ts bundled by esbuild the way esbuild.mjs does — booted in jsdom with a
 * stub acquireVsCodeApi that records posted messages and keeps setState/getState. Shared by the shell's tests.
 */
import { JSDOM, VirtualConsole } from 'jsdom';
import * as esbuild from 'esbuild';
import { join } from 'node:path';
import { REPO_ROOT } from '../golden';
import type { HostMessage, WebviewMessage, WebviewState } from '../../webview/protocol';

let bundle: string | undefined;
async function webviewJs(): Promise<string> {
  bundle ??= (await esbuild.build({ entryPoints: [join(REPO_ROOT, 'webview/main.ts')], bundle: true, platform: 'browser', format: 'iife', target: 'es2022', write: false, logLevel: 'silent' })).outputFiles[0]!.text;
  return bundle;
}

export async function bootWebview(saved?: WebviewState, appHtml = '') {
  const virtualConsole = new VirtualConsole();
  const errors: string[] = [];
  virtualConsole.on('jsdomError', (e) => !/Not implemented: HTMLCanvasElement/.test(e.message) && errors.push(e.message));
  const dom = new JSDOM(`<!doctype html><html><body class="vscode-dark"><div id="app">${appHtml}</div></body></html>`, { runScripts: 'outside-only', pretendToBeVisual: true, virtualConsole });
  const posted: WebviewMessage[] = [];
  let state: WebviewState | undefined = saved;
  (dom.window as unknown as { acquireVsCodeApi: () => unknown }).acquireVsCodeApi = () => ({
    // JSON copy: the real postMessage clones, and the copy lives in this realm (deepEqual compares prototypes)
    postMessage: (m: WebviewMessage) => posted.push(JSON.parse(JSON.stringify(m)) as WebviewMessage),
    getState: () => state,
    setState: (s: WebviewState) => (state = s),
  });
  dom.window.eval(await webviewJs());
  const send = (m: HostMessage): void => void dom.window.dispatchEvent(new dom.window.MessageEvent('message', { data: m }));
  const doc = dom.window.document;
  const key = (k: string): void => void doc.body.dispatchEvent(new dom.window.KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true }));
  return { dom, doc, posted, send, key, errors, state: () => state };
}
