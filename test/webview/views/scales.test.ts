import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../dom';
import { render, SVG_CELL_LIMIT } from '../../../webview/views/scales';
import { scalePanels, logicalRect, logicalAt, storageAt, storageRect } from '../../../webview/views/scalePanels';
import { THEMES, themeFromDocument } from '../../../webview/theme';
import { scaleTensorsOf } from '../../../webview/model/traceData';
import { deepseekV3Trace, smallTrace } from '../fixtures';
import type { ScaleTensor } from '../../../webview/model/scaleLayout';

const x5: ScaleTensor = { name: 'x_scale', kind: 'activation', groups: 1, rows: 5, kBlocks: 2, values: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] };
const count = (root: ParentNode, sel: string): number => root.querySelectorAll(sel).length;

test('SM90 M=5, 2 K-blocks: logical and storage cells, padding = allocated − addressed, unallocated tail marked', () => {
  const { container } = makeDom();
  const h = render(container, { tensors: [x5] }, { theme: THEMES.dark, arch: 'sm90' });
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

test('SM100 packing: 4 labelled bytes per int32 word, zero K-block bytes dotted, toggle re-lays the same scales', () => {
  const { container } = makeDom();
  const h = render(container, { tensors: [x5] }, { theme: THEMES.light, arch: 'sm90' });
  (container.querySelector('button[data-arch="sm100"]') as HTMLButtonElement).click();
  assert.equal(h.panels.layout.arch, 'sm100');
  assert.equal(container.querySelector('button[data-arch="sm100"]')!.getAttribute('aria-checked'), 'true');
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
  const h = render(container, { tensors: [x5] }, { theme: THEMES.dark, arch: 'sm90' });
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
  // and back: a storage byte of the packed layout highlights its logical cell
  h.setArch('sm100');
  const info = h.hoverStorage(4, 1)!;
  assert.deepEqual(info.logical, { group: 0, row: 4, kBlock: 1 });
  assert.ok(container.querySelector('rect.logical-cell[data-r="4"][data-j="1"]')!.classList.contains('hl'));
  assert.match(info.lines.join(' '), /UE8M0 byte 0x88/);
  assert.equal(h.hoverStorage(5, 0)!.lines[0]!.startsWith('TMA padding'), true);
  assert.match(h.hoverStorage(0, 3)!.lines[0]!, /zero byte: K-blocks padded 2→4/);
  h.clearHover();
  assert.equal(count(container, '.hl'), 0);
});

test('weight scales (E × N-blocks × K-blocks): SM100 broadcasts each block scale to 128 rows', () => {
  const { container } = makeDom();
  const tensors = scaleTensorsOf(smallTrace());
  const h = render(container, { tensors }, { theme: THEMES.dark, arch: 'sm100', tensor: 'w2_weight_scale_inv' });
  assert.equal(h.panels.layout.tensor.name, 'w2_weight_scale_inv');
  const info = h.hoverLogical({ group: 1, row: 2, kBlock: 3 });
  assert.equal(info.storage.length, 128);
  assert.match(info.lines.join(' '), /expert 1, N 256…383 × K 384…511 \(128×128 block\)/);
});

test('DeepSeek-V3 w13 scales (256 × 32 × 56): canvas, with the same hover index math', () => {
  const { container } = makeDom();
  const tensors = scaleTensorsOf(deepseekV3Trace());
  const t = tensors.find((x) => x.name === 'w13_weight_scale_inv')!;
  assert.deepEqual([t.groups, t.rows, t.kBlocks], [256, 32, 56]);
  const h = render(container, { tensors }, { theme: THEMES.dark, arch: 'sm90', tensor: t.name, width: 1200, height: 800 });
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
  h.setArch('sm100');
  assert.equal(h.panels.layout.allocated, 256 * 4096 * 14);
  assert.equal(h.hoverStorage(256 * 4096 * 14 - 1, 3)!.logical!.kBlock, 55);
});

test('tall activation scales are cut into bands instead of a sliver', () => {
  const P = scalePanels({ name: 'a1q_scale', kind: 'activation', groups: 1, rows: 4096, kBlocks: 56, values: new Float32Array(4096 * 56).fill(1) }, 'sm90');
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
  render(container, { tensors: [x5] }, { theme, arch: 'sm90' });
  const fills = [...container.querySelectorAll('rect.logical-cell')].map((r) => r.getAttribute('fill'));
  assert.equal(fills[0], '#123456', 'smallest scale at the start of the ramp');
  assert.equal(fills[9], '#abcdef', 'largest at the end');
  assert.equal(container.querySelector('svg rect.bg')!.getAttribute('fill'), '#010203');
  assert.ok(!container.innerHTML.includes('var(--'), 'concrete colours only');
});

test('a trace without inline scales gives a clear error', () => {
  const { container } = makeDom();
  assert.throws(() => render(container, { tensors: [] }, { theme: THEMES.dark, arch: 'sm90' }), /no scale tensor with inline values/);
});
