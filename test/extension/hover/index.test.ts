/**
 * The thin vscode adapter, against a stub 'vscode' module (loaders.ts) and a fake kernel / debug session running
 * a real Python: what gets registered, that it stays silent without the Jupyter extension, a started kernel or a
 * paused Python debugger, that the settings switch each hover off, that the markdown is trusted for our command
 * only, and that the command link hands the probed tensor to `openTensor`.
 */
import './loaders';
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { stub, DebugStackFrame, DebugThread, type MarkdownString, type Range } from './vscodeStub';
import { registerHoverProviders, OPEN_PROBED_TENSOR_COMMAND, type ProbedTensor } from '../../../extension/hover/index';
import { findPythons, PythonSession } from './python';
import { PythonDebugSession, PythonKernel } from './fakes';
import type * as vscode from 'vscode';

const python = findPythons()[0];

interface HoverLike {
  contents: MarkdownString;
  range: Range;
}

function doc(lines: string[]) {
  return { uri: { toString: () => 'vscode-notebook-cell:/nb.ipynb#c1' }, lineAt: (i: number) => ({ text: lines[i]! }) };
}
const pos = (line: number, character: number) => ({ line, character });
const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose: () => undefined }) };

describe('hover vscode adapter', { skip: python ? false : 'no python3 with numpy' }, () => {
  let py: PythonSession;
  const opened: ProbedTensor[] = [];
  const subscriptions: { dispose(): unknown }[] = [];

  before(async () => {
    py = new PythonSession(python!);
    await py.exec("import numpy as np\nw13_weight_scale_inv = np.ones((2, 3, 4), np.float32)\ncount = 3");
  });
  after(() => py.close());

  beforeEach(() => {
    stub.reset();
    opened.length = 0;
    registerHoverProviders({ subscriptions } as unknown as vscode.ExtensionContext, async (t) => {
      opened.push(t);
    });
  });

  const notebookProvider = () => stub.hoverProviders.find((p) => JSON.stringify(p.selector).includes('vscode-notebook-cell'))!.provider;
  const fileProvider = () => stub.hoverProviders.find((p) => JSON.stringify(p.selector).includes('"file"'))!.provider;

  /** an open notebook whose cell is `cell`, and a Jupyter extension whose kernel API returns `kernel` */
  function withNotebook(cell: unknown, kernel: unknown, active = true): void {
    const nb = { uri: { toString: () => 'file:///nb.ipynb' }, getCells: () => [{ document: cell }] };
    stub.notebookDocuments = [nb];
    stub.extensions.set('ms-toolsai.jupyter', { isActive: active, exports: { kernels: { getKernel: async (uri: unknown) => (uri === nb.uri ? kernel : undefined) } } });
  }

  it('registers a notebook-cell provider, a python-file provider and the open command', () => {
    assert.equal(stub.hoverProviders.length, 2);
    assert.deepEqual(stub.hoverProviders[0]!.selector, { scheme: 'vscode-notebook-cell', language: 'python' });
    assert.ok(stub.commands.has(OPEN_PROBED_TENSOR_COMMAND));
  });

  it('notebook: hover with trusted markdown, the range of the expression, and a working link', async () => {
    const cell = doc(['y = w13_weight_scale_inv * 2']);
    withNotebook(cell, new PythonKernel(py));
    const h = (await notebookProvider().provideHover(cell, pos(0, 6), token)) as HoverLike;
    assert.ok(h);
    assert.deepEqual(h.contents.isTrusted, { enabledCommands: [OPEN_PROBED_TENSOR_COMMAND] });
    assert.equal(h.contents.supportHtml, undefined, 'no HTML needed');
    assert.equal(h.contents.supportThemeIcons, true);
    assert.deepEqual([h.range.startCharacter, h.range.endCharacter], [4, 4 + 'w13_weight_scale_inv'.length]);
    assert.match(h.contents.value, /Likely weight scales 128×128 blocks/);
    const m = /\(command:moeInspector\.openProbedTensor\?([^)]+)\)/.exec(h.contents.value)!;
    const args = JSON.parse(decodeURIComponent(m[1]!)) as unknown[];
    await stub.commands.get(OPEN_PROBED_TENSOR_COMMAND)!(...args);
    assert.equal(opened.length, 1);
    assert.deepEqual(opened[0]!.shape, [2, 3, 4]);
    assert.equal(opened[0]!.expression, 'w13_weight_scale_inv');
  });

  it('the command explains itself when the tensor is no longer cached', async () => {
    await stub.commands.get(OPEN_PROBED_TENSOR_COMMAND)!({ id: 'gone', expression: 'x' });
    assert.equal(opened.length, 0);
    assert.match(stub.messages[0] ?? '', /no longer cached; hover it again/);
  });

  it('notebook: silent without the Jupyter extension, inactive extension, no kernel, or the setting off', async () => {
    const cell = doc(['w13_weight_scale_inv']);
    assert.equal(await notebookProvider().provideHover(cell, pos(0, 1), token), undefined, 'no Jupyter extension');
    withNotebook(cell, new PythonKernel(py), false);
    assert.equal(await notebookProvider().provideHover(cell, pos(0, 1), token), undefined, 'extension not active');
    withNotebook(cell, undefined);
    assert.equal(await notebookProvider().provideHover(cell, pos(0, 1), token), undefined, 'no started kernel');
    const k = new PythonKernel(py);
    withNotebook(cell, k);
    stub.config.set('moeInspector.hover.notebook', false);
    assert.equal(await notebookProvider().provideHover(cell, pos(0, 1), token), undefined, 'setting off');
    assert.equal(k.executed.length, 0);
    withNotebook(cell, { status: 'idle', language: 'python', executeCode: () => { throw new Error('kernel died'); } });
    stub.config.clear();
    assert.equal(await notebookProvider().provideHover(cell, pos(0, 1), token), undefined, 'a throwing kernel is no hover');
    assert.equal(stub.messages.length, 0, 'no prompts or messages');
  });

  it('python file: silent without a paused python debug session', async () => {
    const file = doc(['w13_weight_scale_inv']);
    assert.equal(await fileProvider().provideHover(file, pos(0, 1), token), undefined, 'no debug session');
    const session = Object.assign(new PythonDebugSession(py), { id: 's1' });
    stub.activeDebugSession = { ...session, id: 's1', type: 'node', customRequest: session.customRequest.bind(session) };
    assert.equal(await fileProvider().provideHover(file, pos(0, 1), token), undefined, 'not a python session');
    stub.activeDebugSession = session;
    assert.equal(await fileProvider().provideHover(file, pos(0, 1), token), undefined, 'no stack item: not paused');
    assert.equal(session.requests.length, 0);
  });

  it('python file: probes the focused frame, or the top frame of the focused thread', async () => {
    const file = doc(['print(w13_weight_scale_inv)']);
    const session = Object.assign(new PythonDebugSession(py), { id: 's1' });
    stub.activeDebugSession = session;
    stub.activeStackItem = new DebugStackFrame(session, 1, 42);
    const h = (await fileProvider().provideHover(file, pos(0, 8), token)) as HoverLike;
    assert.ok(h);
    assert.match(h.contents.value, /\| shape \| \(2, 3, 4\) \|/);
    assert.equal(session.requests.at(-1)!.args.frameId, 42);

    stub.activeStackItem = new DebugThread(session, 1);
    const h2 = (await fileProvider().provideHover(file, pos(0, 8), token)) as HoverLike;
    assert.ok(h2);
    assert.equal(session.requests.at(-2)!.command, 'stackTrace');
    assert.equal(session.requests.at(-1)!.args.frameId, 7, 'top frame id from the stackTrace answer');

    stub.config.set('moeInspector.hover.debug', false);
    assert.equal(await fileProvider().provideHover(file, pos(0, 8), token), undefined, 'setting off');
    stub.config.clear();
    assert.equal(await fileProvider().provideHover(doc(['count']), pos(0, 1), token), undefined, 'not a tensor');
  });
});
