import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MoeError } from '../../kernels/errors';
import type { Trace } from '../../kernels/trace';
import { PanelController, MAX_TILE_ELEMENTS, FIRST_PICTURE_HOLD_MS, type PanelHost } from '../../extension/panelController';
import type { HostMessage, Tile } from '../../webview/protocol';

interface FakeResult {
  trace: Trace;
  data: Record<string, { rows: number; cols: number; values: number[] }>;
}

function fakeResult(): FakeResult {
  const values = Array.from({ length: 6 * 4 }, (_, i) => i * 0.5);
  const trace = { version: 1, tensors: { a1q_scale: { name: 'a1q_scale', shape: [6, 4] } } } as unknown as Trace;
  return { trace, data: { a1q_scale: { rows: 6, cols: 4, values } } };
}

/** a stand-in for kernels/pipeline's tile(): window of a row-major 2-D array, MoeError out of range */
function fakeTile(r: FakeResult, tensor: string, rows: [number, number], cols: [number, number], mode: 'value' | 'error'): Tile {
  const t = r.data[tensor]!;
  if (rows[1] > t.rows || cols[1] > t.cols) throw new MoeError('E_RANGE', `${tensor}: tile rows ${rows} cols ${cols} outside [${t.rows}, ${t.cols}]`, tensor);
  const values: number[] = [];
  for (let i = rows[0]; i < rows[1]; i++) for (let j = cols[0]; j < cols[1]; j++) values.push(t.values[i * t.cols + j]!);
  return { tensor, rows, cols, mode, values, shape2d: [t.rows, t.cols] };
}

function harness() {
  const posted: HostMessage[] = [];
  const logs: string[] = [];
  const reruns: unknown[] = [];
  const exports: unknown[] = [];
  const host: PanelHost<FakeResult> = {
    post: (m) => void posted.push(m),
    engine: { tile: fakeTile },
    exportView: async (view, format, svg) => {
      exports.push({ view, format, svg });
      return `/tmp/out.${format}`;
    },
    rerun: (c) => void reruns.push(c),
    log: (level, message) => void logs.push(`${level}: ${message}`),
  };
  return { c: new PanelController(host), posted, logs, reruns, exports };
}

test('the trace is posted when the webview is ready, in either order', async () => {
  const h = harness();
  h.c.setResult(fakeResult());
  assert.equal(h.posted.length, 0, 'nothing before ready');
  await h.c.handle({ type: 'ready', version: 1 });
  assert.equal(h.posted[0]!.type, 'trace');
  h.c.setResult(fakeResult());
  assert.equal(h.posted.length, 2, 're-run posts again');
  h.c.resetReady();
  h.c.setResult(fakeResult());
  assert.equal(h.posted.length, 2, 'webview reloading: wait for ready');
});

test('errors before ready are replayed on ready', async () => {
  const h = harness();
  h.c.showError('boom', 'E_SPEC');
  await h.c.handle({ type: 'ready', version: 1 });
  assert.deepEqual(h.posted, [{ type: 'error', message: 'boom', code: 'E_SPEC' }]);
});

test('tiles are served from the run, with the request id echoed', async () => {
  const h = harness();
  h.c.setResult(fakeResult());
  await h.c.handle({ type: 'tile', requestId: 7, tensor: 'a1q_scale', mode: 'value', rows: [1, 3], cols: [2, 4] });
  const m = h.posted.at(-1)!;
  assert.equal(m.type, 'tile');
  if (m.type !== 'tile') return;
  assert.equal(m.requestId, 7);
  assert.deepEqual(m.tile.values, [3, 3.5, 5, 5.5]);
  assert.deepEqual(m.tile.shape2d, [6, 4]);
});

test('bad tile requests get a tileError naming the problem, never a crash', async () => {
  const h = harness();
  await h.c.handle({ type: 'tile', requestId: 1, tensor: 'a1q_scale', mode: 'value', rows: [0, 1], cols: [0, 1] });
  h.c.setResult(fakeResult());
  const bad: [unknown, RegExp][] = [
    [{ type: 'tile', requestId: 2, tensor: 'nope', mode: 'value', rows: [0, 1], cols: [0, 1] }, /no such tensor in this run \(have a1q_scale\)/],
    [{ type: 'tile', requestId: 3, tensor: 'a1q_scale', mode: 'value', rows: [3, 1], cols: [0, 1] }, /\[start, end\) integer ranges/],
    [{ type: 'tile', requestId: 4, tensor: 'a1q_scale', mode: 'value', rows: [0, 1.5], cols: [0, 1] }, /integer ranges/],
    [{ type: 'tile', requestId: 5, tensor: 'a1q_scale', mode: 'value', rows: 'all', cols: [0, 1] }, /integer ranges/],
    [{ type: 'tile', requestId: 6, tensor: 'a1q_scale', mode: 'value', rows: [0, 99], cols: [0, 1] }, /outside \[6, 4\]/],
    [{ type: 'tile', requestId: 8, tensor: 'a1q_scale', mode: 'value', rows: [0, MAX_TILE_ELEMENTS], cols: [0, 2] }, /at most 1048576 per tile/],
  ];
  for (const [msg] of bad) await h.c.handle(msg);
  const errs = h.posted.filter((m) => m.type === 'tileError');
  assert.equal(errs.length, bad.length + 1);
  assert.match((errs[0] as { message: string }).message, /no run is loaded/);
  bad.forEach(([msg, re], i) => {
    const e = errs[i + 1] as { requestId: number; message: string };
    assert.equal(e.requestId, (msg as { requestId: number }).requestId);
    assert.match(e.message, re);
  });
});

