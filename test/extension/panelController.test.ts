import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MoeError } from '../../kernels/errors';
import type { Trace } from '../../kernels/trace';
import { PanelController, FIRST_PICTURE_HOLD_MS, type PanelHost } from '../../extension/panelController';
import { MAX_TILE_ELEMS, type Envelope, type HostBody, type Tile } from '../../kernels/protocol';
import { VIEW_IDS } from '../../webview/views/registry';
import { ARCH_IDS } from '../../kernels/arch/index';

interface FakeResult {
  trace: Trace;
  data: Record<string, { rows: number; cols: number; values: number[] }>;
}

function fakeResult(): FakeResult {
  const values = Array.from({ length: 6 * 4 }, (_, i) => i * 0.5);
  const trace = { version: 1, tensors: { a1q_scale: { name: 'a1q_scale', shape: [6, 4] } } } as unknown as Trace;
  return { trace, data: { a1q_scale: { rows: 6, cols: 4, values } } };
}

/** a stand-in for kernels/tiles' tile(): window of a row-major 2-D array, MoeError out of range */
function fakeTile(r: FakeResult, tensor: string, rows: [number, number], cols: [number, number], mode: 'value' | 'error'): Tile {
  const t = r.data[tensor]!;
  if (rows[1] > t.rows || cols[1] > t.cols) throw new MoeError('E_RANGE', `${tensor}: tile rows ${rows} cols ${cols} outside [${t.rows}, ${t.cols}]`, tensor);
  const values: number[] = [];
  for (let i = rows[0]; i < rows[1]; i++) for (let j = cols[0]; j < cols[1]; j++) values.push(t.values[i * t.cols + j]!);
  return { tensor, rows, cols, mode, values: Float32Array.from(values), shape2d: [t.rows, t.cols] };
}

function harness(exportView?: PanelHost<FakeResult>['exportView']) {
  const posted: Envelope<HostBody>[] = [];
  const logs: string[] = [];
  const reruns: unknown[] = [];
  const commands: string[] = [];
  const exports: unknown[] = [];
  const host: PanelHost<FakeResult> = {
    post: (m) => void posted.push(m),
    engine: { tile: fakeTile },
    exportView: exportView ?? (async (view, format, svg, _r, tensor) => {
      exports.push({ view, format, svg, ...(tensor ? { tensor } : {}) });
      return `/tmp/out.${format}`;
    }),
    rerun: (c) => void reruns.push(c),
    command: (c) => void commands.push(c),
    log: (level, message) => void logs.push(`${level}: ${message}`),
    registries: { viewIds: VIEW_IDS, archIds: ARCH_IDS },
    archs: [{ id: 'sm90', label: 'SM90' }, { id: 'sm100', label: 'SM100' }],
  };
  const c = new PanelController(host);
  let id = 1;
  /** a webview message in its envelope; returns its id */
  const send = async (body: unknown): Promise<number> => {
    const mine = id++;
    await c.handle({ id: mine, body });
    return mine;
  };
  const bodies = (): HostBody[] => posted.map((e) => e.body!).filter(Boolean);
  const replyTo = (req: number): Envelope<HostBody> | undefined => posted.find((e) => e.inReplyTo === req);
  return { c, posted, bodies, replyTo, send, logs, reruns, exports, commands };
}

test('the trace is posted when the webview is ready, in either order, with the architectures it may re-run on', async () => {
  const h = harness();
  h.c.setResult(fakeResult());
  assert.equal(h.posted.length, 0, 'nothing before ready');
  await h.send({ type: 'ready', version: 2 });
  const first = h.bodies()[0]!;
  assert.ok(first.type === 'trace' && first.version === 2 && first.archs!.length === 2);
  h.c.setResult(fakeResult());
  assert.equal(h.posted.length, 2, 're-run posts again');
  assert.notEqual(h.posted[0]!.id, h.posted[1]!.id, 'every message has its own id');
  h.c.resetReady();
  h.c.setResult(fakeResult());
  assert.equal(h.posted.length, 2, 'webview reloading: wait for ready');
});

