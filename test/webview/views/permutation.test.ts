import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../dom';
import { render, hotExperts, histogramPadding } from '../../../webview/views/permutation';
import { labelWidth } from '../../../webview/views/svgkit';
import { permutationModel } from '../../../webview/model/permutation';
import { permutationOf } from '../../../webview/model/traceData';
import { THEMES } from '../../../webview/theme';
import { deepseekV3Trace } from '../fixtures';

const ids = [0, 2, 1, 0, 3, 1, 0, 3, 2, 0];
const model = permutationModel({ tokens: 5, topk: 2, experts: 4, topkIds: ids, topkWeights: [0.6, 0.4, 0.5, 0.5, 0.7, 0.3, 0.9, 0.1, 0.2, 0.8] });

test('histogram per expert, padding rows hatched in the m_indices strip, token grid', () => {
  const { container } = makeDom();
  render(container, { model }, { theme: THEMES.dark });
  assert.equal(container.querySelectorAll('g.expert').length, 4);
  assert.equal(container.querySelectorAll('rect.seg-rows').length, 4);
  const pads = container.querySelectorAll('rect.padding-rows');
  assert.equal(pads.length, 4, 'every segment has padding rows');
  assert.match(pads[0]!.getAttribute('fill')!, /^url\(#/);
  assert.equal(container.querySelectorAll('rect.pair').length, 10);
  assert.match(container.querySelector('.subtitle')!.textContent!, /M_sum 512 .* padding waste 98\.0%/);
});

test('hovering a token shows its experts, rows, weights and the gather', () => {
  const { container } = makeDom();
  const h = render(container, { model }, { theme: THEMES.dark });
  const cell = container.querySelector('rect.pair[data-token="1"][data-slot="0"]')!;
  cell.dispatchEvent(new container.ownerDocument.defaultView!.MouseEvent('mouseover', { bubbles: true }));
  const tip = container.querySelector('.tooltip')!.textContent!;
  assert.match(tip, /slot 0: expert 1 → row 128/);
  assert.match(tip, /slot 1: expert 0 → row 1 /);
  assert.match(tip, /y\[1\] = 0\.500·out\[128\] \+ 0\.500·out\[1\]/);
  assert.equal(container.querySelectorAll('line.row-mark').length, 2);
  assert.equal(container.querySelectorAll('rect.pair.hl').length, 2);
  assert.equal(h.hoverToken(99), null);
});

test('DeepSeek-V3 (4096 tokens × 8, 256 experts): hot experts stand out, node count stays bounded', () => {
  const { container } = makeDom();
  const m = permutationOf(deepseekV3Trace());
  assert.ok(typeof m !== 'string');
  render(container, { model: m }, { theme: THEMES.dark });
  const hot = hotExperts(m.counts);
  assert.ok(hot.length > 0 && hot.includes(0), 'Zipf-skewed router: expert 0 is hot');
  assert.equal(container.querySelectorAll('rect.bar-count.hot').length, hot.length);
  assert.ok(container.querySelectorAll('rect').length < 6000, `${container.querySelectorAll('rect').length} rects`);
  assert.match(container.textContent!, /first 512 of 4096/);
});

/** the [left, right] extent of each drawn m_indices label, horizontal or rotated upright */
function labelBoxes(container: HTMLElement): { expert: number; x0: number; x1: number; y1: number }[] {
  return [...container.querySelectorAll('text.seg-label')].map((t) => {
    const w = labelWidth(t.textContent!, 10);
    const rot = /translate\(([-\d.]+),([-\d.]+)\) rotate\(-90\)/.exec(t.getAttribute('transform') ?? '');
    // rotated: glyphs span the font height left of the baseline x, and run down from y for the text's width
    if (rot) return { expert: +t.getAttribute('data-expert')!, x0: +rot[1]! - 10, x1: +rot[1]!, y1: +rot[2]! + w };
    const x = +t.getAttribute('x')!;
    return { expert: +t.getAttribute('data-expert')!, x0: x, x1: x + w, y1: +t.getAttribute('y')! };
  });
}

test('m_indices labels at 32 local experts (DeepSeek-V3 EP8): rotated, none overlapping, clear of the token grid', () => {
  const { container } = makeDom();
  // every expert gets 8 tokens × top-1: 32 segments of 128 rows, ~27 px each at 960 px
  const topkIds = Array.from({ length: 256 }, (_, t) => t % 32);
  const m = permutationModel({ tokens: 256, topk: 1, experts: 32, topkIds, topkWeights: topkIds.map(() => 1) });
  render(container, { model: m }, { theme: THEMES.dark, width: 960 });
  const boxes = labelBoxes(container).sort((a, b) => a.x0 - b.x0);
  assert.ok(boxes.length >= 16, `${boxes.length} labels kept`);
  for (let i = 1; i < boxes.length; i++) assert.ok(boxes[i]!.x0 >= boxes[i - 1]!.x1, `e${boxes[i - 1]!.expert} and e${boxes[i]!.expert} overlap`);
  // the labels end above the token grid's caption
  const grid = /translate\([\d.]+,([\d.]+)\)/.exec(container.querySelector('g.tokens')!.getAttribute('transform')!)![1]!;
  const strip = /translate\([\d.]+,([\d.]+)\)/.exec(container.querySelector('g.strip')!.getAttribute('transform')!)![1]!;
  for (const b of boxes) assert.ok(+strip + b.y1 < +grid - 20, `label e${b.expert} reaches ${+strip + b.y1}, the grid starts at ${grid}`);
});

test('m_indices labels stay horizontal where they fit (4 experts)', () => {
  const { container } = makeDom();
  render(container, { model }, { theme: THEMES.dark });
  const labels = container.querySelectorAll('text.seg-label');
  assert.equal(labels.length, 4);
  for (const l of labels) assert.equal(l.getAttribute('transform'), null);
  const boxes = labelBoxes(container);
  for (let i = 1; i < boxes.length; i++) assert.ok(boxes[i]!.x0 >= boxes[i - 1]!.x1);
});

test('histogram bars keep a gap between experts, so padding bars never merge (256 experts too)', () => {
  for (const E of [8, 32, 64, 256]) {
    const innerW = 960 - 68 - 16;
    const pad = histogramPadding(E, innerW);
    const step = innerW / E;
    assert.ok(pad * step >= 1 - 1e-9, `${E} experts: gap ${pad * step} px`);
    assert.ok(pad <= 0.5);
  }
  assert.equal(histogramPadding(4096, 876), 0, 'sub-2 px bands cannot hold a gap');
  const { container } = makeDom();
  const ds = permutationOf(deepseekV3Trace());
  if (typeof ds === 'string') throw new Error(ds);
  render(container, { model: ds }, { theme: THEMES.dark, width: 960 });
  const pads = [...container.querySelectorAll('rect.bar-pad')].map((r) => [+r.getAttribute('x')!, +r.getAttribute('x')! + +r.getAttribute('width')!] as const);
  for (let i = 1; i < pads.length; i++) assert.ok(pads[i]![0] - pads[i - 1]![1] >= 1 - 1e-6, `bars ${i - 1} and ${i} touch`);
});
