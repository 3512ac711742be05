/**
 * The app shell as it ships — webview/main.ts bundled by esbuild the way esbuild.mjs does — booted in jsdom with a
 * stub acquireVsCodeApi that records posted envelopes and keeps setState/getState, and a host side that sends
 * events and answers requests in the protocol's envelopes (kernels/protocol.ts). Shared by the shell's tests.
 */
import { JSDOM, VirtualConsole } from 'jsdom';
import * as esbuild from 'esbuild';
import { join } from 'node:path';
import { REPO_ROOT } from '../golden';
import type { Envelope, HostBody, HostEvent, ReplyError, WebviewBody, WebviewState } from '../../kernels/protocol';

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
  const envelopes: Envelope<WebviewBody>[] = [];
  let state: unknown = saved;
  (dom.window as unknown as { acquireVsCodeApi: () => unknown }).acquireVsCodeApi = () => ({
    // a structured clone, as the real postMessage makes (typed arrays stay typed), living in this realm
    postMessage: (m: Envelope<WebviewBody>) => envelopes.push(structuredClone(m)),
    getState: () => state,
    setState: (s: WebviewState) => (state = s),
  });
  dom.window.eval(await webviewJs());
  let nextId = 1000;
  const deliver = (e: unknown): void => void dom.window.dispatchEvent(new dom.window.MessageEvent('message', { data: e }));
  /** a host event */
  const send = (body: HostEvent): void => deliver({ id: nextId++, body });
  /** the host's answer to request `to` */
  const reply = (to: number, body: HostBody): void => deliver({ id: nextId++, inReplyTo: to, body });
  const replyError = (to: number, error: ReplyError): void => deliver({ id: nextId++, inReplyTo: to, error });
  const doc = dom.window.document;
  const key = (k: string): void => void doc.body.dispatchEvent(new dom.window.KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true }));
  /** message bodies the webview posted, in order */
  const posted = (): WebviewBody[] => envelopes.map((e) => e.body!);
  /** the requests of one type, with their ids */
  const requests = <K extends WebviewBody['type']>(type: K): { id: number; body: Extract<WebviewBody, { type: K }> }[] =>
    envelopes.filter((e) => e.body?.type === type).map((e) => ({ id: e.id, body: e.body as Extract<WebviewBody, { type: K }> }));
  return { dom, doc, envelopes, posted, requests, send, reply, replyError, deliver, key, errors, state: () => state as WebviewState | undefined };
}