test('errors before ready are replayed on ready', async () => {
  const h = harness();
  h.c.showError('boom', 'E_SPEC');
  await h.send({ type: 'ready', version: 2 });
  assert.deepEqual(h.bodies(), [{ type: 'error', message: 'boom', code: 'E_SPEC' }]);
});

test('tiles are served from the run as a reply to the request, values binary', async () => {
  const h = harness();
  h.c.setResult(fakeResult());
  const req = await h.send({ type: 'tile', tensor: 'a1q_scale', mode: 'value', rows: [1, 3], cols: [2, 4] });
  const m = h.replyTo(req)!.body!;
  assert.ok(m.type === 'tile');
  assert.ok(m.tile.values instanceof Float32Array);
  assert.deepEqual(Array.from(m.tile.values), [3, 3.5, 5, 5.5]);
  assert.deepEqual(m.tile.shape2d, [6, 4]);
});

test('bad tile requests get an error reply naming the problem, never a crash', async () => {
  const h = harness();
  const early = await h.send({ type: 'tile', tensor: 'a1q_scale', mode: 'value', rows: [0, 1], cols: [0, 1] });
  assert.match(h.replyTo(early)!.error!.message, /no run is loaded/);
  h.c.setResult(fakeResult());
  const bad: [unknown, RegExp][] = [
    [{ type: 'tile', tensor: 'nope', mode: 'value', rows: [0, 1], cols: [0, 1] }, /no such tensor in this run \(have a1q_scale\)/],
    [{ type: 'tile', tensor: 'a1q_scale', mode: 'value', rows: [3, 1], cols: [0, 1] }, /\[3, 1\) ends before it starts/],
    [{ type: 'tile', tensor: 'a1q_scale', mode: 'value', rows: [0, 1.5], cols: [0, 1] }, /integer/],
    [{ type: 'tile', tensor: 'a1q_scale', mode: 'value', rows: 'all', cols: [0, 1] }, /\[start, end\) pair/],
    [{ type: 'tile', tensor: 'a1q_scale', mode: 'value', rows: [0, 99], cols: [0, 1] }, /outside \[6, 4\]/],
    [{ type: 'tile', tensor: 'a1q_scale', mode: 'value', rows: [0, MAX_TILE_ELEMS], cols: [0, 2] }, /at most 1048576 per tile/],
    [{ type: 'tile', tensor: 'a1q_scale', mode: 'bytes', rows: [0, 1], cols: [0, 1] }, /tile.mode must be one of value \| error/],
  ];
  for (const [msg, re] of bad) {
    const id = await h.send(msg);
    const r = h.replyTo(id);
    assert.ok(r?.error, `no error reply for ${JSON.stringify(msg)}`);
    assert.match(r.error.message, re);
  }
  assert.ok(h.posted.every((e) => e.inReplyTo === undefined || e.error || e.body), 'every reply is a body or an error');
});

