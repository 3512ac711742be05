import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../dom';
import { render, validateTile } from '../../../webview/views/heatmap';
import { THEMES } from '../../../webview/theme';
import { ref } from '../fixtures';
import type { Tile } from '../../../kernels/protocol';

test('small tensors draw from inline values without asking the host', () => {
  const { container } = makeDom();
  let asked = 0;
  const h = render(container, { tensor: ref('topk_weights', 'f32', [3, 2], [1, 2, 3, 4, 5, NaN]), mode: 'value' }, {
    theme: THEMES.dark,
    requestTile: async () => {
      asked++;
      throw new Error('no');
    },
  });
  assert.equal(asked, 0);
  assert.equal(h.valueAt(1, 1), 4);
  assert.ok(Number.isNaN(h.valueAt(2, 1)!));
  assert.equal(h.valueAt(3, 0), undefined);
});

test('large tensors are fetched as tiles of the visible window only, never whole', async () => {
  const { container } = makeDom();
  const calls: { rows: [number, number]; cols: [number, number] }[] = [];
  const t = ref('mm1_out', 'bf16', [32768, 4096]);
  const h = render(container, { tensor: t, mode: 'error' }, {
    theme: THEMES.dark,
    width: 800,
    height: 600,
    requestTile: async (tensor, rows, cols, mode) => {
      calls.push({ rows, cols });
      assert.equal(tensor, 'mm1_out');
      assert.equal(mode, 'error');
      const n = (rows[1] - rows[0]) * (cols[1] - cols[0]);
      return { tensor, mode, rows, cols, values: new Float32Array(n).fill(0.5), shape2d: [32768, 4096] } satisfies Tile;
    },
  });
  await h.idle();
  assert.ok(calls.length > 0, 'some tiles requested');
  const cells = calls.reduce((a, c) => a + (c.rows[1] - c.rows[0]) * (c.cols[1] - c.cols[0]), 0);
  assert.ok(cells <= 320 * 320, `requested ${cells} cells`);
  for (const c of calls) assert.ok(c.rows[1] <= 32768 && c.cols[1] <= 4096 && c.rows[0] >= 0 && c.cols[0] >= 0);
  assert.equal(h.tilesLoaded, calls.length);
  assert.equal(h.valueAt(0, 0), 0.5);
});

