import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JSDOM } from 'jsdom';
import { toSvg, svgToPng, toTikz } from '../../../webview/export/headless';
import { pngSize } from '../../../webview/export/png';
import { scaleTensorsOf } from '../../../webview/model/traceData';
import { scalePanels, storageCellCount } from '../../../webview/views/scalePanels';
import { MoeError } from '../../../kernels/errors';
import { smallTrace, deepseekV3Trace } from '../fixtures';
import type { ViewId } from '../../../kernels/protocol';
import { VIEWS } from '../../../webview/views/registry';

function parseSvg(svg: string): Document {
  const { window } = new JSDOM('');
  const doc = new window.DOMParser().parseFromString(svg, 'image/svg+xml');
  assert.equal(doc.getElementsByTagName('parsererror').length, 0, 'well-formed XML');
  return doc;
}

const small = smallTrace('cpu');
/** the same run with SM100's packed UE8M0 activation-scale layout */
const small100 = smallTrace('cpu', 'ue8m0', 'sm100');

test('every view that applies exports as standalone SVG: namespace, size, concrete colours', () => {
  const views = VIEWS.filter((v) => v.applies(small)).map((v) => v.id);
  assert.deepEqual(views, ['scales', 'permutation', 'timing', 'heatmap']);
  for (const view of views) {
    const svg = toSvg(view, { trace: small, compare: smallTrace('cuda'), tensor: view === 'heatmap' ? 'topk_weights' : undefined }, { theme: 'dark' });
    const doc = parseSvg(svg);
    const root = doc.documentElement;
    assert.equal(root.namespaceURI, 'http://www.w3.org/2000/svg', view);
    assert.ok(Number(root.getAttribute('width')) > 0 && Number(root.getAttribute('height')) > 0, `${view} size`);
    assert.ok(!svg.includes('var(--'), `${view}: no CSS variables outside VS Code`);
    assert.equal(root.querySelector('rect.bg')!.getAttribute('fill'), '#1f1f1f', `${view}: dark theme background`);
  }
});

test('scales SVG export: one rect per cell, padding patterns referenced exist', () => {
  const svg = toSvg('scales', { trace: small100, tensor: 'a1q_scale_layout' }, { theme: 'light' });
  const doc = parseSvg(svg);
  const t = scaleTensorsOf(small100).find((x) => x.name === 'a1q_scale_layout')!;
  const P = scalePanels(t);
  assert.equal(P.layout.packed, true);
  assert.equal(doc.querySelectorAll('rect.logical-cell').length, 37 * 4);
  assert.equal(doc.querySelectorAll('rect.storage-cell').length, storageCellCount(P));
  assert.equal(doc.querySelectorAll('rect.kind-pad').length, (P.layout.allocated - P.layout.addressed) * 4);
  for (const r of doc.querySelectorAll('rect[fill^="url("]')) {
    const id = /url\(#(.+)\)/.exec(r.getAttribute('fill')!)![1]!;
    assert.ok(doc.getElementById(id), `pattern ${id} defined`);
  }
});

test('huge canvas views export as aggregated vectors (bounded node count)', () => {
  const ds = deepseekV3Trace();
  const svg = toSvg('scales', { trace: ds, tensor: 'w13_weight_scale_inv' }, { theme: 'dark', maxRects: 2000 });
  const doc = parseSvg(svg);
  const bins = doc.querySelectorAll('rect.bin').length;
  assert.ok(bins > 100 && bins <= 2 * 2100, `${bins} bins`);
  assert.ok(doc.querySelector('g.zoom[data-aggregated]'));
  assert.ok(svg.length < 2_000_000, `${svg.length} bytes`);
});

test('PNG: decodable, IHDR size = SVG size × scale', () => {
  const svg = toSvg('timing', { trace: small }, { theme: 'light', width: 700 });
  const root = parseSvg(svg).documentElement;
  const w = Number(root.getAttribute('width'));
  const h = Number(root.getAttribute('height'));
  const png = svgToPng(svg, 2);
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  assert.deepEqual(pngSize(png), { width: 2 * w, height: 2 * h });
  assert.throws(() => svgToPng(svg, 0), RangeError);
  assert.throws(() => svgToPng('<svg', 1));
});

test('TikZ names every cell (logical and storage), padding marked', () => {
  for (const [arch, trace] of [['sm90', small], ['sm100', small100]] as const) {
    const tex = toTikz('scales', { trace, tensor: 'a1q_scale_layout' });
    const t = scaleTensorsOf(trace).find((x) => x.name === 'a1q_scale_layout')!;
    const P = scalePanels(t);
    assert.match(tex, /\\begin\{tikzpicture\}[\s\S]*\\end\{tikzpicture\}/);
    const logical = tex.match(/\\node\[[^\]]*\] \(L-\d+-\d+-\d+\)/g) ?? [];
    const storage = tex.match(/\\node\[[^\]]*\] \(S-\d+(-\d)?\)/g) ?? [];
    assert.equal(logical.length, t.values.length, `${arch} logical nodes`);
    assert.equal(storage.length, storageCellCount(P), `${arch} storage nodes`);
    assert.equal(new Set(storage).size, storage.length, 'unique names');
    assert.equal((tex.match(/\\node\[pad\]/g) ?? []).length, (P.layout.allocated - P.layout.addressed) * (arch === 'sm100' ? 4 : 1));
    if (arch === 'sm100') assert.equal((tex.match(/\\node\[kpad\]/g) ?? []).length, P.layout.addressed * (P.layout.storageCols * 4 - t.kBlocks));
    // the logical cell shows where it is stored: row 4, K-block 1 → offset 1·40 + 4 on SM90
    if (arch === 'sm90') assert.match(tex, /\(L-0-4-1\) at \([^)]*\) \{44\}/);
  }
  const perm = toTikz('permutation', { trace: small });
  assert.equal((perm.match(/\(R-\d+\)/g) ?? []).length, small.permutation.mSum);
  assert.match(toTikz('timing', { trace: small, compare: smallTrace('cuda') }), /of roofline/);
});

test('TikZ refuses grids LaTeX cannot hold, and unknown views, with MoeErrors', () => {
  assert.throws(() => toTikz('scales', { trace: deepseekV3Trace(), tensor: 'w13_weight_scale_inv' }), (e: unknown) => e instanceof MoeError && e.code === 'E_RANGE' && /w13_weight_scale_inv/.test(e.message));
  assert.throws(() => toTikz('heatmap', { trace: small }), (e: unknown) => e instanceof MoeError && /TikZ export exists for scales, permutation, timing, not heatmap/.test(e.message));
  assert.throws(() => toSvg('bogus' as ViewId, { trace: small }), (e: unknown) => e instanceof MoeError && /unknown view 'bogus' \(views: scales, permutation, maskedBuffers, timing, heatmap, megamoeInterleave/.test(e.message));
  assert.throws(() => toSvg('maskedBuffers', { trace: small }), (e: unknown) => e instanceof MoeError && /does not apply to this run/.test(e.message));
  // a scale tensor asked for by name is that tensor or an error, never silently another one
  assert.throws(() => toSvg('scales', { trace: small, tensor: 'mm1_out' }), (e: unknown) => e instanceof MoeError && /no scale tensor 'mm1_out' with values here; scale tensors: a1q_scale, a1q_scale_layout/.test(e.message));
  assert.throws(() => toTikz('scales', { trace: small, tensor: 'nope' }), /no scale tensor 'nope'/);
});
