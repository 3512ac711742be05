/**
 * The masked-layout view on a trace the engine made (runLayer, masked recipe, CPU): buffers with valid, executed and
 * stale rows per expert, the row-block lines, the contiguous layout of the same counts beside them, both paddings
 * in numbers; in the app shell its tab replaces the permutation's, the stepper has the recipe's six stages, and the
 * scale view draws the (E, max_m, G) scale tensors as one panel per expert.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../dom';
import { maskedModel, maskedBuffersSvg, wasteLines } from '../../../webview/views/maskedBuffers';
import { THEMES } from '../../../webview/theme';
import { VIEWS, viewsFor } from '../../../webview/views/registry';
import { toSvg } from '../../../webview/export/headless';
import { scaleTensorsOf } from '../../../webview/model/traceData';
import { render as renderScales } from '../../../webview/views/scales';
import { PROTOCOL_VERSION } from '../../../kernels/protocol';
import { shutdownGemmWorkers } from '../../../kernels/ops/gemm';
import { maskedRun } from '../maskedRun';
import { bootWebview } from '../bootWebview';

after(() => shutdownGemmWorkers());

test('model: per-expert fill, executed rows in row blocks, stale rows, and the contiguous layout of the same counts', async () => {
  const { trace } = await maskedRun();
  const m = maskedModel(trace);
  const p = trace.permutation;
  assert.equal(m.experts, 8);
  assert.equal(m.maxM, 64);
  assert.equal(m.rowBlock, 64, 'SM90 masked kernel row block');
  assert.deepEqual(m.counts, p.counts);
  assert.equal(m.routed, 32, '16 tokens × top-2, every expert local');
  assert.equal(m.bufferRows, 8 * 64);
  assert.equal(m.staleRows, 8 * 64 - 32);
  assert.equal(m.executedRows, p.masked!.executedRows);
  assert.equal(m.executedRows, m.counts.reduce((a, c) => a + Math.ceil(c / 64) * 64, 0));
  assert.deepEqual(m.contiguous.segLen, m.counts.map((c) => Math.ceil(c / 128) * 128));
  assert.equal(m.contiguous.padding, m.contiguous.mSum - 32);
  // bytes from the receive buffer's layout descriptor: (8, 64, 256) bf16
  assert.deepEqual(m.buffer, { tensor: 'hidden_states', rowBytes: 256 * 2, totalBytes: 8 * 64 * 256 * 2, dtype: 'bf16' });
  const lines = wasteLines(m).join('\n');
  assert.match(lines, new RegExp(`stale rows \\(past masked_m\\): ${m.staleRows} = ${((100 * m.staleRows) / 512).toFixed(1)}% of the buffers`));
  assert.match(lines, new RegExp(`contiguous layout \\(align\\(count, 128\\)\\): M_sum ${m.contiguous.mSum} rows, ${m.contiguous.padding} padding`));
});

test('the picture: one buffer per expert with valid / executed-padding / stale rows, row-block lines, contiguous segments beside', async () => {
  const { trace } = await maskedRun();
  const m = maskedModel(trace);
  const { document, container } = makeDom();
  const svg = maskedBuffersSvg(document, m, { theme: THEMES.dark, width: 1000, idPrefix: 't' }).node()!;
  container.appendChild(svg);
  assert.equal(svg.querySelectorAll('.panel.masked g.expert').length, 8);
  for (let e = 0; e < 8; e++) {
    const g = svg.querySelector(`.panel.masked g.expert[data-expert="${e}"]`)!;
    const h = (cls: string): number => Number(g.querySelector(`rect.${cls}`)!.getAttribute('height'));
    const unit = h('valid-rows') / Math.max(1e-9, m.counts[e]!);
    if (m.counts[e]) assert.ok(Math.abs(h('executed-padding') - unit * (m.executed[e]! - m.counts[e]!)) < 1e-6, `expert ${e} executed padding`);
    assert.match(g.querySelector('title')!.textContent!, new RegExp(`expert ${e}: masked_m ${m.counts[e]} of 64 rows`));
  }
  assert.equal(svg.querySelectorAll('.panel.contiguous g.segment').length, m.counts.filter((c) => c > 0).length);
  assert.equal(svg.querySelectorAll('.waste-line').length, 4);
  // max_m 64 is one row block on SM90: the buffer ends on a block edge, no line inside
  assert.equal(svg.querySelectorAll('line.row-block').length, 0);
  // a larger buffer shows the kernel's block edges inside it
  const wide = maskedBuffersSvg(document, { ...m, maxM: 256, bufferRows: 8 * 256, staleRows: 8 * 256 - m.routed }, { theme: THEMES.dark, width: 1000, idPrefix: 'w' }).node()!;
  assert.equal(wide.querySelectorAll('line.row-block').length, 3);
  assert.ok(!svg.outerHTML.includes('var(--'));
});

test('registry: the masked view applies to masked runs, the permutation view to contiguous ones; standalone export', async () => {
  const { trace } = await maskedRun();
  assert.deepEqual(viewsFor(trace).map((v) => v.id), ['scales', 'maskedBuffers', 'timing', 'heatmap']);
  assert.equal(VIEWS.find((v) => v.id === 'permutation')!.applies(trace), false);
  const svg = toSvg('maskedBuffers', { trace }, { theme: 'light' });
  assert.match(svg, /Masked buffers — /);
  assert.match(svg, /stale rows \(past masked_m\)/);
});

test('scale tensors of shape (E, max_m, G): one logical panel per expert, storage from the descriptor', async () => {
  const { trace } = await maskedRun();
  const tensors = scaleTensorsOf(trace);
  const t = tensors.find((x) => x.name === 'a1q_scale_layout')!;
  assert.deepEqual([t.groups, t.rows, t.kBlocks], [8, 64, 2]);
  const { container } = makeDom();
  const h = renderScales(container, { tensors }, { theme: THEMES.dark, tensor: 'a1q_scale_layout', width: 1200, height: 800 });
  assert.equal(h.panels.logical.tiles, 8, 'one tile per expert');
  assert.equal(h.panels.layout.order, 'mn-major');
  // expert 3, row 5, K-block 1 sits at 3·(64·2) + 1·64 + 5 in the MN-major per-expert layout
  assert.deepEqual(h.hoverLogical({ group: 3, row: 5, kBlock: 1 }).storage, [{ slot: 3 * 128 + 64 + 5 }]);
  // rows past masked_m were never quantized: scale 0, drawn quietly and named in the legend
  const legend = [...container.querySelectorAll('.legend text, .legend-strip text')].map((x) => x.textContent);
  assert.ok(legend.includes('scale 0 (row not quantized)'), legend.join(' | '));
});

test('the app shell on a masked trace: six stages, keys 1…4 over the views that apply, 2 = masked buffers', async () => {
  const { trace } = await maskedRun();
  const app = await bootWebview();
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace });
  assert.equal(app.doc.querySelectorAll('.stage-item').length, 6);
  assert.deepEqual([...app.doc.querySelectorAll('.tab')].map((t) => t.id), ['tab-scales', 'tab-maskedBuffers', 'tab-timing', 'tab-heatmap']);
  app.key('2');
  assert.equal(app.state()!.view, 'maskedBuffers');
  assert.ok(app.doc.querySelector('.masked-view .panel.masked g.expert'));
  assert.deepEqual([...app.doc.querySelectorAll('.actions button')].map((b) => b.getAttribute('data-format')), ['svg', 'png']);
  (app.doc.querySelector('button[data-format="svg"]') as HTMLButtonElement).click();
  const [req] = app.requests('export');
  assert.equal(req!.body.view, 'maskedBuffers');
  assert.match(req!.body.svg!, /Masked buffers/);
  app.key('End');
  assert.equal(app.doc.querySelector('.stage-item.current')!.getAttribute('data-stage'), 'gemm2');
  assert.deepEqual(app.errors, []);
});
