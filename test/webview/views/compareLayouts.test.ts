/**
 * The Compare view's pictures (issue 12): both runs' storage order of one scale tensor side by side, with captions,
 * a one-line diff and the example element outlined; both m_indices strips when only the permutation differs; drawn
 * from the descriptors alone, so a DeepSeek-V3 tensor of 58 M scales draws as bins without its values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../dom';
import { compareSvg, COMPARE_MAX_RECTS } from '../../../webview/views/compare';
import {
  exampleElement, geometryOf, layoutCaption, layoutDiffLine, permutationPair, pickLayoutTensor, runsOfMIndices, sharedScaleNames,
} from '../../../webview/views/compareLayouts';
import { scalePanels, storageCellCount } from '../../../webview/views/scalePanels';
import { renderViewSvg, serializeSvg } from '../../../webview/export/standalone';
import { viewById } from '../../../webview/views/registry';
import { permutationModel } from '../../../webview/model/permutation';
import { THEMES } from '../../../webview/theme';
import { deepseekV3Trace, smallTrace } from '../fixtures';
import type { Trace, TensorRef } from '../../../kernels/trace';

const sm90 = (): Trace => smallTrace('cuda', 'f32', 'sm90');
const sm100 = (): Trace => smallTrace('cuda', 'ue8m0', 'sm100');

test('SM90 vs SM100: the tensor shown is the first whose layouts differ; captions and the diff line say dtype, order, padding, packing, bytes and where [1, 1] lives', () => {
  const a = sm90();
  const b = sm100();
  assert.deepEqual(sharedScaleNames(a, b), ['a1q_scale', 'a1q_scale_layout', 'w13_weight_scale_inv', 'a2q_scale', 'a2q_scale_layout', 'w2_weight_scale_inv']);
  assert.equal(pickLayoutTensor(a, b), 'a1q_scale_layout', 'a1q_scale is row-major f32 in both: not the first picture');
  assert.equal(pickLayoutTensor(a, b, 'a2q_scale_layout'), 'a2q_scale_layout');
  assert.equal(pickLayoutTensor(a, b, 'no_such'), 'a1q_scale_layout', 'a saved name the runs lack falls back');
  const ra = a.tensors['a1q_scale_layout']!;
  const rb = b.tensors['a1q_scale_layout']!;
  assert.equal(layoutCaption(a, ra), 'SM90: f32, MN-major, TMA-aligned: MN padded 37→40');
  assert.equal(layoutCaption(b, rb), 'SM100: UE8M0 packed 4 per int32, MN-major, TMA-aligned: MN padded 37→40');
  const ga = geometryOf(a, ra);
  const gb = geometryOf(b, rb);
  const ex = exampleElement(ga, gb, scalePanels(ga), scalePanels(gb));
  // SM90 MN-major, column pitch 40: [1, 1] is slot 1 + 40 = 41, byte 164; SM100: word (row 1, K-word 0), byte 1
  assert.equal(ex.coord, '[1, 1]');
  assert.deepEqual([ex.a.address, ex.a.slot, ex.b.address, ex.b.slot, ex.b.byte], [164, 41, 5, 1, 1]);
  assert.equal(layoutDiffLine(ra, rb, ex), 'A → B: bytes 628 B → 160 B (0.25×) · padding 9 slots → 3 words · element [1, 1] at 0x00A4 (offset 41) → 0x0005 (word 1, byte 1)');
});

test('the pair is drawn by the scale view\'s storage panel: every slot (or byte) of each run, padding patterned, one cell size, the example outlined', () => {
  const a = sm90();
  const b = sm100();
  const { document } = makeDom();
  const svg = compareSvg(document, a, b, { theme: THEMES.light, width: 1000 }).node()!;
  const pair = svg.querySelector('g.layout-pair')!;
  assert.equal(pair.getAttribute('data-tensor'), 'a1q_scale_layout');
  const sideA = svg.querySelector('g.panel.side-a')!;
  const sideB = svg.querySelector('g.panel.side-b')!;
  const pa = scalePanels(geometryOf(a, a.tensors['a1q_scale_layout']!));
  const pb = scalePanels(geometryOf(b, b.tensors['a1q_scale_layout']!));
  assert.equal(sideA.querySelectorAll('rect.storage-cell').length, storageCellCount(pa));
  assert.equal(sideB.querySelectorAll('rect.storage-cell').length, storageCellCount(pb), 'a packed word is drawn as its 4 bytes');
  assert.equal(sideA.querySelectorAll('rect.storage-cell.kind-pad').length, 9, 'SM90: 157 slots allocated, 148 addressed');
  assert.equal(sideB.querySelectorAll('rect.storage-cell.kind-pad').length, 3 * 4, 'SM100: 3 padding words of 4 bytes');
  assert.equal(sideB.querySelectorAll('rect.word').length, pb.layout.drawn, 'word outlines');
  const w = (el: Element): string => el.querySelector('rect.storage-cell')!.getAttribute('width')!;
  assert.equal(w(sideA), w(sideB), 'one cell size on both sides');
  assert.equal(svg.querySelectorAll('rect.example').length, 2);
  const captions = [...svg.querySelectorAll('g.caption')].map((c) => c.textContent!);
  assert.match(captions[0]!, /^A · SM90: f32, MN-major, TMA-aligned: MN padded 37→40/);
  assert.match(captions[1]!, /^B · SM100: UE8M0 packed 4 per int32, MN-major,/);
  assert.match(captions[1]!, /int32 \[37, 1\] · 160 B · 40 words: 37 used, 3 padding/);
  assert.match(svg.querySelector('text.layout-diff')!.textContent!, /628 B → 160 B \(0\.25×\)/);
  assert.match(svg.querySelector('g.layout-pair g.legend')!.textContent!, /colour = K-block held/);
  // ids are unique: two storage panels, two pattern sets, no clash with the tables
  const ids = [...svg.querySelectorAll('[id]')].map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length);
  // K-block colouring: SM90 MN-major lines hold one K-block each, so a line is one colour
  const line0 = [...sideA.querySelectorAll('rect.storage-cell.kind-data')].filter((r) => r.getAttribute('y') === '0').map((r) => r.getAttribute('fill'));
  assert.equal(new Set(line0).size, 1);
});

test('the picker\'s tensor is drawn and exported; the export path stays well-formed SVG', () => {
  const a = sm90();
  const b = sm100();
  const { document } = makeDom();
  assert.equal(viewById('compare')!.exportTensor!({ version: 2, view: 'compare', compareTensor: 'a2q_scale_layout' }), 'a2q_scale_layout');
  const svg = renderViewSvg(document, 'compare', { trace: a, compare: b, tensor: 'a2q_scale_layout' }, { theme: 'dark' });
  assert.equal(svg.querySelector('g.layout-pair')!.getAttribute('data-tensor'), 'a2q_scale_layout');
  assert.match(svg.querySelector('g.caption.side-b')!.textContent!, /K-major \(row-major\)/);
  const xml = serializeSvg(svg);
  assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const parsed = new (makeDom().window.DOMParser)().parseFromString(xml, 'image/svg+xml');
  assert.equal(parsed.querySelector('parsererror'), null);
  assert.equal(parsed.querySelectorAll('g.panel.storage').length, 2);
});

/** SM100 weight scales as DeepGEMM keeps them: one row per weight row (N, not N/128), K-blocks packed 4 per int32, MN-major. */
function sm100WeightScales(E: number, N: number, kBlocks: number): TensorRef {
  const words = Math.ceil(kBlocks / 4);
  const n = E * N * words;
  return {
    name: 'w13_weight_scale_inv', dtype: 'i32', shape: [E, N, words],
    layout: {
      order: 'mn-major', shape: [E, N, words], strides: [N * words, 1, N], offset: 0, storageElems: n, addressedElems: n, itemBytes: 4,
      packing: { perWord: 4, alongDim: 2, byteOrder: 'little', logicalExtent: kBlocks }, summary: 'int32 packed, MN-major',
    },
    summary: { min: 0, max: 0, mean: 0, absMax: 0, nanCount: 0, infCount: 0 },
  };
}

