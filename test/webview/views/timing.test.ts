import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../dom';
import { join } from 'node:path';
import { render, standalone } from '../../../webview/views/timing';
import { fmtPct, fmtTime } from '../../../webview/views/svgkit';
import { importProfile, timingsOnStages } from '../../../kernels/profile';
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
  assert.match(container.querySelector('text.subtitle')!.textContent!, /roofline of this CPU \(fixture CPU \(2 cores\)\); GPU floors on H100/);
});

test('a CPU run: each stage against this CPU\'s roofline, and "on H100 ≥ …" — what it would take at least on the GPU', () => {
  const { container } = makeDom();
  const t = smallTrace('cpu');
  const stages = t.stages.map((s) => ({ ...s, gpuFloorMs: s.roofline.floorMs / 1000 }));
  render(container, { traces: [{ ...t, stages }] }, { theme: THEMES.dark });
  const gemm = stages.find((s) => s.id === 'gemm1')!;
  const stats = container.querySelector('g.stage-row[data-stage="gemm1"] text.stats')!.textContent!;
  assert.ok(stats.startsWith(`floor ${fmtTime(gemm.roofline.floorMs)} (${fmtPct(gemm.roofline.fraction)}% of CPU roofline) · on H100 ≥ ${fmtTime(gemm.gpuFloorMs)} · `), stats);
  assert.match(container.querySelector('g.stage-row[data-stage="gemm1"] title')!.textContent!, /on this CPU \(fixture CPU \(2 cores\)\).* on H100 this stage would take ≥ /);
  assert.match(container.querySelector('.legend')!.textContent!, /roofline floor on this CPU/);
  // a CUDA run says neither
  const { container: c2 } = makeDom();
  render(c2, { traces: [smallTrace('cuda')] }, { theme: THEMES.dark });
  assert.doesNotMatch(c2.querySelector('text.stats')!.textContent!, /CPU roofline|on H100 ≥/);
});

test('imported profiler times: a bar per stage beside the run\'s own, against its GPU floor; which kernel went where; unmatched listed', () => {
  const { container } = makeDom();
  const trace = smallTrace('cuda');
  const profile = timingsOnStages(importProfile(join(__dirname, '..', '..', 'kernels', 'profile', 'fixtures', 'h200-torch-scaled-grouped-mm.trace.json.gz')), trace.stages.map((s) => s.id));
  render(container, { traces: [trace], profile }, { theme: THEMES.light });
  const imported = container.querySelectorAll('g.bar.imported');
  assert.equal(imported.length, profile.stages.length, 'one imported bar per stage the trace has kernels for');
  assert.equal(profile.stages.length, 7);
  const row = container.querySelector('g.stage-row[data-stage="gemm1"]')!;
  const gemm = trace.stages.find((s) => s.id === 'gemm1')!;
  const imp = profile.stages.find((s) => s.stage === 'gemm1')!;
  assert.equal(row.querySelectorAll('g.bar').length, 2, 'the run\'s bar and the imported one');
  assert.equal(row.querySelector('g.bar.imported text.bar-label')!.textContent, `${fmtTime(imp.totalUs / 1000)} imported`);
  assert.equal(row.querySelector('g.bar.imported text.stats')!.textContent, `H100 floor ${fmtTime(gemm.roofline.floorMs)} (${fmtPct(Math.min(1, gemm.roofline.floorMs / (imp.totalUs / 1000)))}% of roofline) · 2 launches`);
  assert.ok(row.querySelector('g.bar.imported line.roofline'));
  assert.equal(container.querySelector('g.stage-row[data-stage="transform_scales"] g.bar.imported'), null, 'no kernel there: no bar');
  assert.match(container.querySelector('text.subtitle')!.textContent!, /imported: h200-torch-scaled-grouped-mm\.trace\.json\.gz \(47 launches\) vs H100 floors/);
  assert.match(container.querySelector('.legend')!.textContent!, /imported from h200-torch/);
  // below the chart: the kernel → stage map, the kernels outside the recipe's stages, the unmatched ones
  const map = [...container.querySelectorAll('table.kernel-map tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent));
  assert.ok(map.some((r) => r[0] === 'Grouped GEMM 1' && /GroupProblemShape/.test(r[1]!) && r[2] === '1'), JSON.stringify(map.slice(0, 3)));
  assert.ok(map.some((r) => r[0] === 'other (not a stage of this recipe)' && /Memcpy/.test(r[1]!)));
  assert.equal(map.length, [...profile.stages, ...profile.outside].reduce((a, s) => a + s.kernels.length, 0));
  const unmatched = [...container.querySelectorAll('table.unmatched tbody tr')].map((tr) => tr.querySelector('td')!.textContent);
  assert.deepEqual(unmatched, profile.unmatched.map((u) => u.name));
  assert.match(container.querySelector('.imported-kernels .missing-stages')!.textContent!, /No imported kernel on: Transform scales/);
  // the export draws the bars too
  const svg = standalone(makeDom().document, { trace, profile }, { theme: THEMES.light, width: 1000 });
  assert.equal(svg.querySelectorAll('g.bar.imported').length, 7);
});
