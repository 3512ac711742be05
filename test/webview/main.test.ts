/**
 * The app shell as it ships: webview/main.ts bundled by esbuild (as esbuild.mjs does) and run inside jsdom with a
 * stub host speaking the protocol's envelopes — events, view switching by the registry, saved/restored state,
 * export and tile requests answered (or failed) by the host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROTOCOL_VERSION, type WebviewState } from '../../kernels/protocol';
import { smallTrace } from './fixtures';
import { bootWebview } from './bootWebview';

const boot = (saved?: WebviewState) => bootWebview(saved, '<p>Running the layer…</p>');
const archs = [{ id: 'sm90', label: 'SM90 (Hopper)' }, { id: 'sm100', label: 'SM100 (Blackwell)' }];
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

test('ready → trace → header, stepper and the scale view; number keys switch views; the state is saved', async () => {
  const app = await boot();
  assert.deepEqual(app.posted()[0], { type: 'ready', version: PROTOCOL_VERSION });
  assert.equal(app.doc.querySelector('#app p'), null, 'loading line replaced');
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace: smallTrace('cpu'), compare: smallTrace('cuda'), archs });
  assert.deepEqual(app.posted().at(-1), { type: 'drawn', partial: false });
  assert.match(app.doc.querySelector('.app-header h1')!.textContent!, /e2e_small/);
  assert.match(app.doc.querySelector('.badges')!.textContent!, /CPU · CPU \(2 threads\).*vs SM90 · CUDA/);
  assert.equal(app.doc.querySelectorAll('.stage-item').length, 8);
  // a second run is shown beside this one: the Compare view applies
  assert.deepEqual([...app.doc.querySelectorAll('.tab')].map((t) => t.id), ['tab-scales', 'tab-permutation', 'tab-timing', 'tab-heatmap', 'tab-compare']);
  assert.equal(app.doc.querySelector('.tab[aria-selected="true"]')!.id, 'tab-scales');
  assert.ok(app.doc.querySelector('.scales-view rect.logical-cell'));
  assert.ok(app.doc.body.dataset.firstPictureMs);
  app.key('3');
  assert.equal(app.state()!.view, 'timing');
  assert.equal(app.doc.querySelectorAll('.timing-view g.stage-row').length, 8);
  app.key('ArrowRight');
  assert.equal(app.state()!.stage, 'transform_scales');
  app.key('2');
  assert.ok(app.doc.querySelector('.permutation-view rect.seg-rows'));
  app.key('6');
  assert.equal(app.state()!.view, 'permutation', 'no sixth view applies: the key does nothing');
  // the architecture is a re-run (the layouts drawn are the run's own)
  assert.equal(app.doc.querySelector('.rerun button[data-arch="sm90"]')!.getAttribute('aria-checked'), 'true');
  (app.doc.querySelector('.rerun button[data-arch="sm100"]') as HTMLButtonElement).click();
  assert.deepEqual(app.posted().at(-1), { type: 'rerun', arch: 'sm100' });
  assert.deepEqual(app.errors, []);
});

test('state is restored after a reload: view, stage and tensors; a state of another version is dropped', async () => {
  const trace = smallTrace('cpu');
  const app = await boot({ version: PROTOCOL_VERSION, view: 'scales', stage: 'gemm1', scaleTensor: 'w13_weight_scale_inv' });
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace });
  assert.equal(app.doc.querySelector('.stage-item.current')!.getAttribute('data-stage'), 'gemm1');
  assert.equal((app.doc.querySelector('.scales-view select') as HTMLSelectElement).value, 'w13_weight_scale_inv');
  const old = await boot({ version: 1, view: '../../x', stage: 'gemm1' } as unknown as WebviewState);
  old.send({ type: 'trace', version: PROTOCOL_VERSION, trace });
  assert.equal(old.state()!.view, 'scales');
  assert.equal(old.state()!.version, PROTOCOL_VERSION);
});

test('export buttons post standalone SVG as a request; the host’s answer (path or failure) is shown', async () => {
  const app = await boot();
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace: smallTrace('cpu') });
  (app.doc.querySelector('button[data-format="svg"]') as HTMLButtonElement).click();
  const [req] = app.requests('export');
  assert.equal(req!.body.view, 'scales');
  assert.equal(req!.body.format, 'svg');
  const doc = new app.dom.window.DOMParser().parseFromString(req!.body.svg!, 'image/svg+xml');
  assert.equal(doc.getElementsByTagName('parsererror').length, 0);
  assert.ok(!req!.body.svg!.includes('var(--'));
  app.reply(req!.id, { type: 'exported', path: '/tmp/scales.svg' });
  await settle();
  assert.match(app.doc.querySelector('.toast')!.textContent!, /Saved \/tmp\/scales.svg/);
  // the Export command: TikZ is rendered by the host from the trace; its failure reaches the banner
  app.send({ type: 'exportRequest', format: 'tikz' });
  const t = app.requests('export').at(-1)!;
  assert.deepEqual([t.body.format, t.body.svg], ['tikz', undefined]);
  app.replyError(t.id, { message: 'could not write /ro/x.tex: EACCES', code: 'E_IO' });
  await settle();
  assert.equal(app.doc.querySelector('.error-banner')!.hasAttribute('hidden'), false);
  assert.match(app.doc.querySelector('.error-banner')!.textContent!, /Export failed: could not write \/ro\/x.tex: EACCES/);
  // a view without a TikZ writer has no TikZ button
  app.key('4');
  assert.deepEqual([...app.doc.querySelectorAll('.actions button')].map((b) => b.getAttribute('data-format')), ['svg', 'png']);
});

test('heatmap asks the host for tiles and draws the binary answers; errors show in a banner; bad host messages are refused', async () => {
  const app = await boot({ version: PROTOCOL_VERSION, view: 'heatmap', stage: 'gemm1', heatmapTensor: 'mm1_out' });
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace: smallTrace('cpu') });
  const reqs = app.requests('tile');
  assert.ok(reqs.length > 1);
  for (const r of reqs) {
    assert.equal(r.body.tensor, 'mm1_out');
    assert.ok(r.body.rows[1] - r.body.rows[0] <= 64 && r.body.cols[1] - r.body.cols[0] <= 64);
  }
  const r0 = reqs[0]!.body;
  const n = (r0.rows[1] - r0.rows[0]) * (r0.cols[1] - r0.cols[0]);
  app.reply(reqs[0]!.id, { type: 'tile', tile: { tensor: 'mm1_out', mode: 'value', rows: r0.rows, cols: r0.cols, values: new Float32Array(n).fill(1), shape2d: [512, 1024] } });
  app.replyError(reqs[1]!.id, { message: 'mm1_out: gone' });
  await settle();
  assert.match(app.doc.querySelector('.heatmap-view .status')!.textContent!, /failed: mm1_out: gone/);
  // a reply whose values are JSON numbers (not binary) is refused, and fails its request with the reason
  const r2 = reqs[2]!;
  app.deliver({ id: 77, inReplyTo: r2.id, body: { type: 'tile', tile: { tensor: 'mm1_out', mode: 'value', rows: r2.body.rows, cols: r2.body.cols, values: [1], shape2d: [512, 1024] } } });
  await settle();
  assert.match(app.doc.querySelector('.heatmap-view .status')!.textContent!, /the host's reply was refused: tile values must be a Float32Array/);
  app.send({ type: 'error', message: 'CUDA addon crashed: out of memory' });
  assert.equal(app.doc.querySelector('.error-banner')!.hasAttribute('hidden'), false);
  assert.match(app.doc.querySelector('.error-banner')!.textContent!, /out of memory/);
  app.send({ type: 'trace', version: 99, trace: smallTrace('cpu') });
  assert.match(app.doc.querySelector('.error-banner')!.textContent!, /protocol v2, the host sent v99/);
  // a message the webview cannot read: refused, said on screen and to the host's log
  app.deliver({ id: 5, body: { type: 'selectView', view: 'timing' } });
  assert.match(app.doc.querySelector('.error-banner')!.textContent!, /cannot read: unknown host message type "selectView"/);
  const log = app.posted().at(-1)!;
  assert.equal(log.type, 'log');
  assert.deepEqual(app.errors, []);
});

test('a view that fails to draw says why on screen and in the host’s log', async () => {
  const app = await boot({ version: PROTOCOL_VERSION, view: 'permutation' });
  const trace = smallTrace('cpu');
  const bad = { ...trace, tensors: { ...trace.tensors, topk_ids: { ...trace.tensors['topk_ids']!, inline: trace.tensors['topk_ids']!.inline!.map(() => 99) } } };
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace: bad });
  assert.match(app.doc.querySelector('.view-error')!.textContent!, /expert id 99 outside \[0, 4\)/);
  assert.ok(app.posted().some((m) => m.type === 'log' && m.level === 'error' && /permutation view: topk_ids: expert id 99/.test(m.message)));
});

test('a scale tensor too large to travel inline: its values are fetched whole through tiles, then drawn', async () => {
  const full = smallTrace('cpu');
  const { inline, ...rest } = full.tensors['a1q_scale_layout']!;
  const trace = { ...full, tensors: { ...full.tensors, a1q_scale_layout: rest } };
  const app = await boot({ version: PROTOCOL_VERSION, view: 'scales', scaleTensor: 'a1q_scale_layout' });
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace });
  assert.match(app.doc.querySelector('#view-host .view-pending')!.textContent!, /Loading the values of a1q_scale_layout/);
  const [req] = app.requests('tile');
  assert.deepEqual([req!.body.tensor, req!.body.rows, req!.body.cols, req!.body.mode], ['a1q_scale_layout', [0, 37], [0, 4], 'value']);
  app.reply(req!.id, { type: 'tile', tile: { tensor: 'a1q_scale_layout', mode: 'value', rows: [0, 37], cols: [0, 4], values: Float32Array.from(inline!), shape2d: [37, 4] } });
  await settle();
  assert.equal((app.doc.querySelector('.scales-view select') as HTMLSelectElement).value, 'a1q_scale_layout');
  assert.equal(app.doc.querySelectorAll('.scales-view rect.logical-cell').length, 37 * 4);
  // the export draws the fetched values too
  (app.doc.querySelector('button[data-format="svg"]') as HTMLButtonElement).click();
  assert.match(app.requests('export')[0]!.body.svg!, /a1q_scale_layout/);
  // a fetch that fails says why
  const again = await boot({ version: PROTOCOL_VERSION, view: 'scales', scaleTensor: 'a1q_scale_layout' });
  again.send({ type: 'trace', version: PROTOCOL_VERSION, trace });
  again.replyError(again.requests('tile')[0]!.id, { message: 'tile a1q_scale_layout: no run is loaded in this panel' });
  await settle();
  assert.match(again.doc.querySelector('#view-host .view-error')!.textContent!, /a1q_scale_layout: tile a1q_scale_layout: no run is loaded/);
});

test('the header\'s buttons ask the host for its commands; an imported profile redraws the timing view with it; a compared run gets its own tab', async () => {
  const app = await boot();
  const trace = smallTrace('cuda');
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace, archs });
  assert.deepEqual([...app.doc.querySelectorAll('.tab')].map((t) => t.id), ['tab-scales', 'tab-permutation', 'tab-timing', 'tab-heatmap'], 'no Compare tab without a second run');
  (app.doc.querySelector('.header-tools button[data-command="importProfile"]') as HTMLButtonElement).click();
  assert.deepEqual(app.posted().at(-1), { type: 'command', command: 'importProfile' });
  (app.doc.querySelector('.header-tools button[data-command="compare"]') as HTMLButtonElement).click();
  assert.deepEqual(app.posted().at(-1), { type: 'command', command: 'compare' });
  app.key('3');
  assert.equal(app.doc.querySelectorAll('.timing-view g.bar.imported').length, 0);
  const profile = {
    file: 'run.pt.trace.json.gz', format: 'chrome-trace' as const, launches: 3,
    stages: [{ stage: 'gemm1', count: 2, totalUs: 14.5, kernels: [{ name: 'sm90_fp8_gemm_1d2d_impl', count: 2, totalUs: 14.5, rule: 'DeepGEMM grouped GEMM' }] }],
    outside: [], unmatched: [{ name: 'mystery_kernel', count: 1, totalUs: 1.5 }], omitted: 0,
  };
  app.send({ type: 'profile', profile });
  assert.equal(app.doc.querySelectorAll('.timing-view g.bar.imported').length, 1);
  assert.match(app.doc.querySelector('.timing-view table.unmatched')!.textContent!, /mystery_kernel/);
  // kept in the restore state, so the host can draw it again after a window reload
  assert.deepEqual(JSON.parse(JSON.stringify(app.state()!.profile)), profile);
  // a malformed profile is refused (banner + host log), the one shown stays
  app.send({ type: 'profile', profile: { ...profile, format: 'perfetto' } } as never);
  assert.match(app.doc.querySelector('.error-banner')!.textContent!, /profile.format must be one of/);
  assert.equal(app.doc.querySelectorAll('.timing-view g.bar.imported').length, 1);
  app.send({ type: 'profile', profile: null });
  assert.equal(app.doc.querySelectorAll('.timing-view g.bar.imported').length, 0);
  assert.equal(app.state()!.profile, undefined, 'a profile taken away is not restored');
  // MoE: Compare With… on SM100: the Compare tab shows the two runs' differences
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace, compare: smallTrace('cuda', 'ue8m0', 'sm100'), archs });
  (app.doc.querySelector('#tab-compare') as HTMLButtonElement).click();
  assert.equal(app.state()!.view, 'compare');
  assert.ok(app.doc.querySelector('.compare-view g.spec-diff g.row[data-key="architecture"]'));
  // the pictures: the first scale tensor whose layouts differ, both storage orders; the picker draws another and is saved
  assert.equal(app.doc.querySelector('.compare-view g.layout-pair')!.getAttribute('data-tensor'), 'a1q_scale_layout');
  assert.equal(app.doc.querySelectorAll('.compare-view g.panel.storage').length, 2);
  const picker = app.doc.querySelector('.compare-view select') as HTMLSelectElement;
  assert.match([...picker.options].map((o) => o.textContent).join('|'), /a1q_scale_layout \(layouts differ\)\|.*a2q_scale_layout \(layouts differ\)/);
  picker.value = 'a2q_scale_layout';
  picker.dispatchEvent(new app.dom.window.Event('change'));
  assert.equal(app.state()!.compareTensor, 'a2q_scale_layout');
  assert.equal(app.doc.querySelector('.compare-view g.layout-pair')!.getAttribute('data-tensor'), 'a2q_scale_layout');
  assert.equal(app.doc.querySelectorAll('.compare-view g.layout-pair').length, 1, 'redrawn, not added');
  assert.deepEqual(app.errors, []);
});
