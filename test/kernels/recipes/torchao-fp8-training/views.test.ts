/** The torchao training views in jsdom, drawn from real traces (a finished run, a partial one) and a scaled-up one. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../../../webview/dom';
import { smallTrace } from '../../../webview/fixtures';
import { THEMES } from '../../../../webview/theme';
import type { Trace } from '../../../../kernels/trace';
import type { Tensor } from '../../../../kernels/tensor';
import { runLayer } from '../../../../kernels/pipeline';
import { recipeById } from '../../../../kernels/recipes/index';
import { shutdownGemmWorkers } from '../../../../kernels/ops/gemm';
import { torchaoInputsFor, workedExampleInputs } from '../../../../kernels/recipes/torchao-fp8-training/synthetic';
import { render as renderPasses } from '../../../../kernels/recipes/torchao-fp8-training/views/passes';
import { render as renderLayout, SUBTILE_LIMIT } from '../../../../kernels/recipes/torchao-fp8-training/views/groupedLayout';
import { render as renderBuffer } from '../../../../kernels/recipes/torchao-fp8-training/views/kGroupedBuffer';
import { render as renderWorked } from '../../../../kernels/recipes/torchao-fp8-training/views/workedExample';
import { trainingModel } from '../../../../kernels/recipes/torchao-fp8-training/views/model';

after(() => shutdownGemmWorkers());

const recipe = recipeById('torchao-fp8-training');
let worked: Trace;
let partial: Trace;
let spec2: Trace;

async function traceOf(inputs: Record<string, Tensor>, onPartial?: (t: Trace) => void): Promise<Trace> {
  const spec = recipe.specFromInputs(inputs, { arch: 'sm90' });
  const r = await runLayer(spec, { backend: 'cpu', inputs, ...(onPartial ? { onStage: onPartial } : {}) });
  return r.trace;
}

before(async () => {
  const partials: Trace[] = [];
  worked = await traceOf(workedExampleInputs() as unknown as Record<string, Tensor>, (t) => void partials.push(t));
  partial = partials.find((p) => p.stages.length === 1)!;
  spec2 = await traceOf(torchaoInputsFor([200, 100], 256, 256, 2) as unknown as Record<string, Tensor>);
});

const text = (c: HTMLElement): string => c.textContent ?? '';

test('passes: three lanes, every operand present after the run, the DeepGEMM call of each pass', () => {
  const { container } = makeDom();
  renderPasses(container, worked, { theme: THEMES.dark });
  assert.deepEqual([...container.querySelectorAll('g.pass')].map((g) => g.getAttribute('data-pass')), ['forward', 'dgrad', 'wgrad']);
  assert.equal(container.querySelectorAll('g.operand.missing').length, 0);
  assert.equal(container.querySelectorAll('g.stage.done').length, 7);
  const t = text(container);
  assert.match(t, /k_grouped_fp8_gemm_nt_contiguous/);
  assert.match(t, /m_grouped_fp8_gemm_nt_contiguous/);
  assert.ok(container.querySelector('g.operand[data-tensor="input_fp8"] text.shape')!.textContent!.startsWith('(512, 256) f8e4m3fn'));
  assert.ok(container.querySelector('g.operand[data-tensor="wgrad_lhs"] text.shape')!.textContent!.startsWith('(65536) f8e4m3fn'));
  assert.ok(container.querySelector('g.operand[data-tensor="grad_weight"] text.shape')!.textContent!.startsWith('(2, 256, 256) bf16'));
});

test('passes on a partial trace: only the padding is done; later operands dashed with the shapes the spec implies', () => {
  const { container } = makeDom();
  renderPasses(container, partial, { theme: THEMES.light });
  assert.equal(container.querySelectorAll('g.stage.done').length, 1);
  assert.equal(container.querySelectorAll('g.stage.pending').length, 6);
  const missing = container.querySelector('g.operand.missing[data-tensor="weight_t_fp8"]')!;
  assert.match(missing.textContent!, /\(2, 256, 256\) f8e4m3fn/);
  assert.equal(missing.querySelector('rect')!.getAttribute('stroke-dasharray'), '4,3');
  assert.match(text(container), /pending/);
});

test('grouped_layout: expert runs, padding and slack hatched, 128-row tiles, which 64-row sub-tiles run', () => {
  const { container } = makeDom();
  renderLayout(container, worked, { theme: THEMES.dark });
  const runs = [...container.querySelectorAll('rect.run')].map((r) => [r.getAttribute('data-start'), r.getAttribute('data-end'), r.getAttribute('data-expert')]);
  assert.deepEqual(runs, [['0', '100', '0'], ['128', '158', '1']]);
  const pads = [...container.querySelectorAll('rect.pad-run')].map((r) => [r.getAttribute('data-start'), r.getAttribute('data-end')]);
  assert.deepEqual(pads, [['100', '128'], ['158', '256']], "each group's tail up to its 128-row multiple");
  const pad = container.querySelector('rect.pad-run')!;
  assert.match(pad.getAttribute('fill')!, /^url\(#/);
  assert.match(pad.querySelector('title')!.textContent!, /expert 0's group padded to 128 rows/);
  const slack = container.querySelector('rect.slack-run')!;
  assert.deepEqual([slack.getAttribute('data-start'), slack.getAttribute('data-end')], ['256', '512'], 'the slack after S = 256');
  assert.equal(container.querySelectorAll('line.tile-tick').length, 5);
  // 8 sub-tiles of 64 rows: rows 0, 64 (expert 0), 128 (expert 1) run; 192… start with −1
  assert.deepEqual([...container.querySelectorAll('rect.subtile')].map((r) => r.getAttribute('class')), ['subtile runs', 'subtile runs', 'subtile runs', 'subtile skipped', 'subtile skipped', 'subtile skipped', 'subtile skipped', 'subtile skipped']);
  assert.match(text(container), /3 of 8 64-row sub-tiles run/);
  assert.match(text(container), /512 rows = align\(M \+ E·128, 128\) = align\(130 \+ 2·128, 128\)/);
  assert.equal(container.querySelectorAll('text.warning').length, 0, "the trace's grouped_layout is the one drawn");
});

test('K-grouped buffers: each expert\'s byte range, the opened (D, P_e) block, scale columns by expert with inline shading', () => {
  const { container } = makeDom();
  renderBuffer(container, spec2, { theme: THEMES.dark });
  const lhs = container.querySelector('g.operand[data-tensor="wgrad_lhs"]')!;
  const blocks = [...lhs.querySelectorAll('rect.expert-block')].map((r) => [r.getAttribute('data-begin'), r.getAttribute('data-end')]);
  assert.deepEqual(blocks, [['0', '65536'], ['65536', '98304']]);
  assert.match(lhs.textContent!, /Σ P_e·N = 384·256 = 98304 bytes/);
  assert.match(lhs.textContent!, /element \(d, m\) at 0·256 \+ d·256 \+ m/);
  const cells = [...lhs.querySelectorAll('rect.scale-cell')];
  const byBlock = new Map(cells.map((c) => [c.getAttribute('data-block'), c.getAttribute('data-expert')]));
  assert.deepEqual([...byBlock.entries()], [['0', '0'], ['1', '0'], ['2', '1']]);
  assert.match(lhs.querySelector('text.scale-title')!.textContent!, /wgrad_lhs_scale \(256, 3\) float32/);
  assert.equal(lhs.querySelector('text.scale-columns')!.textContent, 'columns 0–1 expert 0, column 2 expert 1');
  assert.match(lhs.textContent!, /shade: log2 of the scale/);
  assert.ok(container.querySelector('g.operand[data-tensor="wgrad_rhs"] rect.pad-tokens'), 'expert 0 has 56 padding tokens (200 → 256)');
  const { container: c2 } = makeDom();
  renderBuffer(c2, spec2, { theme: THEMES.dark, expert: 1 });
  assert.match(text(c2), /element \(d, m\) at 256·256 \+ d·128 \+ m = 65536 \+ d·128 \+ m/);
});

test('§8 worked example drawn: the spec\'s padding, grouped_layout and wgrad numbers', () => {
  const { container } = makeDom();
  renderWorked(container, worked, { theme: THEMES.dark });
  const lines = [...container.querySelectorAll('text.line')].map((t) => t.textContent);
  assert.ok(lines.includes('padded P_e = align(c_e, 128) = [128, 128], starts s_e = [0, 128], S = 256'), lines.join('\n'));
  assert.ok(lines.includes('buffer rows = align(M + E·128, 128) = align(130 + 2·128, 128) = 512'));
  assert.ok(lines.includes('grouped_layout: 0–99 → 0, 100–127 → −1, 128–157 → 1, 158–511 → −1'));
  assert.deepEqual([...container.querySelectorAll('text.run-label')].map((t) => t.textContent), ['0–99 → 0', '100–127 → −1', '128–157 → 1', '158–511 → −1']);
  const { container: c2 } = makeDom();
  renderWorked(c2, spec2, { theme: THEMES.dark });
  const l2 = [...c2.querySelectorAll('text.line')].map((t) => t.textContent);
  assert.ok(l2.includes('LHS (grad_output): flat length Σ P_e·N = 384·256 = 98304 bytes; expert 0 [0, 65536), expert 1 [65536, 98304)'), l2.join('\n'));
  assert.ok(l2.includes('  scales (256, 3): columns 0–1 expert 0, column 2 expert 1'));
});

test('another recipe\'s trace: each view says so in one sentence instead of drawing', () => {
  for (const render of [renderPasses, renderLayout, renderBuffer, renderWorked]) {
    const { container } = makeDom();
    render(container, smallTrace('cpu'), { theme: THEMES.dark });
    assert.match(container.querySelector('.view-message')!.textContent!, /draws torchao-fp8-training traces; this one ran the contiguous recipe/);
    assert.equal(container.querySelectorAll('svg').length, 0);
  }
  assert.equal(typeof trainingModel(smallTrace('cpu')), 'string');
});

test('a DeepSeek-size layout (256 experts, ~100k buffer rows) stays a bounded number of nodes', () => {
  const counts = Array.from({ length: 256 }, (_, e) => (e * 37) % 700);
  const tokens = counts.reduce((a, b) => a + b, 0);
  const big: Trace = { ...worked, spec: { ...worked.spec, tokens, hidden: 7168, intermediate: 2048, experts: 256 }, permutation: { ...worked.permutation, counts }, tensors: {} };
  const m = trainingModel(big);
  assert.ok(typeof m !== 'string');
  assert.ok(m.groups.bufferRows / 64 > SUBTILE_LIMIT);
  for (const render of [renderLayout, renderBuffer, renderWorked, renderPasses]) {
    const { container } = makeDom();
    render(container, big, { theme: THEMES.dark });
    const n = container.querySelectorAll('*').length;
    assert.ok(n < 8000, `${n} nodes`);
  }
  const { container } = makeDom();
  renderLayout(container, big, { theme: THEMES.dark });
  assert.equal(container.querySelectorAll('rect.subtile').length, 0);
  assert.match(text(container), /of \d+ 64-row sub-tiles run/);
});
