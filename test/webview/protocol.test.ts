/**
 * The host ↔ webview protocol (kernels/protocol.ts): binary tiles survive the trip, requests and replies match by id
 * (error replies included), and every malformed message is refused on both sides with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Channel, MAX_TILE_ELEMS, PROTOCOL_VERSION, RemoteError, checkHostEnvelope, checkWebviewEnvelope, reviveWebviewState,
  type Envelope, type HostBody, type WebviewBody, type Tile,
} from '../../kernels/protocol';
import { tile as engineTile } from '../../kernels/tiles';
import { Tensor } from '../../kernels/tensor';
import type { RunResult } from '../../kernels/pipeline';
import { smallTrace } from './fixtures';

const ctx = { viewIds: ['scales', 'permutation', 'maskedBuffers', 'timing', 'heatmap'], archIds: ['sm90', 'sm100'] };
/** what postMessage does to a message: a structured clone (typed arrays stay typed arrays) */
const wire = <T>(m: T): T => structuredClone(m);

test('binary tiles: the engine cuts a Float32Array that owns its buffer, and it arrives as one', () => {
  const t = new Tensor('f32', [3, 5], Float32Array.from({ length: 15 }, (_, i) => i / 4 - 1), undefined, 0, 'x');
  const result = { tensors: new Map([['x', t]]) } as unknown as RunResult;
  const tl = engineTile(result, 'x', [1, 3], [2, 5], 'value');
  assert.ok(tl.values instanceof Float32Array);
  assert.equal(tl.values.buffer.byteLength, 6 * 4, 'exactly the tile travels, not a larger backing buffer');
  const env: Envelope<HostBody> = { id: 9, inReplyTo: 4, body: { type: 'tile', tile: tl } };
  const c = checkHostEnvelope(wire(env), (id) => (id === 4 ? 'tile' : undefined));
  assert.ok(c.ok, !c.ok ? c.reason : '');
  const back = (c.env.body as Extract<HostBody, { type: 'tile' }>).tile;
  assert.equal(Object.prototype.toString.call(back.values), '[object Float32Array]');
  assert.deepEqual(Array.from(back.values), [0.75, 1, 1.25, 2, 2.25, 2.5]);
  assert.deepEqual([back.rows, back.cols, back.shape2d], [[1, 3], [2, 5], [3, 5]]);
  // an ArrayBuffer of the values is accepted too (and becomes a Float32Array)
  const asBuffer = { ...env, body: { type: 'tile', tile: { ...tl, values: tl.values.buffer } } };
  const c2 = checkHostEnvelope(wire(asBuffer), () => 'tile');
  assert.ok(c2.ok && (c2.env.body as Extract<HostBody, { type: 'tile' }>).tile.values instanceof Float32Array);
  const big = { tensors: new Map([['y', new Tensor('f32', [1025, 1024], new Float32Array(1025 * 1024), undefined, 0, 'y')]]) } as unknown as RunResult;
  assert.throws(() => engineTile(big, 'y', [0, 1025], [0, 1024], 'value'), new RegExp(`exceeds ${MAX_TILE_ELEMS}`));
});

/** Two channels joined back to back, each side checking what it receives as the real ones do. */
function pair() {
  const toWebview: Envelope<HostBody>[] = [];
  const toHost: Envelope<WebviewBody>[] = [];
  const host = new Channel<HostBody, WebviewBody>((e) => toWebview.push(wire(e)));
  const webview = new Channel<WebviewBody, HostBody>((e) => toHost.push(wire(e)));
  const deliverToWebview = (): void => {
    for (const e of toWebview.splice(0)) {
      const c = checkHostEnvelope(e, (id) => webview.pendingType(id));
      assert.ok(c.ok, !c.ok ? c.reason : '');
      assert.ok(webview.settle(c.env));
    }
  };
  return { host, webview, toWebview, toHost, deliverToWebview };
}

