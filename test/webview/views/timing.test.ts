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