test('DeepSeek-V3 sizes: 0.2 M activation scales and 58 M SM100 weight scales draw as bins from the descriptors, in bounded time and nodes', () => {
  const a = deepseekV3Trace('cuda', 'sm90');
  const b0 = deepseekV3Trace('cuda', 'sm100');
  // w13 on SM100 as the engine stores it for the kernel: 256 × 4096 × 14 words (14.7 M words, 58.7 M scales); no values travel
  const b: Trace = { ...b0, tensors: { ...b0.tensors, w13_weight_scale_inv: sm100WeightScales(256, 4096, 56) } };
  const { document } = makeDom();
  for (const tensor of ['a1q_scale_layout', 'w13_weight_scale_inv']) {
    const t0 = performance.now();
    const svg = compareSvg(document, a, b, { theme: THEMES.light, width: 1000, tensor }).node()!;
    const ms = performance.now() - t0;
    assert.equal(svg.querySelector('g.layout-pair')!.getAttribute('data-tensor'), tensor);
    for (const side of ['a', 'b']) {
      const zoom = svg.querySelector(`g.panel.side-${side} g.zoom`)!;
      assert.ok(zoom.getAttribute('data-aggregated'), `${tensor} ${side}: binned`);
      const bins = zoom.querySelectorAll('rect.bin').length;
      assert.ok(bins > 100 && bins <= COMPARE_MAX_RECTS * 1.2, `${tensor} ${side}: ${bins} bins`);
    }
    assert.ok(svg.querySelectorAll('*').length < 12000, `${tensor}: ${svg.querySelectorAll('*').length} nodes`);
    assert.ok(ms < 8000, `${tensor}: drawn in ${ms.toFixed(0)} ms`);
    if (tensor === 'w13_weight_scale_inv') {
      assert.match(svg.querySelector('g.caption.side-b')!.textContent!, /59 MB|58\.7 MB|14,680,064 words/);
      // 128× the cells: one cell size would leave A a speck, so each side is fitted and the heading says so
      assert.match(svg.querySelector('g.layout-pair text.heading')!.textContent!, /not to one scale: B holds 128× A's cells/);
      assert.match(svg.querySelector('text.layout-diff')!.textContent!, /bytes 1\.8 MB → 58\.7 MB \(32×\)/);
    }
  }
  // geometry only: the 58.7 M scales are never materialised
  const g = geometryOf(b, b.tensors['w13_weight_scale_inv']!);
  assert.equal(g.values.length, 256 * 4096 * 56);
  assert.ok(Number.isNaN(g.values[12345]!));
});

test('m_indices as written: runs of one expert\'s rows, the −1 rows after them its padding', () => {
  assert.deepEqual(runsOfMIndices([0, 0, -1, -1, 2, 2, 2, -1, 3]), [
    { expert: 0, start: 0, rows: 2, pad: 2 }, { expert: 2, start: 4, rows: 3, pad: 1 }, { expert: 3, start: 8, rows: 1, pad: 0 },
  ]);
  assert.deepEqual(runsOfMIndices([-1, 1]), [{ expert: -1, start: 0, rows: 0, pad: 1 }, { expert: 1, start: 1, rows: 1, pad: 0 }]);
  assert.deepEqual(runsOfMIndices([]), []);
});

test('two recipes on one routing: both m_indices strips on one row scale; other routings or equal buffers get a line, not strips', () => {
  const a = sm90();
  const ids = a.tensors['topk_ids']!;
  // the same routing permuted into 64-row segments instead of 128 (another recipe's alignment)
  const m64 = permutationModel({ tokens: ids.shape[0]!, topk: ids.shape[1]!, experts: a.spec.experts, topkIds: ids.inline!, blockM: 64 });
  const mi = a.tensors['m_indices']!;
  const b: Trace = { ...sm100(), tensors: { ...sm100().tensors, m_indices: { ...mi, shape: [m64.mSum], inline: Array.from(m64.mIndices) } } };
  const pair = permutationPair(a, b);
  assert.ok(pair.sameRouting && pair.differ);
  assert.equal(pair.a!.rows, 512);
  assert.equal(pair.b!.rows, m64.mSum);
  const { document } = makeDom();
  const svg = compareSvg(document, a, b, { theme: THEMES.light, width: 1000 }).node()!;
  const strips = svg.querySelectorAll('g.strip-pair g.strip');
  assert.equal(strips.length, 2);
  const experts = new Set(Array.from(ids.inline!)).size;
  assert.equal(strips[0]!.querySelectorAll('rect.seg-rows').length, experts);
  assert.equal(strips[1]!.querySelectorAll('rect.seg-rows').length, experts);
  assert.match(strips[0]!.textContent!, /A m_indices.*row 0 … 511/);
  assert.match(strips[1]!.textContent!, new RegExp(`B m_indices.*row 0 … ${m64.mSum - 1}`));
  // one row scale: B's shorter buffer ends left of A's
  const right = (s: Element): number => Math.max(...[...s.querySelectorAll('rect.seg-rows, rect.seg-pad')].map((r) => +r.getAttribute('x')! + +r.getAttribute('width')!));
  assert.ok(right(strips[1]!) < right(strips[0]!) - 1);
  // the same buffer: a note, no strips
  const same = compareSvg(document, a, sm100(), { theme: THEMES.light, width: 1000 }).node()!;
  assert.equal(same.querySelectorAll('g.strip-pair').length, 0);
  assert.match(same.querySelector('text.perm-note')!.textContent!, /Same routing and the same permuted buffer \(512 rows\)/);
  // other tokens routed: not compared row by row
  const other: Trace = { ...b, tensors: { ...b.tensors, topk_ids: { ...ids, inline: Array.from(ids.inline!, (e) => (e + 1) % a.spec.experts) } } };
  assert.equal(permutationPair(a, other).sameRouting, false);
  assert.match(compareSvg(document, a, other, { theme: THEMES.light }).node()!.querySelector('text.perm-note')!.textContent!, /route different tokens/);
});

test('runs without a common scale tensor say so instead of drawing', () => {
  const a = sm90();
  const b: Trace = { ...sm100(), tensors: Object.fromEntries(Object.entries(sm100().tensors).filter(([n]) => !/_scale/.test(n))) };
  const { document } = makeDom();
  const svg = compareSvg(document, a, b, { theme: THEMES.light }).node()!;
  assert.equal(svg.querySelectorAll('g.layout-pair').length, 0);
  assert.match(svg.querySelector('text.no-layouts')!.textContent!, /No scale tensor with a layout descriptor is in both runs/);
});
