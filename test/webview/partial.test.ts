/**
 * Partial traces (the run goes on): the app shell draws what is done — stepper with pending stages greyed, the scale
 * layout once quantize + transform are done, the permutation after permute — and the final trace replaces it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROTOCOL_VERSION, type WebviewState } from '../../kernels/protocol';
import type { Trace } from '../../kernels/trace';
import { smallTrace } from './fixtures';
import { bootWebview } from './bootWebview';
import { rowSegmentsOf } from '../../webview/model/partial';
import { missingStagesFor, viewKey } from '../../webview/views/registry';

/** The trace as runLayer's onStage sends it after `done` stages: finished stages, pending ones, their tensors only. */
export function partialOf(full: Trace, done: number): Trace {
  const stages = full.stages.slice(0, done);
  const later = full.stages.slice(done);
  const unborn = new Set(later.flatMap((s) => s.outputs));
  const tensors = Object.fromEntries(Object.entries(full.tensors).filter(([n]) => !unborn.has(n) || stages.some((s) => s.outputs.includes(n))));
  return { ...full, stages, tensors, pending: later.map((s) => ({ id: s.id, title: s.title, outputs: s.outputs })) };
}

const boot = (saved?: WebviewState) => bootWebview(saved);

const sendPartial = (app: Awaited<ReturnType<typeof boot>>, full: Trace, done: number): void =>
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace: partialOf(full, done), partial: true });

test('partial traces: pending stages greyed with a spinner; scales wait for transform, then draw; the final trace replaces it', async () => {
  const app = await boot();
  const full = smallTrace('cpu');
  sendPartial(app, full, 0);
  assert.equal(app.doc.querySelectorAll('.stage-item').length, 8);
  assert.equal(app.doc.querySelectorAll('.stage-item.pending').length, 8);
  assert.equal(app.doc.querySelectorAll('.stage-item .spinner.running').length, 1, 'one stage runs at a time');
  assert.match(app.doc.querySelector('.stage-item.pending .stage-sub')!.textContent!, /not computed yet/);
  assert.match(app.doc.querySelector('.badges')!.textContent!, /running · 0\/8 stages/);
  const wait = app.doc.querySelector('#view-host .view-pending')!;
  assert.match(wait.textContent!, /Scale layout: not computed yet — drawn when “Quantize[^”]*” and “[^”]*scales?[^”]*” finish/i);
  assert.equal(app.doc.querySelector('#view-host svg, #view-host canvas'), null, 'no picture yet');
  assert.equal(app.doc.body.dataset.firstPictureMs, undefined);

  sendPartial(app, full, 1);
  assert.equal(app.doc.querySelectorAll('.stage-item.pending').length, 7);
  assert.ok(app.doc.querySelector('#view-host .view-pending'), 'still waiting for transform_scales');
  sendPartial(app, full, 2);
  assert.ok(app.doc.querySelector('.scales-view rect.logical-cell, .scales-view canvas'), 'scale layout drawn after quantize + transform');
  assert.ok(app.doc.body.dataset.firstPictureMs, 'first picture noted');
  const drawn = app.doc.querySelector('.scales-view');
  sendPartial(app, full, 3);
  assert.equal(app.doc.querySelector('.scales-view'), drawn, 'same data: the view is not redrawn for a new partial');
  assert.equal(app.doc.querySelectorAll('.stage-item.pending').length, 5);

  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace: full });
  assert.equal(app.doc.querySelectorAll('.stage-item.pending').length, 0);
  assert.match(app.doc.querySelector('.badges')!.textContent!, /total/);
  assert.deepEqual(app.errors, []);
});

