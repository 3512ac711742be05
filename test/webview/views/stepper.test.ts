import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../dom';
import { render } from '../../../webview/views/stepper';
import { THEMES } from '../../../webview/theme';
import { smallTrace } from '../fixtures';
import type { ViewId } from '../../../webview/protocol';

function key(doc: Document, target: EventTarget, k: string): KeyboardEvent {
  const e = new doc.defaultView!.KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true });
  target.dispatchEvent(e);
  return e;
}

test('stage list shows every stage with time and roofline fraction, current stage marked', () => {
  const { container } = makeDom();
  const trace = smallTrace();
  render(container, { trace }, { theme: THEMES.dark });
  const items = container.querySelectorAll('li.stage-item');
  assert.equal(items.length, 8);
  assert.equal(items[0]!.getAttribute('aria-selected'), 'true');
  assert.match(items[3]!.textContent!, /Grouped GEMM 1/);
  assert.match(items[3]!.textContent!, /(ms|µs|s)/);
  assert.match(items[3]!.textContent!, /% of roofline · (memory|compute)-bound/);
  assert.equal(items[3]!.querySelector('[role="meter"]')!.getAttribute('aria-valuenow'), String(Math.round(trace.stages[3]!.roofline.fraction * 100)));
});

test('keyboard: ←/→, Home/End, space plays, 1–4 switch views; chips show what the stage reads and writes', () => {
  const { document, container } = makeDom();
  const stages: string[] = [];
  const views: ViewId[] = [];
  const h = render(container, { trace: smallTrace() }, { theme: THEMES.dark, keyTarget: document, onStage: (s) => stages.push(s), onView: (v) => views.push(v), playIntervalMs: 5 });
  assert.equal(h.stage, 'quantize');
  assert.ok(key(document, document.body, 'ArrowRight').defaultPrevented);
  assert.equal(h.stage, 'transform_scales');
  key(document, document.body, 'End');
  assert.equal(h.stage, 'unpermute');
  key(document, document.body, 'ArrowRight');
  assert.equal(h.stage, 'unpermute', 'stays at the end');
  key(document, document.body, 'Home');
  assert.equal(h.stage, 'quantize');
  key(document, document.body, 'ArrowLeft');
  assert.equal(h.stage, 'quantize', 'stays at the start');
  for (const k of ['1', '2', '3', '4']) key(document, document.body, k);
  assert.deepEqual(views, ['scales', 'permutation', 'timing', 'heatmap']);
  h.select('gemm1');
  const reads = [...container.querySelectorAll('.chips.reads .chip')].map((c) => c.getAttribute('data-tensor'));
  const writes = [...container.querySelectorAll('.chips.writes .chip')].map((c) => c.getAttribute('data-tensor'));
  assert.deepEqual(reads, ['a1q', 'a1q_scale', 'w13_weight_scale_inv', 'm_indices']);
  assert.deepEqual(writes, ['mm1_out']);
  assert.match(container.querySelector('.chips.reads .chip')!.textContent!, /f8e4m3fn \[37×512\]/);
  assert.ok(stages.includes('gemm1'));
  key(document, document.body, ' ');
  assert.equal(h.playing, true);
  key(document, document.body, ' ');
  assert.equal(h.playing, false);
  // typing in a field is not a shortcut
  const input = document.createElement('input');
  document.body.appendChild(input);
  key(document, input, 'ArrowRight');
  assert.equal(h.stage, 'gemm1');
  h.destroy();
  key(document, document.body, 'ArrowRight');
  assert.equal(views.length, 4, 'listeners removed on destroy');
});

test('play walks to the last stage and stops', async () => {
  const { container } = makeDom();
  const h = render(container, { trace: smallTrace() }, { theme: THEMES.dark, playIntervalMs: 1 });
  h.play();
  for (let i = 0; i < 200 && h.playing; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(h.stage, 'unpermute');
  assert.equal(h.playing, false);
  assert.equal((container.querySelector('button[aria-label^="Next"]') as HTMLButtonElement).disabled, true);
});

test('a trace without stages is refused clearly', () => {
  const { container } = makeDom();
  assert.throws(() => render(container, { trace: { ...smallTrace(), stages: [] } }, { theme: THEMES.dark }), /no stages/);
});
