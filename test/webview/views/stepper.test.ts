import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../dom';
import { render } from '../../../webview/views/stepper';
import { THEMES } from '../../../webview/theme';
import { smallTrace } from '../fixtures';

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

test('keyboard: ←/→, Home/End, space plays (digits are the app’s view keys); chips show what the stage reads and writes', () => {
  const { document, container } = makeDom();
  const stages: string[] = [];
  const h = render(container, { trace: smallTrace() }, { theme: THEMES.dark, keyTarget: document, onStage: (s) => stages.push(s), playIntervalMs: 5 });
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
  for (const k of ['1', '2', '3', '4']) assert.equal(key(document, document.body, k).defaultPrevented, false, `${k} is not the stepper's`);
  h.select('gemm1');
  const reads = [...container.querySelectorAll('.chips.reads .chip')].map((c) => c.getAttribute('data-tensor'));
  const writes = [...container.querySelectorAll('.chips.writes .chip')].map((c) => c.getAttribute('data-tensor'));
  assert.deepEqual(reads, ['a1q', 'a1q_scale_layout', 'w13_weight_scale_inv', 'm_indices']);
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
  const seen = stages.length;
  h.destroy();
  key(document, document.body, 'ArrowRight');
  assert.equal(stages.length, seen, 'listeners removed on destroy');
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

test('memory-only stages say "—" for FLOPs and intensity, never "0 FLOP · 0.0 FLOP/B"', async () => {
  const { metricsText } = await import('../../../webview/views/stepper');
  const trace = smallTrace();
  const q = { ...trace.stages[0]!, flops: 0, usefulFlops: 0, roofline: { ...trace.stages[0]!.roofline, intensity: 0 } };
  assert.match(metricsText(q), /FLOPs — \(memory only\)/);
  assert.doesNotMatch(metricsText(q), /0 FLOP|0\.0 FLOP\/B/);
  const g = trace.stages.find((s) => s.id === 'gemm1')!;
  assert.match(metricsText(g), /FLOP \(.* useful\) · [\d.]+ FLOP\/B/);
  const { container } = makeDom();
  render(container, { trace: { ...trace, stages: [q, ...trace.stages.slice(1)] } }, { theme: THEMES.dark });
  assert.doesNotMatch(container.querySelector('.stage-detail .metrics')!.textContent!, /0 FLOP/);
});

test('a partial trace: finished stages, then pending ones greyed (spinner on the running one), chips "not computed yet"', () => {
  const { container } = makeDom();
  const full = smallTrace();
  const later = new Set(full.stages.slice(3).flatMap((s) => s.outputs));
  const tensors = Object.fromEntries(Object.entries(full.tensors).filter(([n]) => !later.has(n)));
  const trace = { ...full, tensors, stages: full.stages.slice(0, 3), pending: full.stages.slice(3).map((s) => ({ id: s.id, title: s.title, outputs: s.outputs })) };
  const h = render(container, { trace }, { theme: THEMES.dark, stage: 'gemm2' });
  const items = container.querySelectorAll('li.stage-item');
  assert.equal(items.length, 8);
  assert.equal(container.querySelectorAll('li.stage-item.pending[aria-disabled="true"]').length, 5);
  assert.ok(items[3]!.querySelector('.spinner.running'), 'the stage after the last finished one runs');
  assert.equal(container.querySelectorAll('.spinner.running').length, 1);
  assert.match(items[6]!.textContent!, /pending.*not computed yet/);
  assert.equal(h.stage, 'gemm2');
  assert.match(container.querySelector('.stage-detail')!.textContent!, /Not computed yet: waiting/);
  assert.match(container.querySelector('.stage-detail .chip[data-tensor="mm2_out"]')!.textContent!, /not computed yet/);
  h.select('quantize');
  assert.match(container.querySelector('.stage-detail .metrics')!.textContent!, /on CPU/);
});

test('any number of stages: a six-stage (masked) recipe steps 1…6', () => {
  const { document, container } = makeDom();
  const full = smallTrace();
  const six = { ...full, stages: full.stages.filter((s) => s.id !== 'permute' && s.id !== 'unpermute') };
  const h = render(container, { trace: six }, { theme: THEMES.dark, keyTarget: document });
  assert.equal(container.querySelectorAll('li.stage-item').length, 6);
  key(document, document.body, 'End');
  assert.equal(h.stage, 'gemm2');
  assert.match(container.querySelector('.stepper-controls .counter')!.textContent!, /6 \/ 6/);
});