test('exports go to the host and the webview is answered with the path — or with why it failed', async () => {
  const h = harness();
  h.c.setResult(fakeResult());
  await h.send({ type: 'ready', version: 2 });
  const ok = await h.send({ type: 'export', view: 'scales', format: 'svg', svg: '<svg></svg>', tensor: 'a1q_scale' });
  assert.deepEqual(h.exports, [{ view: 'scales', format: 'svg', svg: '<svg></svg>', tensor: 'a1q_scale' }]);
  assert.deepEqual(h.replyTo(ok)!.body, { type: 'exported', path: '/tmp/out.svg' });
  const noSvg = await h.send({ type: 'export', view: 'scales', format: 'png' });
  const badFormat = await h.send({ type: 'export', view: 'scales', format: 'bmp', svg: '<svg/>' });
  const badView = await h.send({ type: 'export', view: '../../../home/x', format: 'svg', svg: '<svg/>' });
  assert.equal(h.exports.length, 1, 'nothing refused reached the save dialog');
  assert.match(h.replyTo(noSvg)!.error!.message, /sent no SVG markup/);
  assert.match(h.replyTo(badFormat)!.error!.message, /export.format must be one of svg \| png \| tikz, got "bmp"/);
  assert.match(h.replyTo(badView)!.error!.message, /export.view must be one of scales \| permutation \| maskedBuffers \| timing \| heatmap/);
  assert.match(h.logs.join('\n'), /refused a webview message: export.view/);
  // the save itself fails: the webview hears why (it used to be logged only)
  const failing = harness(async () => {
    throw new MoeError('E_IO', 'export: could not write /ro/x.svg: EACCES');
  });
  const f = await failing.send({ type: 'export', view: 'timing', format: 'svg', svg: '<svg/>' });
  assert.deepEqual(failing.replyTo(f)!.error, { message: 'export: could not write /ro/x.svg: EACCES', code: 'E_IO' });
  assert.match(failing.logs.join('\n'), /export timing as svg failed/);
  // the user closed the save dialog
  const cancelled = harness(async () => undefined);
  const c = await cancelled.send({ type: 'export', view: 'timing', format: 'svg', svg: '<svg/>' });
  assert.deepEqual(cancelled.replyTo(c)!.body, { type: 'exported', path: null });
});

test('rerun, log and junk: only registry ids and log levels reach the host', async () => {
  const h = harness();
  await h.send({ type: 'rerun', arch: 'sm100' });
  await h.send({ type: 'rerun', backend: 'cpu' });
  await h.send({ type: 'log', level: 'warn', message: 'hi' });
  // log.level picks a LogOutputChannel method: dispose/clear/replace would be called by name
  for (const level of ['dispose', 'clear', 'replace', 'show', '__proto__']) await h.send({ type: 'log', level, message: 'x' });
  await h.send({ type: 'rerun', arch: 'sm75' });
  await h.send({ type: 'rerun', backend: 'tpu' });
  await h.c.handle(null);
  await h.c.handle('ready');
  await h.c.handle({ type: 'ready', version: 2 });
  await h.send({ type: 'unknown-thing' });
  assert.deepEqual(h.reruns, [{ arch: 'sm100' }, { backend: 'cpu' }]);
  assert.equal(h.logs[0], 'warn: webview: hi');
  assert.equal(h.logs.filter((l) => l.startsWith('warn: refused a webview message')).length, 11);
  assert.ok(h.logs.slice(1).every((l) => l.startsWith('warn: refused')));
  assert.equal(h.posted.length, 0, 'events are never answered');
});

const partialTrace = (): Trace =>
  ({ version: 1, stages: [{ id: 'quantize' }], pending: [{ id: 'transform_scales', title: 'Scale factors → kernel layout', outputs: ['a1q_scale_layout'] }, { id: 'gemm1', title: 'Grouped GEMM 1 (K → 2N)', outputs: ['mm1_out'] }], tensors: { a1q: {} } }) as unknown as Trace;

test('partial traces: posted with partial: true (replayed on ready), the final trace replaces them', async () => {
  const h = harness();
  h.c.setPartial(partialTrace());
  assert.equal(h.posted.length, 0, 'nothing before ready');
  await h.send({ type: 'ready', version: 2 });
  assert.deepEqual(h.bodies().map((m) => m.type === 'trace' && m.partial), [true]);
  assert.equal(h.c.running, true);
  h.c.setResult(fakeResult());
  const last = h.bodies().at(-1)!;
  assert.ok(last.type === 'trace' && !last.partial);
  assert.equal(h.c.running, false);
});

test('tiles while a run is in progress: "not computed yet" naming the stage, never the previous run’s tensors', async () => {
  const h = harness();
  await h.send({ type: 'ready', version: 2 });
  h.c.setResult(fakeResult());
  h.c.setPartial(partialTrace());
  const a = await h.send({ type: 'tile', tensor: 'mm1_out', mode: 'value', rows: [0, 1], cols: [0, 1] });
  assert.match(h.replyTo(a)!.error!.message, /mm1_out: not computed yet — stage 'Grouped GEMM 1 \(K → 2N\)' has not run/);
  const b = await h.send({ type: 'tile', tensor: 'a1q_scale', mode: 'value', rows: [0, 1], cols: [0, 1] });
  assert.match(h.replyTo(b)!.error!.message, /a1q_scale: not available yet — tiles are served once the run finishes \(1 of 3 stages done\)/);
});

