import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../dom';
import { render, hotExperts } from '../../../webview/views/permutation';
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
