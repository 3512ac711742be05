import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../dom';
import { render, SVG_CELL_LIMIT } from '../../../webview/views/scales';
import { scalePanels, logicalRect, logicalAt, storageAt, storageRect } from '../../../webview/views/scalePanels';
import { THEMES, themeFromDocument } from '../../../webview/theme';
import { scaleTensorsOf } from '../../../webview/model/traceData';
import { deepseekV3Trace, kernelLayoutRef, smallTrace } from '../fixtures';
import { scaleTensorOf, type ScaleTensor } from '../../../webview/model/scaleLayout';

/** x_scale (5 rows × 2 K-blocks) in a kernel layout, exactly as a trace carries it (engine descriptor, inline values) */
const x5 = (arch: 'sm90' | 'sm100'): ScaleTensor => {
  const ref = kernelLayoutRef('x_scale', [5, 2], [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], arch);
  return scaleTensorOf(ref.name, 'activation', ref.layout, ref.inline!, { rows: 1, k: 128 });
};
const count = (root: ParentNode, sel: string): number => root.querySelectorAll(sel).length;

test('SM90 M=5, 2 K-blocks: logical and storage cells, padding = allocated − addressed, unallocated tail marked', () => {
  const { container } = makeDom();
  const h = render(container, { tensors: [x5('sm90')] }, { theme: THEMES.dark });
  assert.equal(h.mode, 'svg');
  assert.equal(count(container, 'rect.logical-cell'), 10);
  assert.equal(count(container, 'rect.storage-cell'), 16);
  const L = h.panels.layout;
  assert.equal(count(container, 'rect.kind-data'), L.addressed);
  assert.equal(count(container, 'rect.kind-pad'), L.allocated - L.addressed);
  assert.equal(count(container, 'rect.kind-unalloc'), 3);
  // padding is a pattern, not a colour: its fill points at the hatch pattern that exists in <defs>
  const pad = container.querySelector('rect.kind-pad')!;
  const id = /url\(#(.+)\)/.exec(pad.getAttribute('fill')!)![1]!;
  assert.ok(container.querySelector(`pattern#${id} line`), 'hatch pattern with strokes');
  const legend = [...container.querySelectorAll('.legend text')].map((t) => t.textContent);
  assert.ok(legend.includes('TMA padding slot') && legend.includes('not allocated'), `legend: ${legend.join(' | ')}`);
  // storage labels are storage offsets, address column in bytes
  const labels = [...container.querySelectorAll('.storage .cell-label')].map((t) => t.textContent);
  assert.deepEqual(labels.slice(0, 3), ['0', '1', '2']);
  assert.equal(container.querySelectorAll('text.addr')[1]!.textContent, '0x0020');
});

test('SM100 packing: 4 labelled bytes per int32 word, zero K-block bytes dotted, drawn from the packed tensor', () => {
  const { container } = makeDom();
  const h = render(container, { tensors: [x5('sm100')] }, { theme: THEMES.light });
  assert.equal(h.panels.layout.packed, true);
  assert.deepEqual(Array.from(h.panels.layout.tensor.values), [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], 'the words decode to the scales');
  assert.equal(count(container, 'rect.logical-cell'), 10);
  assert.equal(count(container, 'rect.storage-cell'), 8 * 4, '8 words (M padded 5→8) × 4 bytes');
  assert.equal(count(container, 'rect.word'), 8);
  assert.equal(count(container, 'rect.kind-kpad'), 5 * 2, 'K-blocks 2→4: two zero bytes per data word');
  assert.equal(count(container, 'rect.kind-pad'), 3 * 4);
  const byteLabels = [...container.querySelectorAll('.storage .cell-label')].map((t) => t.textContent);
  for (const b of ['b0', 'b1', 'b2', 'b3']) assert.equal(byteLabels.filter((l) => l === b).length, 8, b);
  const legend = [...container.querySelectorAll('.legend text')].map((t) => t.textContent ?? '');
  assert.ok(legend.some((l) => /little-endian/.test(l)) && legend.includes('zero K-block byte'));
});

test('hover cross-highlights the same element in the other picture and says where it lives', () => {
  const { container } = makeDom();
  const h = render(container, { tensors: [x5('sm90')] }, { theme: THEMES.dark });
  // real DOM event on a logical cell (row 4, K-block 1) → storage slot 1·8 + 4 = 12
  const cell = container.querySelector('rect.logical-cell[data-r="4"][data-j="1"]')!;
  cell.dispatchEvent(new container.ownerDocument.defaultView!.MouseEvent('mouseover', { bubbles: true }));
  assert.ok(container.querySelector('rect.storage-cell[data-slot="12"]')!.classList.contains('hl'));
  assert.ok(cell.classList.contains('hl'));
  const tip = container.querySelector('.tooltip')!.textContent!;
  assert.match(tip, /x_scale\[4, 1\]/);
  assert.match(tip, /offset 12, byte address 0x0030/);
  assert.match(tip, /K 128…255/);
  assert.match(tip, /2\^9/);
  h.clearHover();
  assert.equal(count(container, '.hl'), 0);
  // and back: a storage byte of the packed layout highlights its logical cell
  const { container: c2 } = makeDom();
  const p = render(c2, { tensors: [x5('sm100')] }, { theme: THEMES.dark });
  const info = p.hoverStorage(4, 1)!;
  assert.deepEqual(info.logical, { group: 0, row: 4, kBlock: 1 });
  assert.ok(c2.querySelector('rect.logical-cell[data-r="4"][data-j="1"]')!.classList.contains('hl'));
  assert.match(info.lines.join(' '), /UE8M0 byte 0x88/);
  assert.match(p.hoverStorage(5, 0)!.lines[0]!, /^TMA padding: MN padded 5→8/);
  assert.match(p.hoverStorage(0, 3)!.lines[0]!, /zero byte: K-blocks padded 2→4/);
});

test('weight scales (E × N-blocks × K-blocks): drawn as the trace lays them out, worded as 128×128 blocks', () => {
  const { container } = makeDom();
  const tensors = scaleTensorsOf(smallTrace());
  assert.deepEqual(tensors.map((t) => t.name), ['a1q_scale', 'a1q_scale_layout', 'w13_weight_scale_inv', 'a2q_scale', 'a2q_scale_layout', 'w2_weight_scale_inv']);
  const h = render(container, { tensors }, { theme: THEMES.dark, tensor: 'w2_weight_scale_inv' });
  assert.equal(h.panels.layout.tensor.name, 'w2_weight_scale_inv');
  const info = h.hoverLogical({ group: 1, row: 2, kBlock: 3 });
  assert.deepEqual(info.storage, [{ slot: (1 * 4 + 2) * 4 + 3 }], 'row-major (4, 4, 4): one slot per block scale');
  assert.match(info.lines.join(' '), /expert 1, N 256…383 × K 384…511 \(128×128 block\)/);
});

test('DeepSeek-V3 w13 scales (256 × 32 × 56): canvas, with the same hover index math', () => {
  const { container } = makeDom();
  const tensors = scaleTensorsOf(deepseekV3Trace());
  const t = tensors.find((x) => x.name === 'w13_weight_scale_inv')!;
  assert.deepEqual([t.groups, t.rows, t.kBlocks], [256, 32, 56]);
  const h = render(container, { tensors }, { theme: THEMES.dark, tensor: t.name, width: 1200, height: 800 });
  assert.equal(h.mode, 'canvas');
  assert.ok(t.values.length > SVG_CELL_LIMIT);
  assert.equal(count(container, 'canvas.cells'), 2);
  assert.equal(count(container, 'rect.cell'), 0, 'no per-cell nodes');
  const info = h.hoverLogical({ group: 200, row: 31, kBlock: 55 });
  assert.equal(info.storage[0]!.slot, (200 * 32 + 31) * 56 + 55);
  // point → cell → rectangle round trips in both panels
  const P = h.panels;
  const [x, y] = logicalRect(P, { group: 200, row: 31, kBlock: 55 });
  assert.deepEqual(logicalAt(P, x + 0.5, y + 0.5)!.logical, { group: 200, row: 31, kBlock: 55 });
  const [sx, sy] = storageRect(P, info.storage[0]!.slot);
  assert.equal(storageAt(P, sx + 0.5, sy + 0.5)!.slot, info.storage[0]!.slot);
  // the 4096 × 56 activation scales in their SM90 kernel layout (MN-major): canvas too, same index math
  const a = render(container, { tensors }, { theme: THEMES.dark, tensor: 'a1q_scale_layout', width: 1200, height: 800 });
  assert.equal(a.mode, 'canvas');
  assert.deepEqual(a.hoverLogical({ group: 0, row: 4095, kBlock: 55 }).storage, [{ slot: 55 * 4096 + 4095 }]);
});

test('tall activation scales are cut into bands instead of a sliver', () => {
  const ref = deepseekV3Trace().tensors['a1q_scale_layout']!;
  const P = scalePanels(scaleTensorOf(ref.name, 'activation', ref.layout, ref.inline!, { rows: 1, k: 128 }));
  assert.ok(P.lBands > 1);
  assert.ok(P.logical.width / P.logical.height > 0.3, `aspect ${P.logical.width}/${P.logical.height}`);
});

test('colours come from the VS Code theme variables', () => {
  const { document, container } = makeDom();
  document.documentElement.style.setProperty('--vscode-charts-blue', '#123456');
  document.documentElement.style.setProperty('--vscode-charts-yellow', '#abcdef');
  document.documentElement.style.setProperty('--vscode-editor-background', '#010203');
  document.body.classList.add('vscode-light');
  const theme = themeFromDocument(document);
  assert.equal(theme.kind, 'light');
  assert.equal(theme.background, '#010203');
  assert.equal(theme.foreground, THEMES.light.foreground, 'missing variables fall back to the kind');
  render(container, { tensors: [x5('sm90')] }, { theme });
  const fills = [...container.querySelectorAll('rect.logical-cell')].map((r) => r.getAttribute('fill'));
  assert.equal(fills[0], '#123456', 'smallest scale at the start of the ramp');
  assert.equal(fills[9], '#abcdef', 'largest at the end');
  assert.equal(container.querySelector('svg rect.bg')!.getAttribute('fill'), '#010203');
  assert.ok(!container.innerHTML.includes('var(--'), 'concrete colours only');
});

test('a trace without scales to draw gives a clear error', () => {
  const { container } = makeDom();
  assert.throws(() => render(container, { tensors: [] }, { theme: THEMES.dark }), /no scale tensor with values to draw/);
});