test('a run that ends without a result shows the previous finished run again', async () => {
  const h = harness();
  await h.send({ type: 'ready', version: 2 });
  const first = fakeResult();
  h.c.setResult(first);
  h.c.setPartial(partialTrace());
  h.c.abandonPartial();
  const last = h.bodies().at(-1)!;
  assert.ok(last.type === 'trace' && !last.partial && last.trace === first.trace);
  assert.equal(h.c.running, false);
  const t = await h.send({ type: 'tile', tensor: 'a1q_scale', mode: 'value', rows: [0, 1], cols: [0, 1] });
  assert.equal(h.replyTo(t)!.body!.type, 'tile');
});

test('progress and the Export command reach the webview as events', async () => {
  const h = harness();
  await h.send({ type: 'ready', version: 2 });
  h.c.progress('gemm1', 1.7, 'GEMM 1');
  h.c.requestExport('png');
  assert.deepEqual(h.bodies(), [{ type: 'progress', stage: 'gemm1', fraction: 1, message: 'GEMM 1' }, { type: 'exportRequest', format: 'png' }]);
});

test('the first partial of a run is held until the webview has drawn it (or the hold expires), later ones are not', async () => {
  const h = harness();
  await h.send({ type: 'ready', version: 2 });
  let released = false;
  const held = h.c.setPartial(partialTrace()).then(() => (released = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(released, false, 'waiting for the picture');
  await h.send({ type: 'drawn', partial: true });
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

test('an imported profile is sent now and again on every webview reload; a compared run rides with each final trace; buttons reach the host', async () => {
  const h = harness();
  const profile = { file: 't.json', format: 'chrome-trace' as const, launches: 1, stages: [], outside: [], unmatched: [{ name: 'k', count: 1, totalUs: 2 }], omitted: 0 };
  h.c.setResult(fakeResult());
  h.c.setProfile(profile);
  assert.equal(h.posted.length, 0, 'nothing before ready');
  await h.send({ type: 'ready', version: 2 });
  assert.deepEqual(h.bodies().map((b) => b.type), ['trace', 'profile']);
  const other = { ...fakeResult().trace, createdAt: 'other' } as Trace;
  h.c.setCompare(other);
  const last = h.bodies().at(-1)!;
  assert.ok(last.type === 'trace' && last.compare === other, 'the second run is drawn at once');
  assert.equal(h.c.comparing, other);
  // a reloaded webview gets the run, its comparison and the profile again
  h.c.resetReady();
  await h.send({ type: 'ready', version: 2 });
  const replay = h.bodies().slice(-2);
  assert.ok(replay[0]!.type === 'trace' && replay[0]!.compare === other);
  assert.deepEqual(replay[1], { type: 'profile', profile });
  h.c.setProfile(null);
  assert.deepEqual(h.bodies().at(-1), { type: 'profile', profile: null });
  // a partial trace of the next run is drawn alone: the comparison belongs to the finished run
  void h.c.setPartial({ ...fakeResult().trace, pending: [] } as Trace);
  const partial = h.bodies().at(-1)!;
  assert.ok(partial.type === 'trace' && partial.partial === true && partial.compare === undefined);
  await h.send({ type: 'command', command: 'importProfile' });
  await h.send({ type: 'command', command: 'compare' });
  await h.send({ type: 'command', command: 'rm -rf' });
  assert.deepEqual(h.commands, ['importProfile', 'compare']);
  assert.match(h.logs.at(-1)!, /refused a webview message: command.command must be one of importProfile \| compare/);
  h.c.abandonPartial();
});
