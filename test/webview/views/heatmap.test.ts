import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../dom';
import { render, validateTile } from '../../../webview/views/heatmap';
import { THEMES } from '../../../webview/theme';
import { ref } from '../fixtures';
import type { Tile } from '../../../webview/protocol';

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
      return { tensor, mode, rows, cols, values: new Array<number>(n).fill(0.5), shape2d: [32768, 4096] } satisfies Tile;
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
    requestTile: async (tensor, rows, cols, mode) => ({ tensor, mode, rows, cols, values: [1, 2, 3], shape2d: [1024, 1024] }),
  });
  await h.idle();
  assert.equal(h.tilesLoaded, 0);
  assert.match(container.querySelector('.status')!.textContent!, /expected 4096 values .* got 3/);
  assert.throws(() => validateTile({ tensor: 'x', mode: 'value', rows: [0, 5], cols: [0, 1], values: [1, 2, 3, 4, 5], shape2d: [4, 1] }, [4, 1]), /outside the tensor's 4 × 1/);
});