test('requests and replies match by id, out of order; an error reply rejects with the host’s reason and code', async () => {
  const p = pair();
  const values = new Float32Array([1, 2]);
  const a = p.webview.request<Extract<HostBody, { type: 'tile' }>>({ type: 'tile', tensor: 'a1q_scale', mode: 'value', rows: [0, 1], cols: [0, 2] });
  const b = p.webview.request<Extract<HostBody, { type: 'exported' }>>({ type: 'export', view: 'scales', format: 'svg', svg: '<svg/>' });
  const c = p.webview.request({ type: 'tile', tensor: 'nope', mode: 'value', rows: [0, 1], cols: [0, 1] });
  assert.equal(p.webview.pending, 3);
  const [ra, rb, rc] = p.toHost.map((e) => checkWebviewEnvelope(e, ctx));
  assert.ok(ra!.ok && rb!.ok && rc!.ok);
  // answered in reverse order
  p.host.replyError(rc!.env.id, { message: 'tile nope: no such tensor in this run', code: 'E_VALUE' });
  p.host.reply(rb!.env.id, { type: 'exported', path: '/tmp/x.svg' });
  p.host.reply(ra!.env.id, { type: 'tile', tile: { tensor: 'a1q_scale', mode: 'value', rows: [0, 1], cols: [0, 2], values, shape2d: [4, 2] } });
  p.deliverToWebview();
  assert.deepEqual(Array.from((await a).tile.values), [1, 2]);
  assert.equal((await b).path, '/tmp/x.svg');
  await assert.rejects(c, (e: unknown) => e instanceof RemoteError && e.code === 'E_VALUE' && /no such tensor/.test(e.message));
  assert.equal(p.webview.pending, 0);
  // a second answer to the same request finds nobody waiting and is refused
  p.host.reply(ra!.env.id, { type: 'exported', path: '/tmp/y' });
  const dup = checkHostEnvelope(p.toWebview.pop(), (id) => p.webview.pendingType(id));
  assert.ok(!dup.ok && /no request of that id is waiting/.test(dup.reason));
});

const env = (body: unknown, id = 5): unknown => ({ id, body });

test('host side: every malformed or hostile webview message is refused with the reason; requests get an error reply', () => {
  const refused: [unknown, RegExp, boolean][] = [
    [null, /webview message must be an object/, false],
    ['ready', /must be an object/, false],
    [{ id: -1, body: { type: 'ready', version: 2 } }, /id must be an integer ≥ 0/, false],
    [{ id: 1.5, body: { type: 'ready', version: 2 } }, /id must be an integer/, false],
    [{ id: 1, body: { type: 'ready', version: 2 }, extra: 1 }, /unknown field 'extra'/, false],
    [{ id: 1, inReplyTo: 3, body: { type: 'ready', version: 2 } }, /the host sent no request 3/, false],
    [env({ kind: 'ready' }), /type must be a string/, false],
    [env({ type: 'unknown-thing' }), /unknown webview message type "unknown-thing"/, false],
    [env({ type: 'ready', version: '2' }), /ready.version must be an integer/, false],
    [env({ type: 'drawn', partial: 'yes' }), /drawn.partial must be true or false/, false],
    // log.level picks a LogOutputChannel method: nothing but info | warn | error may reach it
    [env({ type: 'log', level: 'dispose', message: 'x' }), /log.level must be one of info \| warn \| error, got "dispose"/, false],
    [env({ type: 'log', level: 'replace', message: 'x' }), /log.level/, false],
    [env({ type: 'log', level: 'clear', message: 'x' }), /log.level/, false],
    [env({ type: 'log', level: 'info', message: 42 }), /log.message must be a string/, false],
    [env({ type: 'log', level: 'info', message: 'x'.repeat(5000) }), /at most 4000/, false],
    [env({ type: 'rerun', arch: 'sm1000' }), /rerun.arch must be one of sm90 \| sm100, got "sm1000"/, false],
    [env({ type: 'rerun', backend: 'tpu' }), /rerun.backend must be one of auto \| cpu \| cuda/, false],
    [env({ type: 'rerun' }), /give an arch or a backend/, false],
    [env({ type: 'rerun', arch: 'sm90', spec: {} }), /unknown field 'spec'/, false],
    [env({ type: 'tile', tensor: 'a1q_scale', mode: 'value', rows: [3, 1], cols: [0, 1] }), /ends before it starts/, true],
    [env({ type: 'tile', tensor: 'a1q_scale', mode: 'value', rows: [0, 1.5], cols: [0, 1] }), /tile.rows\[1\] must be an integer/, true],
    [env({ type: 'tile', tensor: 'a1q_scale', mode: 'value', rows: 'all', cols: [0, 1] }), /\[start, end\) pair/, true],
    [env({ type: 'tile', tensor: 'a1q_scale', mode: 'raw', rows: [0, 1], cols: [0, 1] }), /tile.mode must be one of value \| error/, true],
    [env({ type: 'tile', tensor: 7, mode: 'value', rows: [0, 1], cols: [0, 1] }), /tile.tensor must be a string/, true],
    [env({ type: 'tile', tensor: 'x', mode: 'value', rows: [0, MAX_TILE_ELEMS], cols: [0, 2] }), /at most 1048576 per tile/, true],
    // the view id names the exported file: a path must never reach the save dialog
    [env({ type: 'export', view: '../../etc/passwd', format: 'svg', svg: '<svg/>' }), /export.view must be one of scales \|.*got "..\/..\/etc\/passwd"/, true],
    [env({ type: 'export', view: 'scales', format: 'bmp', svg: '<svg/>' }), /export.format must be one of svg \| png \| tikz, got "bmp"/, true],
    [env({ type: 'export', view: 'scales', format: 'png' }), /sent no SVG markup/, true],
    [env({ type: 'export', view: 'scales', format: 'svg', svg: 1 }), /export.svg must be a string/, true],
  ];
  for (const [raw, re, answered] of refused) {
    const c = checkWebviewEnvelope(raw, ctx);
    assert.ok(!c.ok, `accepted: ${JSON.stringify(raw)}`);
    assert.match(c.reason, re, JSON.stringify(raw)?.slice(0, 80));
    assert.equal(c.replyTo !== undefined, answered, `answered? ${JSON.stringify(raw)?.slice(0, 80)}`);
  }
  const ok = checkWebviewEnvelope(env({ type: 'export', view: 'maskedBuffers', format: 'svg', svg: '<svg/>', tensor: 'a1q_scale' }), ctx);
  assert.ok(ok.ok);
  assert.ok(checkWebviewEnvelope(env({ type: 'rerun', arch: 'sm100', backend: 'cpu' }), ctx).ok);
  assert.ok(checkWebviewEnvelope(env({ type: 'log', level: 'warn', message: 'hi' }), ctx).ok);
});

