import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../dom';
import { compareSvg, fmtRatio, specDifferences, stageComparison, tensorComparison } from '../../../webview/views/compare';
import { viewById, viewsFor } from '../../../webview/views/registry';
import { renderViewSvg } from '../../../webview/export/standalone';
import { THEMES } from '../../../webview/theme';
import { smallTrace } from '../fixtures';

test('SM90 vs SM100 on one layer: the spec diff names the architecture; the scale tensors\' layouts differ and come first', () => {
  const a = smallTrace('cuda', 'f32', 'sm90');
  const b = smallTrace('cuda', 'ue8m0', 'sm100');
  const diffs = specDifferences(a, b);
  assert.deepEqual(diffs.find((d) => d.field === 'architecture'), { field: 'architecture', a: 'sm90', b: 'sm100' });
  assert.deepEqual(diffs.find((d) => d.field === 'scale format'), { field: 'scale format', a: 'f32', b: 'ue8m0' });
  assert.equal(diffs.find((d) => d.field === 'tokens'), undefined, 'equal fields are not listed');
  const tensors = tensorComparison(a, b);
  const first = tensors.findIndex((t) => !t.differs);
  assert.ok(first > 0 && tensors.slice(first).every((t) => !t.differs), 'differing tensors first');
  const layout = tensors.find((t) => t.name === 'a1q_scale_layout')!;
  assert.ok(layout.differs, `${layout.a} vs ${layout.b}`);
  assert.notEqual(layout.a, layout.b);
  assert.equal(tensors.find((t) => t.name === 'hidden_states')?.differs, false);
  assert.equal(specDifferences(a, a).length, 0);
});

test('CPU vs CUDA: per-stage times with B/A, totals; stages one run lacks are shown as missing, not dropped', () => {
  const a = smallTrace('cpu');
  const b = smallTrace('cuda');
  const rows = stageComparison(a, b);
  assert.deepEqual(rows.map((r) => r.id), a.stages.map((s) => s.id));
  const g = rows.find((r) => r.id === 'gemm1')!;
  assert.equal(g.ratio, g.b!.timeMs / g.a!.timeMs);
  const fewer = { ...b, stages: b.stages.filter((s) => s.id !== 'permute') };
  const r2 = stageComparison(a, fewer);
  assert.equal(r2.find((r) => r.id === 'permute')!.b, undefined);
  assert.equal(r2.find((r) => r.id === 'permute')!.ratio, undefined);
  assert.equal(fmtRatio(undefined), '—');
  assert.equal(fmtRatio(0.5), '0.50×');
  assert.equal(fmtRatio(250), '2.5e+2×');
  const { document } = makeDom();
  const svg = compareSvg(document, a, fewer, { theme: THEMES.light, width: 1000 }).node()!;
  const perm = svg.querySelector('g.stage-diff g.row[data-key="permute"]')!;
  assert.ok(perm.classList.contains('differs'));
  assert.match(perm.textContent!, /—/);
  assert.match(svg.querySelector('g.stage-diff g.row[data-key="total"]')!.textContent!, /total/);
  assert.match(svg.querySelector('g.spec-diff')!.textContent!, /backend.*CPU · CPU \(2 threads\).*CUDA · NVIDIA H100/);
  // the svg is as tall as its content
  assert.ok(+svg.getAttribute('height')! > 300);
  for (const t of svg.querySelectorAll('text')) assert.ok(t.textContent!.length < 200, 'cells are cut to their column');
});

test('the Compare view is offered exactly when a second run is shown, and exports with it', () => {
  const a = smallTrace('cpu');
  const b = smallTrace('cuda');
  assert.ok(!viewsFor(a).some((v) => v.id === 'compare'));
  assert.ok(viewsFor(a, b).some((v) => v.id === 'compare'));
  assert.deepEqual(viewById('compare')!.exportFormats, ['svg', 'png']);
  const { document } = makeDom();
  const svg = renderViewSvg(document, 'compare', { trace: a, compare: b }, { theme: 'dark' });
  assert.match(svg.getAttribute('aria-label')!, /Compare e2e_small with e2e_small/);
  assert.throws(() => renderViewSvg(document, 'compare', { trace: a }), /the Compare view does not apply to this run/);
});