test('partial traces: permutation after permute; timing shows pending rows; heatmap of a tensor not computed yet says so', async () => {
  const full = smallTrace('cpu');
  const app = await boot({ version: PROTOCOL_VERSION, view: 'permutation', stage: 'gemm1', heatmapTensor: 'mm1_out' });
  sendPartial(app, full, 2);
  assert.match(app.doc.querySelector('#view-host .view-pending')!.textContent!, /Permutation: not computed yet — drawn when “Permute/);
  sendPartial(app, full, 3);
  assert.ok(app.doc.querySelector('.permutation-view rect.seg-rows'), 'permutation drawn after permute');
  // the selected stage (gemm1) is pending: the detail box says so, its chips are greyed
  assert.match(app.doc.querySelector('.stage-detail')!.textContent!, /Running now: not computed yet/);
  assert.ok(app.doc.querySelector('.stage-detail .chip-pending[data-tensor="mm1_out"]'));

  (app.doc.querySelector('#tab-timing') as HTMLElement).click();
  assert.equal(app.doc.querySelectorAll('.timing-view g.stage-row').length, 8);
  assert.equal(app.doc.querySelectorAll('.timing-view g.stage-row.pending').length, 5);
  assert.match(app.doc.querySelector('.timing-view g.stage-row.pending')!.textContent!, /not computed yet/);

  (app.doc.querySelector('#tab-heatmap') as HTMLElement).click();
  const msg = app.doc.querySelector('#view-host .view-pending')!;
  assert.match(msg.textContent!, /mm1_out: not computed yet — stage “Grouped GEMM 1/);
  assert.equal(msg.getAttribute('data-waiting-for'), 'gemm1');
  // clicking the chip of a pending tensor lands on the same clear message, never a crash
  (app.doc.querySelector('.stage-detail .chip[data-tensor="mm1_out"]') as HTMLElement).click();
  assert.match(app.doc.querySelector('#view-host .view-pending')!.textContent!, /not computed yet/);
  assert.deepEqual(app.errors, []);
});

test('partial trace then an error: the picture stays, the spinner stops', async () => {
  const app = await boot();
  sendPartial(app, smallTrace('cpu'), 2);
  app.send({ type: 'error', message: 'Inspecting e2e_small failed: cancelled' });
  assert.ok(app.doc.querySelector('.app.run-stopped'));
  assert.equal(app.doc.querySelectorAll('.stage-item.pending').length, 6);
  assert.match(app.doc.querySelector('.error-banner')!.textContent!, /cancelled/);
});

test('model: missing stages per view, view keys, padding rows of permuted tensors', () => {
  const full = smallTrace('cpu');
  const p1 = partialOf(full, 1);
  assert.deepEqual(missingStagesFor(p1, 'scales').map((s) => s.id), ['transform_scales']);
  assert.deepEqual(missingStagesFor(p1, 'permutation').map((s) => s.id), ['permute']);
  assert.deepEqual(missingStagesFor(partialOf(full, 0), 'timing').map((s) => s.id), ['quantize']);
  assert.deepEqual(missingStagesFor(full, 'scales'), []);
  assert.equal(viewKey(partialOf(full, 3), 'scales', true), viewKey(partialOf(full, 4), 'scales', true));
  assert.notEqual(viewKey(partialOf(full, 3), 'timing', true), viewKey(partialOf(full, 4), 'timing', true));
  const seg = rowSegmentsOf(full, full.tensors['mm1_out']!)!;
  const mSum = full.permutation.mSum;
  assert.equal(seg.dataRows, full.permutation.routedRows);
  assert.equal(seg.paddingRuns.reduce((a, [s, e]) => a + e - s, 0), mSum - full.permutation.routedRows);
  assert.equal(rowSegmentsOf(full, full.tensors['hidden_states']!), undefined, 'token rows have no padding');
});

test('the next partial of a run updates the stepper in place: its buttons keep their identity (no click lost mid-run)', async () => {
  const app = await boot();
  const full = smallTrace('cpu');
  sendPartial(app, full, 2);
  const next = app.doc.querySelector('button[aria-label="Next stage (→)"]');
  (next as HTMLButtonElement).click();
  sendPartial(app, full, 3);
  assert.equal(app.doc.querySelector('button[aria-label="Next stage (→)"]'), next, 'same button after a partial');
  assert.equal(app.doc.querySelector('.stage-item.current')!.getAttribute('data-stage'), 'transform_scales', 'the stage picked stays');
  assert.equal(app.doc.querySelectorAll('.stage-item.pending').length, 5);
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace: full });
  assert.equal(app.doc.querySelector('button[aria-label="Next stage (→)"]'), next, 'and after the final trace');
  assert.equal(app.doc.querySelectorAll('.stage-item.pending').length, 0);
  // another run (a re-run) starts afresh
  app.send({ type: 'trace', version: PROTOCOL_VERSION, trace: { ...full, createdAt: 'later' } });
  assert.notEqual(app.doc.querySelector('button[aria-label="Next stage (→)"]'), next);
});