test('a failing or malformed tile is reported, not drawn', async () => {
  const { container } = makeDom();
  const h = render(container, { tensor: ref('act_out', 'bf16', [1024, 1024]), mode: 'value' }, {
    theme: THEMES.dark,
    requestTile: async (tensor, rows, cols, mode) => ({ tensor, mode, rows, cols, values: new Float32Array([1, 2, 3]), shape2d: [1024, 1024] }),
  });
  await h.idle();
  assert.equal(h.tilesLoaded, 0);
  assert.match(container.querySelector('.status')!.textContent!, /expected 4096 values .* got 3/);
  assert.throws(() => validateTile({ tensor: 'x', mode: 'value', rows: [0, 5], cols: [0, 1], values: new Float32Array(5), shape2d: [4, 1] }, [4, 1]), /outside the tensor's 4 × 1/);
});

/** m_indices of 16 tokens × top-8 over 87 128-row expert segments: 1–2 routed rows at the top of each segment */
function sparsePadding(): { runs: [number, number][]; dataRows: number } {
  const runs: [number, number][] = [];
  let dataRows = 0;
  for (let seg = 0; seg < 87; seg++) {
    const n = 1 + (seg % 2);
    dataRows += n;
    runs.push([seg * 128 + n, (seg + 1) * 128]);
  }
  return { runs, dataRows };
}

test('padding rows (m_indices = −1): legend, compressed to thin bands so routed rows fill the view, tooltip beside the cursor', () => {
  const { window, container } = makeDom();
  const t = ref('mm1_out', 'bf16', [11136, 1536]);
  const { runs, dataRows } = sparsePadding();
  const requested: [number, number][] = [];
  const h = render(container, { tensor: t, mode: 'value', rowSegments: { paddingRuns: runs, dataRows } }, {
    theme: THEMES.dark,
    width: 800,
    height: 600,
    requestTile: async (tensor, rows, cols, mode) => {
      requested.push(rows);
      return { tensor, mode, rows, cols, values: new Float32Array((rows[1] - rows[0]) * (cols[1] - cols[0])).fill(1), shape2d: [11136, 1536] } satisfies Tile;
    },
  });
  const legend = container.querySelector('.heatmap-legend')!;
  assert.match(legend.textContent!, /padding rows, output unspecified \(11,006 of 11,136 rows/);
  assert.equal(legend.getAttribute('data-padding-rows'), '11006');
  assert.equal(h.isPaddingRow(0), false);
  assert.equal(h.isPaddingRow(1), true);
  assert.equal(h.isPaddingRow(129), false);
  assert.equal(h.rows.compressed, true, 'mostly padding: compressed by default');
  assert.equal(h.rows.displayRows, dataRows + 87 * 2);
  // the first window holds dozens of routed rows (uncompressed it would hold one or two)
  const win = h.window();
  const routedInView = Array.from({ length: win.rows[1] - win.rows[0] }, (_, i) => win.rows[0] + i).filter((r) => !h.isPaddingRow(r)).length;
  assert.ok(routedInView >= 40, `${routedInView} routed rows in the first window`);
  assert.ok(requested.length > 0 && requested.every(([r0, r1]) => !h.isPaddingRow(r0) && !h.isPaddingRow(r1 - 1)), "tiles of routed rows only");
  const canvas = container.querySelector('canvas')!;
  canvas.dispatchEvent(new window.MouseEvent('mousemove', { clientX: 120, clientY: 1, bubbles: true }));
  const tip = container.querySelector('.tooltip') as HTMLElement;
  assert.match(tip.textContent!, /^mm1_out\[0, \d+\]/);
  const left = parseFloat(tip.style.left);
  const top = parseFloat(tip.style.top);
  assert.ok(Math.abs(left - 134) <= 2 && Math.abs(top - 17) <= 2, `tooltip at ${left},${top}, cursor at 120,1`);
  // a compressed band says what it stands for
  canvas.dispatchEvent(new window.MouseEvent('mousemove', { clientX: 120, clientY: 4, bubbles: true }));
  assert.match(tip.textContent!, /mm1_out rows 1–127: 127 padding rows \(m_indices = −1\), output unspecified/);
  canvas.dispatchEvent(new window.MouseEvent('mouseleave'));
  assert.ok(!tip.classList.contains('visible'));
  // uncompressed on request: one display row per tensor row, starting at the first routed row
  h.setCompressPadding(false);
  assert.equal(h.rows.displayRows, 11136);
  assert.equal(h.window().rows[0], 0);
  assert.ok((legend.querySelector('input[type="checkbox"]') as HTMLInputElement) !== null);
});

test('row bands: compressed padding runs map display rows to tensor rows and back', async () => {
  const { rowMap } = await import('../../../webview/model/rowBands');
  const m = rowMap(10, [[2, 8]], true);
  assert.deepEqual(m.bands.map((b) => [b.r0, b.r1, b.d0, b.d1, b.padding]), [[0, 2, 0, 2, false], [2, 8, 2, 4, true], [8, 10, 4, 6, false]]);
  assert.equal(m.displayRows, 6);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((d) => m.at(d)!.row), [0, 1, 2, 5, 8, 9]);
  assert.equal(m.at(6), undefined);
  assert.equal(m.toDisplay(8), 4);
  assert.equal(m.toDisplay(5), 3);
  const flat = rowMap(10, [[2, 8]], false);
  assert.equal(flat.displayRows, 10);
  assert.deepEqual([0, 3, 9].map((d) => flat.at(d)!.row), [0, 3, 9]);
  assert.equal(rowMap(4, [], true).bands.length, 1);
});

test('tensors without padding rows get no padding legend', () => {
  const { container } = makeDom();
  render(container, { tensor: ref('topk_weights', 'f32', [3, 2], [1, 2, 3, 4, 5, 6]), mode: 'value' }, { theme: THEMES.dark });
  assert.equal(container.querySelector('.heatmap-legend'), null);
});

test("the header says when min and max come from a sample of the tensor, and which kind", () => {
  const header = (summary: Record<string, unknown>): string => {
    const { container } = makeDom();
    const t = ref('w13_weight', 'f8e4m3fn', [128, 1536, 2048]);
    render(container, { tensor: { ...t, summary: { ...t.summary, ...summary } }, mode: 'value' }, { theme: THEMES.dark, requestTile: async () => new Promise<Tile>(() => undefined) });
    return container.querySelector('.heatmap-header')!.textContent!;
  };
  assert.doesNotMatch(header({}), /sampled|each expert/);
  assert.match(header({ sampled: { values: 4194304, how: 'even' } }), /min .* max .* \(of 4\.19M of 403M values, evenly sampled\)/);
  assert.match(header({ sampled: { values: 128 * 32768, how: 'expert-prefix' } }), /\(of the first 32\.8k values of each expert only\)/);
});