test('exports go to the host and the webview hears where the file went', async () => {
  const h = harness();
  h.c.setResult(fakeResult());
  await h.c.handle({ type: 'ready', version: 1 });
  await h.c.handle({ type: 'export', requestId: 3, view: 'scales', format: 'svg', svg: '<svg></svg>' });
  assert.deepEqual(h.exports, [{ view: 'scales', format: 'svg', svg: '<svg></svg>' }]);
  assert.deepEqual(h.posted.at(-1), { type: 'exportDone', requestId: 3, path: '/tmp/out.svg' });
  await h.c.handle({ type: 'export', requestId: 4, view: 'scales', format: 'png' });
  await h.c.handle({ type: 'export', requestId: 5, view: 'scales', format: 'bmp', svg: '<svg/>' });
  assert.equal(h.exports.length, 1);
  assert.match(h.logs.join('\n'), /sent no SVG markup for png/);
  assert.match(h.logs.join('\n'), /format must be svg, png or tikz, got bmp/);
});

test('rerun, log and junk messages', async () => {
  const h = harness();
  await h.c.handle({ type: 'rerun', arch: 'sm100' });
  await h.c.handle({ type: 'log', level: 'warn', message: 'hi' });
  await h.c.handle(null);
  await h.c.handle('ready');
  await h.c.handle({ type: 'unknown-thing' });
  assert.deepEqual(h.reruns, [{ arch: 'sm100' }]);
  assert.deepEqual(h.logs, ['warn: hi']);
  assert.equal(h.posted.length, 0);
});

const partialTrace = (): Trace =>
  ({ version: 1, stages: [{ id: 'quantize' }], pending: [{ id: 'transform_scales', title: 'Scale factors → kernel layout', outputs: ['a1q_scale_layout'] }, { id: 'gemm1', title: 'Grouped GEMM 1 (K → 2N)', outputs: ['mm1_out'] }], tensors: { a1q: {} } }) as unknown as Trace;

test('partial traces: posted with partial: true (replayed on ready), the final trace replaces them', async () => {
  const h = harness();
  h.c.setPartial(partialTrace());
  assert.equal(h.posted.length, 0, 'nothing before ready');
  await h.c.handle({ type: 'ready', version: 1 });
  assert.deepEqual(h.posted.map((m) => m.type === 'trace' && m.partial), [true]);
  assert.equal(h.c.running, true);
  h.c.setResult(fakeResult());
  const last = h.posted.at(-1)!;
  assert.ok(last.type === 'trace' && !last.partial);
  assert.equal(h.c.running, false);
});

test('tiles while a run is in progress: "not computed yet" naming the stage, never the previous run’s tensors', async () => {
  const h = harness();
  await h.c.handle({ type: 'ready', version: 1 });
  h.c.setResult(fakeResult());
  h.c.setPartial(partialTrace());
  await h.c.handle({ type: 'tile', requestId: 3, tensor: 'mm1_out', mode: 'value', rows: [0, 1], cols: [0, 1] });
  const m = h.posted.at(-1)!;
  assert.equal(m.type, 'tileError');
  assert.match((m as { message: string }).message, /mm1_out: not computed yet — stage 'Grouped GEMM 1 \(K → 2N\)' has not run/);
  await h.c.handle({ type: 'tile', requestId: 4, tensor: 'a1q_scale', mode: 'value', rows: [0, 1], cols: [0, 1] });
  assert.match((h.posted.at(-1) as { message: string }).message, /a1q_scale: not available yet — tiles are served once the run finishes \(1 of 3 stages done\)/);
});

test('a run that ends without a result shows the previous finished run again', async () => {
  const h = harness();
  await h.c.handle({ type: 'ready', version: 1 });
  const first = fakeResult();
  h.c.setResult(first);
  h.c.setPartial(partialTrace());
  h.c.abandonPartial();
  const last = h.posted.at(-1)!;
  assert.ok(last.type === 'trace' && !last.partial && last.trace === first.trace);
  assert.equal(h.c.running, false);
  await h.c.handle({ type: 'tile', requestId: 5, tensor: 'a1q_scale', mode: 'value', rows: [0, 1], cols: [0, 1] });
  assert.equal(h.posted.at(-1)!.type, 'tile');
});

test('the first partial of a run is held until the webview has drawn it (or the hold expires), later ones are not', async () => {
  const h = harness();
  await h.c.handle({ type: 'ready', version: 1 });
  let released = false;
  const held = h.c.setPartial(partialTrace()).then(() => (released = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(released, false, 'waiting for the picture');
  await h.c.handle({ type: 'drawn', partial: true });
  await held;
  assert.equal(released, true);
  await h.c.setPartial(partialTrace()); // drawn already: at once
  // a new run whose webview never answers: the hold ends by itself
  h.c.setResult(fakeResult());
  const t0 = Date.now();
  await h.c.setPartial(partialTrace(), Date.now() - FIRST_PICTURE_HOLD_MS + 30);
  assert.ok(Date.now() - t0 < FIRST_PICTURE_HOLD_MS);
  // a run that ends releases whoever waits
  h.c.setResult(fakeResult());
  const waiting = h.c.setPartial(partialTrace());
  h.c.abandonPartial();
  await waiting;
});
