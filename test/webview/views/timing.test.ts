import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../dom';
import { render } from '../../../webview/views/timing';
import { THEMES } from '../../../webview/theme';
import { smallTrace } from '../fixtures';

test('one bar per stage and backend, roofline floor ticks, labelled with backend and device', () => {
  const { container } = makeDom();
  render(container, { traces: [smallTrace('cpu'), smallTrace('cuda')] }, { theme: THEMES.light, stage: 'gemm1' });
  assert.equal(container.querySelectorAll('g.stage-row').length, 8);
  assert.equal(container.querySelectorAll('g.bar[data-backend="cpu"]').length, 8);
  assert.equal(container.querySelectorAll('g.bar[data-backend="cuda"]').length, 8);
  assert.equal(container.querySelectorAll('line.roofline').length, 16);
  const text = container.textContent!;
  assert.match(text, /CPU · CPU \(2 threads\)/);
  assert.match(text, /CUDA · NVIDIA H100 80GB HBM3/);
  assert.match(text, /(memory|compute)-bound/);
  assert.match(text, /% of roofline/);
  assert.ok(container.querySelector('g.stage-row.current[data-stage="gemm1"]'));
});

test('no stages: clear error', () => {
  const { container } = makeDom();
  assert.throws(() => render(container, { traces: [{ ...smallTrace(), stages: [] }] }, { theme: THEMES.dark }), /no trace with stages/);
});

test('labels are never clipped: the label column is as wide as the longest stage title', async () => {
  const { labelWidth } = await import('../../../webview/views/timing');
  for (const width of [640, 960, 1400]) {
    const { container } = makeDom();
    render(container, { traces: [smallTrace('cpu')] }, { theme: THEMES.dark, width });
    const plot = container.querySelector('svg > g[transform^="translate("]')!;
    const labelX = Number(/translate\(([\d.]+),/.exec(plot.getAttribute('transform')!)![1]);
    for (const t of container.querySelectorAll('text.stage-label')) {
      // right-aligned at x = −10 inside the plot group: its left edge must stay inside the svg
      assert.ok(labelX - 10 - labelWidth(t.textContent!) >= 0, `${width}px: "${t.textContent}" starts at ${labelX - 10 - labelWidth(t.textContent!)}`);
    }
  }
});

test('log axis from the smallest positive value (no "0.00 µs"); "—" for no FLOPs; floor and measured rate per bar; CPU vs GPU roofline said', () => {
  const { container } = makeDom();
  const t = smallTrace('cpu');
  const stages = t.stages.map((s, i) => (i === 1 ? { ...s, flops: 0, usefulFlops: 0, roofline: { ...s.roofline, floorMs: 7e-7, bound: 'memory' as const } } : s));
  render(container, { traces: [{ ...t, stages }] }, { theme: THEMES.dark });
  const ticks = [...container.querySelectorAll('.axis .tick text')].map((e) => e.textContent!);
  assert.ok(ticks.length >= 3);
  for (const tick of ticks) assert.doesNotMatch(tick, /^0(\.0+)? /, `tick "${tick}"`);
  const row = container.querySelector('g.stage-row[data-stage="transform_scales"]')!;
  assert.match(row.querySelector('text.stats')!.textContent!, /floor 0\.7 ns .*— FLOP/);
  assert.doesNotMatch(row.textContent!, /\b0 FLOP/);
  assert.ok(row.querySelector('rect.roofline-floor') && row.querySelector('path.roofline-marker'));
  assert.match(row.querySelector('text.bar-label')!.textContent!, /GB\/s|too fast/);
  assert.match(container.querySelector('g.stage-row[data-stage="gemm1"] text.bar-label')!.textContent!, /G(FLOP|B)\/s/);
  assert.match(container.querySelector('text.subtitle')!.textContent!, /CPU run vs H\d+ roofline: fractions are tiny by design/);
});
