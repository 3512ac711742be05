/** The MegaMoE pictures (jsdom), drawn from a real run's Trace after a JSON round trip, as the webview receives it. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../../../webview/dom';
import { runLayer } from '../../../../kernels/pipeline';
import { shutdownGemmWorkers } from '../../../../kernels/ops/gemm';
import type { Trace } from '../../../../kernels/trace';
import { THEMES } from '../../../../webview/theme';
import * as interleave from '../../../../kernels/recipes/megamoe/views/interleaveMap';
import * as staging from '../../../../kernels/recipes/megamoe/views/stagingBuffer';
import * as pools from '../../../../kernels/recipes/megamoe/views/pools';
import { hoverHints } from '../../../../kernels/recipes/megamoe/hover';
import { megaSpec } from './helpers';

after(() => shutdownGemmWorkers());

let cached: Trace | undefined;
async function trace(): Promise<Trace> {
  cached ??= JSON.parse(JSON.stringify((await runLayer(megaSpec({ tokens: 10, hidden: 512, intermediate: 256 }), { backend: 'cpu' })).trace)) as Trace;
  return cached;
}

test('interleave map: each drawn output row linked to its gate or up source row, scale block of the source', async () => {
  const t = await trace();
  const { container } = makeDom();
  interleave.render(container, t, { theme: THEMES.light });
  const outs = container.querySelectorAll('g.out-row');
  assert.equal(outs.length, 48);
  assert.equal(container.querySelectorAll('path.link').length, 48);
  const row8 = container.querySelector('g.out-row[data-row="8"]')!;
  assert.equal(row8.getAttribute('data-src'), '256', 'IH = 256: out 8 ← up 0 = row 256');
  assert.ok(row8.classList.contains('up'));
  assert.match(row8.textContent!, /out 8 ← u0.*block 2/);
  assert.equal(container.querySelector('g.out-row[data-row="16"]')!.getAttribute('data-src'), '8');
  assert.equal(container.querySelectorAll('g.out-row.gate').length, 24);
  assert.doesNotMatch(container.textContent!, /computed from IH/);
});

test('interleave map: §7.5 IH = 16 from the formula when the map is not inline', async () => {
  const t = await trace();
  const small: Trace = { ...t, spec: { ...t.spec, intermediate: 16 }, tensors: {} };
  const { container } = makeDom();
  interleave.render(container, small, { rows: 32 });
  const src = [...container.querySelectorAll('g.out-row')].map((g) => Number(g.getAttribute('data-src')));
  const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);
  assert.deepEqual(src, [...range(0, 8), ...range(16, 24), ...range(8, 16), ...range(24, 32)]);
  assert.match(container.textContent!, /computed from IH: the map is not inline/);
  const bad: Trace = { ...small, spec: { ...small.spec, intermediate: 12 } };
  interleave.render(container, bad);
  assert.match(container.textContent!, /IH = 12 is not a multiple of 8/);
});

test('staging buffer: the four regions with shapes and sizes, filled rows, K-major x_sf, local vs remote experts', async () => {
  const t = await trace();
  const { container } = makeDom();
  staging.render(container, t, { theme: THEMES.dark });
  const regions = [...container.querySelectorAll('g.region')].map((g) => g.getAttribute('data-region'));
  assert.deepEqual(regions, ['x', 'x_sf', 'topk_idx', 'topk_weights']);
  const text = container.textContent!;
  assert.match(text, /\(128, 512\) fp8 e4m3/);
  assert.match(text, /\(128, 4\) float32K-major/);
  assert.match(text, /\(128, 2\) int64/);
  assert.match(text, /64\.0 KB/);
  assert.match(text, /rows 10…127: not written, not read/);
  assert.match(text, /K-major: \(t, j\) at offset t·4 \+ j/);
  assert.equal(container.querySelectorAll('rect.sf-cell').length, 10 * 4);
  const cells = container.querySelectorAll('g.id-cell');
  assert.equal(cells.length, 10 * 2);
  const ids = t.tensors.sym_topk_idx!.inline!;
  const localCount = ids.slice(0, 20).filter((e) => e >= 4).length;
  assert.equal(container.querySelectorAll('g.id-cell.local').length, localCount, 'rank 1 of 2 owns experts 4–7');
  const m = staging.stagingModel({ ...t, tensors: {} });
  assert.match(String(m), /no symmetric-buffer tensors/);
});

test('pools: group 128 vs 64 at one scale, MN-major offsets j·pool_sf + row, TMA pad rows, memory order', async () => {
  const t = await trace();
  const { container } = makeDom();
  pools.render(container, t);
  const R = t.tensors.l1_acts!.shape[0]!;
  const poolSf = Math.ceil(R / 4) * 4;
  const l1Groups = container.querySelectorAll('g.group-bar[data-pool="L1"] rect.group').length;
  const l2Groups = container.querySelectorAll('g.group-bar[data-pool="L2"] rect.group').length;
  assert.equal(l2Groups, 2 * l1Groups, 'the same columns hold twice as many L2 scales');
  const w1 = Number(container.querySelector('g.group-bar[data-pool="L1"] rect.group')!.getAttribute('width'));
  const w2 = Number(container.querySelector('g.group-bar[data-pool="L2"] rect.group')!.getAttribute('width'));
  assert.ok(Math.abs(w1 + 1 - 2 * (w2 + 1)) < 1e-9, 'an L1 group is drawn twice as wide as an L2 group');
  const slot = container.querySelector('g.sf-grid[data-pool="L2"] g.sf-slot[data-row="1"][data-col="2"]')!;
  assert.equal(slot.textContent, String(2 * poolSf + 1));
  assert.equal(container.querySelectorAll('g.sf-grid[data-pool="L1"] g.sf-slot.pad').length, Math.min(poolSf - R, 3) * 4);
  assert.match(container.textContent!, new RegExp(`strides \\(1, ${poolSf}\\)`));
  assert.match(container.textContent!, /1 scale per 64 columns/);
  assert.match(container.textContent!, /1 scale per 128 columns/);
  const strip = container.querySelectorAll('g.storage-strip[data-pool="L1"] g.slot');
  assert.equal(strip.length, Math.min(poolSf * 2, 40));
  const early: Trace = { ...t, tensors: Object.fromEntries(Object.entries(t.tensors).filter(([n]) => !n.startsWith('l2_'))) };
  pools.render(container, early);
  assert.match(container.textContent!, /no L2 pool yet/);
});

test('hover hints classify the symmetric buffer and pool tensors by name, dtype and rank', () => {
  const classify = (name: string, dtype: string, rank: number): string | undefined => hoverHints.find((h) => h.name.test(name) && (!h.dtype || h.dtype === dtype) && (!h.rank || h.rank === rank))?.text;
  assert.match(classify('buffer.l2_acts_sf', 'float32', 2)!, /per 64 columns/);
  assert.match(classify('buffer.l1_acts_sf', 'float32', 2)!, /per 128 columns/);
  assert.match(classify('buffer.x_sf', 'float32', 2)!, /K-major/);
  assert.match(classify('buffer.x', 'float8_e4m3fn', 2)!, /staged tokens/);
  assert.match(classify('buffer.topk_idx', 'int64', 2)!, /int64/);
  assert.equal(classify('x', 'bfloat16', 2), undefined, 'a BF16 x is not the staged FP8 buffer');
});