test('webview side: malformed host messages and replies are refused with the reason', () => {
  const trace = smallTrace('cpu');
  const waiting = (id: number): string | undefined => ({ 4: 'tile', 5: 'export' })[id];
  const t: Tile = { tensor: 'mm1_out', mode: 'value', rows: [0, 2], cols: [0, 1], values: new Float32Array(2), shape2d: [512, 1024] };
  const refused: [unknown, RegExp][] = [
    [undefined, /host message must be an object/],
    [env({ type: 'trace', version: PROTOCOL_VERSION, trace: { ...trace, stages: 'all' } }), /trace.stages must be an array/],
    [env({ type: 'trace', version: PROTOCOL_VERSION, trace: { ...trace, tensors: { a1q_scale: { ...trace.tensors['a1q_scale']!, inline: [1, 2] } } } }), /inline: shape \[37, 4\] needs 148 values, got 2/],
    [env({ type: 'trace', version: PROTOCOL_VERSION, trace: { ...trace, tensors: { x: { ...trace.tensors['a1q_scale']! } } } }), /tensors.x.name must be 'x'/],
    [env({ type: 'trace', version: PROTOCOL_VERSION, trace: { ...trace, permutation: { ...trace.permutation, layout: 'sparse' } } }), /permutation.layout must be one of contiguous \| masked/],
    [env({ type: 'trace', version: PROTOCOL_VERSION, trace, archs: [{ id: 3 }] }), /archs\[0\].id must be a string/],
    [env({ type: 'progress', stage: 'gemm1', fraction: 1.5, message: '' }), /fraction must lie in \[0, 1\]/],
    [env({ type: 'progress', stage: 'gemm1', fraction: NaN, message: '' }), /finite number/],
    [env({ type: 'error' }), /error.message must be a string/],
    [env({ type: 'exportRequest', format: 'gif' }), /exportRequest.format must be one of svg \| png \| tikz/],
    [env({ type: 'selectView', view: 'timing' }), /unknown host message type "selectView"/],
    [{ id: 1, inReplyTo: 99, body: { type: 'tile', tile: t } }, /no request of that id is waiting/],
    [{ id: 1, inReplyTo: 4, body: { type: 'exported', path: '/x' } }, /reply to a 'tile' request must be 'tile'/],
    [{ id: 1, inReplyTo: 4, body: { type: 'tile', tile: { ...t, values: [0, 0] } } }, /tile values must be a Float32Array, got an array of 2/],
    [{ id: 1, inReplyTo: 4, body: { type: 'tile', tile: { ...t, values: new Float32Array(3) } } }, /need 2 values, got 3/],
    [{ id: 1, inReplyTo: 4, body: { type: 'tile', tile: { ...t, values: new ArrayBuffer(7) } } }, /not a whole number of float32 values/],
    [{ id: 1, inReplyTo: 4, body: { type: 'tile', tile: { ...t, rows: [0, 600] } } }, /lie outside the tensor's 512 × 1024/],
    [{ id: 1, inReplyTo: 5, body: { type: 'exported', path: 3 } }, /exported.path must be a string/],
    [{ id: 1, body: { type: 'error', message: 'x' }, error: { message: 'y' } }, /only a reply may carry an error/],
    [{ id: 1, inReplyTo: 5, body: { type: 'exported', path: null }, error: { message: 'y' } }, /a body or an error, not both/],
  ];
  for (const [raw, re] of refused) {
    const c = checkHostEnvelope(raw, waiting);
    assert.ok(!c.ok, `accepted: ${String(JSON.stringify(raw)).slice(0, 100)}`);
    assert.match(c.reason, re);
  }
  assert.ok(checkHostEnvelope(wire(env({ type: 'trace', version: PROTOCOL_VERSION, trace, compare: smallTrace('cuda'), archs: [{ id: 'sm90', label: 'SM90' }] })), waiting).ok);
  assert.ok(checkHostEnvelope({ id: 1, inReplyTo: 5, error: { message: 'no space left', code: 'E_IO' } }, waiting).ok);
  assert.ok(checkHostEnvelope({ id: 1, inReplyTo: 5, body: { type: 'exported', path: null } }, waiting).ok);
  // a trace of another protocol version is passed on unchecked, for the "reload" message
  const old = checkHostEnvelope(env({ type: 'trace', version: 1, trace: { any: 'thing' } }), waiting);
  assert.ok(old.ok && (old.env.body as { version: number }).version === 1);
});

test('saved state: revived when it is this version and names a registered view, cleaned of anything else', () => {
  const good = { version: PROTOCOL_VERSION, view: 'heatmap', stage: 'gemm1', heatmapTensor: 'mm1_out', scaleTensor: 'a2q_scale', zoom: { k: 2, x: -10, y: 5 }, spec: smallTrace().spec };
  assert.deepEqual(reviveWebviewState(wire(good), ctx.viewIds), good);
  assert.equal(reviveWebviewState({ ...good, version: 1 }, ctx.viewIds), undefined);
  assert.equal(reviveWebviewState({ ...good, view: '../x' }, ctx.viewIds), undefined);
  assert.equal(reviveWebviewState('junk', ctx.viewIds), undefined);
  const cleaned = reviveWebviewState({ ...good, stage: 7, zoom: { k: -1, x: 0, y: 0 }, heatmapTensor: 'x'.repeat(300), extra: true }, ctx.viewIds)!;
  assert.deepEqual(Object.keys(cleaned).sort(), ['scaleTensor', 'spec', 'version', 'view']);
  assert.equal(reviveWebviewState({ ...good, compareTensor: 'a2q_scale_layout' }, ctx.viewIds)!.compareTensor, 'a2q_scale_layout');
  assert.equal(reviveWebviewState({ ...good, compareTensor: 7 }, ctx.viewIds)!.compareTensor, undefined);
  // an imported profile is kept when it passes the host message's own check, dropped (not half-read) when not
  const profile = { file: 't.json', format: 'chrome-trace', launches: 1, stages: [{ stage: 'gemm1', count: 1, totalUs: 5, kernels: [{ name: 'k', count: 1, totalUs: 5 }] }], outside: [], unmatched: [], omitted: 0 };
  assert.deepEqual(reviveWebviewState(wire({ ...good, profile }), ctx.viewIds)!.profile, profile);
  for (const bad of [{ ...profile, format: 'perfetto' }, { ...profile, launches: -1 }, { ...profile, stages: 'x' }, { ...profile, evil: 1 }, 'junk'])
    assert.equal(reviveWebviewState({ ...good, profile: bad }, ctx.viewIds)!.profile, undefined, JSON.stringify(bad));
});

test('imported profiles (host → webview) and panel buttons (webview → host): accepted as sent, every malformed one refused', () => {
  const kernel = { name: 'sm90_fp8_gemm_1d2d_impl<…>', count: 2, totalUs: 14.5, rule: 'DeepGEMM grouped GEMM' };
  const profile = {
    file: 'trace.json.gz', format: 'chrome-trace', launches: 3,
    stages: [{ stage: 'gemm1', count: 2, totalUs: 14.5, wallUs: 12, kernels: [kernel] }],
    outside: [{ stage: 'dispatch', count: 1, totalUs: 3, kernels: [{ name: 'deep_ep::dispatch', count: 1, totalUs: 3 }], ncu: { dramPct: 40 } }],
    unmatched: [{ name: 'mystery', count: 1, totalUs: 1 }], omitted: 0,
  };
  const ok = checkHostEnvelope(wire(env({ type: 'profile', profile })), () => undefined);
  assert.ok(ok.ok && ok.env.body!.type === 'profile');
  assert.deepEqual((ok.env.body as Extract<HostBody, { type: 'profile' }>).profile, profile);
  const cleared = checkHostEnvelope(env({ type: 'profile', profile: null }), () => undefined);
  assert.ok(cleared.ok && (cleared.env.body as Extract<HostBody, { type: 'profile' }>).profile === null);
  const bad: [unknown, RegExp][] = [
    [{ type: 'profile' }, /profile must be an object/],
    [{ type: 'profile', profile: 'trace.json' }, /profile must be an object, got "trace.json"/],
    [{ type: 'profile', profile: { ...profile, format: 'perfetto' } }, /profile.format must be one of chrome-trace \| ncu-details \| ncu-raw/],
    [{ type: 'profile', profile: { ...profile, launches: -1 } }, /profile.launches must be an integer ≥ 0/],
    [{ type: 'profile', profile: { ...profile, stages: {} } }, /profile.stages must be an array of stages/],
    [{ type: 'profile', profile: { ...profile, stages: [{ ...profile.stages[0], totalUs: -3 }] } }, /profile.stages\[0\].totalUs must be ≥ 0/],
    [{ type: 'profile', profile: { ...profile, stages: [{ ...profile.stages[0], totalUs: Infinity }] } }, /totalUs must be a finite number/],
    [{ type: 'profile', profile: { ...profile, stages: [{ ...profile.stages[0], kernels: [{ ...kernel, name: 7 }] }] } }, /profile.stages\[0\].kernels\[0\].name must be a string/],
    [{ type: 'profile', profile: { ...profile, outside: [{ ...profile.outside[0], ncu: { dramPct: 140 } }] } }, /profile.outside\[0\].ncu.dramPct must be a percentage in \[0, 100\], got 140/],
    [{ type: 'profile', profile: { ...profile, unmatched: Array.from({ length: 1001 }, () => kernel) } }, /profile.unmatched lists 1001 kernels, at most 1000/],
    [{ type: 'profile', profile: { ...profile, unmatched: [{ ...kernel, extra: 1 }] } }, /unknown field 'extra'/],
    [{ type: 'profile', profile: { ...profile, path: '/home/me/trace.json' } }, /profile has an unknown field 'path'/],
    [{ type: 'profile', profile, extra: true }, /'profile' message has an unknown field 'extra'/],
  ];
  for (const [body, re] of bad) {
    const c = checkHostEnvelope(env(body), () => undefined);
    assert.ok(!c.ok, JSON.stringify(body).slice(0, 80));
    assert.match(c.reason, re);
  }
  // the panel's buttons name a command of a fixed list, nothing else
  const button = checkWebviewEnvelope(env({ type: 'command', command: 'compare' }), ctx);
  assert.ok(button.ok && button.env.body!.type === 'command');
  for (const [body, re] of [
    [{ type: 'command', command: 'workbench.action.terminal.new' }, /command.command must be one of importProfile \| compare, got "workbench.action.terminal.new"/],
    [{ type: 'command' }, /command.command must be one of/],
    [{ type: 'command', command: 'compare', args: ['/etc/passwd'] }, /'command' message has an unknown field 'args'/],
  ] as const) {
    const c = checkWebviewEnvelope(env(body), ctx);
    assert.ok(!c.ok);
    assert.match(c.reason, re);
    assert.equal(c.replyTo, undefined, 'an event: no reply owed');
  }
});
