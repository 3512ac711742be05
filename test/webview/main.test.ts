/**
 * The app shell as it ships: webview/main.ts bundled by esbuild (as esbuild.mjs does) and run inside jsdom with a
 * stub acquireVsCodeApi — protocol messages, view switching, saved/restored state, export and tile requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROTOCOL_VERSION, type WebviewMessage, type WebviewState } from '../../webview/protocol';
import { smallTrace } from './fixtures';
import { bootWebview } from './bootWebview';

const boot = (saved?: WebviewState) => bootWebview(saved, '<p>Running the layer…</p>');

test('ready → trace → header, stepper and the scale view; keys switch views and the state is saved', async () => {
  const app = await boot();
  assert.deepEqual(app.posted[0], { type: 'ready', version: PROTOCOL_VERSION });
  assert.equal(app.doc.querySelector('#app p'), null, 'loading line replaced');
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace: smallTrace('cpu'), compare: smallTrace('cuda') });
  assert.match(app.doc.querySelector('.app-header h1')!.textContent!, /e2e_small/);
  assert.match(app.doc.querySelector('.badges')!.textContent!, /CPU · CPU \(2 threads\).*vs CUDA/);
  assert.equal(app.doc.querySelectorAll('.stage-item').length, 8);
  assert.equal(app.doc.querySelector('.tab[aria-selected="true"]')!.id, 'tab-scales');
  assert.ok(app.doc.querySelector('.scales-view rect.logical-cell'));
  assert.ok(app.doc.body.dataset.firstPictureMs);
  app.key('3');
  assert.equal(app.state()!.view, 'timing');
  assert.equal(app.doc.querySelectorAll('.timing-view g.stage-row').length, 8);
  app.key('ArrowRight');
  assert.equal(app.state()!.stage, 'transform_scales');
  assert.deepEqual(app.posted.at(-1), { type: 'stage', stage: 'transform_scales' });
  app.key('2');
  assert.ok(app.doc.querySelector('.permutation-view rect.seg-rows'));
  (app.doc.querySelector('#tab-scales') as HTMLButtonElement).click();
  (app.doc.querySelector('button[data-arch="sm100"]') as HTMLButtonElement).click();
  assert.equal(app.state()!.arch, 'sm100');
  assert.deepEqual(app.errors, []);
});

test('state is restored after a reload: view, arch and tensors', async () => {
  const trace = smallTrace('cpu');
  const app = await boot({ version: PROTOCOL_VERSION, view: 'scales', stage: 'gemm1', arch: 'sm100', scaleTensor: 'w13_weight_scale_inv' });
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace });
  assert.equal(app.doc.querySelector('.stage-item.current')!.getAttribute('data-stage'), 'gemm1');
  assert.equal(app.doc.querySelector('button[data-arch="sm100"]')!.getAttribute('aria-checked'), 'true');
  assert.equal((app.doc.querySelector('.scales-view select') as HTMLSelectElement).value, 'w13_weight_scale_inv');
});

test('export buttons post standalone SVG (the host owns the file system); TikZ is rendered by the host', async () => {
  const app = await boot();
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace: smallTrace('cpu') });
  (app.doc.querySelector('button[data-format="svg"]') as HTMLButtonElement).click();
  const m = app.posted.at(-1) as Extract<WebviewMessage, { type: 'export' }>;
  assert.equal(m.type, 'export');
  assert.equal(m.view, 'scales');
  assert.equal(m.format, 'svg');
  const doc = new app.dom.window.DOMParser().parseFromString(m.svg!, 'image/svg+xml');
  assert.equal(doc.getElementsByTagName('parsererror').length, 0);
  assert.ok(!m.svg!.includes('var(--'));
  app.send({ type: 'exportRequest', format: 'tikz' });
  const t = app.posted.at(-1) as Extract<WebviewMessage, { type: 'export' }>;
  assert.deepEqual([t.format, t.svg, t.arch], ['tikz', undefined, 'sm90']);
});

test('heatmap asks the host for tiles and draws the answers; errors show in a banner', async () => {
  const app = await boot({ version: PROTOCOL_VERSION, view: 'heatmap', stage: 'gemm1', arch: 'sm90', heatmapTensor: 'mm1_out' });
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace: smallTrace('cpu') });
  const reqs = app.posted.filter((m): m is Extract<WebviewMessage, { type: 'tile' }> => m.type === 'tile');
  assert.ok(reqs.length > 0);
  for (const r of reqs) {
    assert.equal(r.tensor, 'mm1_out');
    assert.ok(r.rows[1] - r.rows[0] <= 64 && r.cols[1] - r.cols[0] <= 64);
  }
  const r0 = reqs[0]!;
  app.send({ type: 'tile', requestId: r0.requestId, tile: { tensor: 'mm1_out', mode: 'value', rows: r0.rows, cols: r0.cols, values: new Array((r0.rows[1] - r0.rows[0]) * (r0.cols[1] - r0.cols[0])).fill(1), shape2d: [512, 1024] } });
  app.send({ type: 'tileError', requestId: reqs[1]!.requestId, message: 'mm1_out: gone' });
  await new Promise((r) => setTimeout(r, 20));
  assert.match(app.doc.querySelector('.heatmap-view .status')!.textContent!, /failed: mm1_out: gone|tile\(s\) loaded/);
  app.send({ type: 'error', message: 'CUDA addon crashed: out of memory' });
  assert.equal(app.doc.querySelector('.error-banner')!.hasAttribute('hidden'), false);
  assert.match(app.doc.querySelector('.error-banner')!.textContent!, /out of memory/);
  app.send({ type: 'trace', version: 99 as typeof PROTOCOL_VERSION, trace: smallTrace('cpu') });
  assert.match(app.doc.querySelector('.error-banner')!.textContent!, /protocol v1, the host sent v99/);
});
