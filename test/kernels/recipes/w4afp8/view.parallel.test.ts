/** The TP vs EP picture (jsdom): shares per GPU, the run's mode framed, shapes and α under each panel, R1 TP8/EP8. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from '../../../webview/dom';
import { render, planOf } from '../../../../kernels/recipes/w4afp8/views/parallel';
import { parallelPlanTensor } from '../../../../kernels/recipes/w4afp8/parallel';
import { runLayer } from '../../../../kernels/pipeline';
import { tensorRef } from '../../../../kernels/summary';
import { shutdownGemmWorkers } from '../../../../kernels/ops/gemm';
import { THEMES } from '../../../../webview/theme';
import type { Trace } from '../../../../kernels/trace';
import { w4Spec } from './fixtures';

after(() => shutdownGemmWorkers());

/** a real trace of a small run, re-dressed as DeepSeek-R1 on 8 GPUs (the view reads only the spec and the plan) */
async function r1Trace(mode: 'tp' | 'ep'): Promise<Trace> {
  const small = await runLayer(w4Spec(), { backend: 'cpu' });
  const dims = { experts: 256, hidden: 7168, intermediate: 2048 };
  const spec = { ...small.trace.spec, ...dims, recipe: { ...small.trace.spec.recipe, options: mode === 'tp' ? { tp: 8 } : ({} as Record<string, number>) }, ...(mode === 'ep' ? { expertParallel: { size: 8, rank: 3, strategy: 'linear' as const } } : {}) };
  return { ...small.trace, spec, tensors: { ...small.trace.tensors, w4afp8_parallel_plan: tensorRef('w4afp8_parallel_plan', parallelPlanTensor(8, dims), 4096) } };
}

const texts = (c: HTMLElement, sel: string): string[] => Array.from(c.querySelectorAll(sel)).map((n) => n.textContent!);

test('DeepSeek-R1 EP8, rank 3: vertical shares of 32 experts, rank 3 highlighted, the §9 EP8 and TP8 shapes underneath', async () => {
  const { container } = makeDom();
  render(container, await r1Trace('ep'), { theme: THEMES.light });
  assert.match(container.querySelector('.title')!.textContent!, /TP vs EP on 8 GPUs: E = 256 experts, H = 7168, I = 2048/);
  assert.match(container.querySelector('.subtitle')!.textContent!, /this run: EP8, rank 3/);
  const ep = container.querySelector('g.panel-ep')!;
  const tp = container.querySelector('g.panel-tp')!;
  assert.match(ep.querySelector('.panel-title')!.textContent!, /EP8: 32 experts each, full I = 2048 +\(this run\)/);
  assert.doesNotMatch(tp.querySelector('.panel-title')!.textContent!, /this run/);
  const epShares = ep.querySelectorAll('rect.share');
  assert.equal(epShares.length, 8);
  assert.equal(ep.querySelectorAll('rect.share.mine').length, 1);
  assert.equal(ep.querySelector('rect.share.mine')!.getAttribute('data-gpu'), '3');
  assert.match(ep.querySelector('rect.share.mine title')!.textContent!, /GPU 3: experts 96…127 × I 0…2047/);
  // EP: equal widths, full height; TP: full width, equal heights
  const dims = (r: Element): number[] => ['width', 'height'].map((a) => Number(r.getAttribute(a)));
  assert.deepEqual(dims(epShares[0]!), [300 / 8, 180]);
  assert.deepEqual(dims(tp.querySelectorAll('rect.share')[5]!), [300, 180 / 8]);
  assert.match(tp.querySelector('rect.share[data-gpu="5"] title')!.textContent!, /GPU 5: experts 0…255 × I 1280…1535/);
  const epLines = texts(ep as HTMLElement, '.shape-line').join('\n');
  assert.match(epLines, /per GPU \(E_l = 32, I_p = 2048\)[^]*w13_weight +\(32, 4096, 3584\) int4×2/);
  assert.match(epLines, /w13 scales +\(32, 4096, 56\) f32\n +→ +\(32, 14, 16384\) bf16, α = 4 \(56 groups\)/);
  assert.match(epLines, /w2_weight +\(32, 7168, 1024\)/);
  assert.match(epLines, /→ +\(32, 4, 28672\) bf16, α = 4 \(16 groups\)/);
  const tpLines = texts(tp as HTMLElement, '.shape-line').join('\n');
  assert.match(tpLines, /w13_weight +\(256, 512, 3584\)/);
  assert.match(tpLines, /→ +\(256, 14, 2048\) bf16, α = 4/);
  assert.match(tpLines, /w2_weight +\(256, 7168, 128\)/);
  assert.match(tpLines, /→ +\(256, 2, 7168\) bf16, α = 1 \(2 groups: transpose\)/);
  assert.match(tpLines, /partial sums, all-reduced/);
  assert.equal(container.querySelectorAll('.problem').length, 0);
});

test('DeepSeek-R1 TP8: the TP panel is this run, no rank highlighted', async () => {
  const { container } = makeDom();
  render(container, await r1Trace('tp'), { theme: THEMES.dark });
  assert.match(container.querySelector('.subtitle')!.textContent!, /this run: TP8 —/);
  assert.match(container.querySelector('g.panel-tp .panel-title')!.textContent!, /TP8: all 256 experts, I\/8 = 256 each +\(this run\)/);
  assert.equal(container.querySelectorAll('rect.share.mine').length, 0);
  assert.equal(container.querySelector('g.panel-tp rect.frame')!.getAttribute('stroke'), THEMES.dark.focus);
});

test('a split SGLang refuses is marked; a one-GPU run says both modes coincide; a trace without the plan says why', async () => {
  const small = await runLayer(w4Spec(), { backend: 'cpu' });
  const { container } = makeDom();
  render(container, small.trace);
  assert.match(container.querySelector('.subtitle')!.textContent!, /one GPU: both modes hold every expert and the full I/);
  assert.equal(container.querySelectorAll('rect.share').length, 2);
  // Qwen3-like I = 768 on 8 GPUs: TP8 would give I_p = 96
  const dims = { experts: 128, hidden: 2048, intermediate: 768 };
  const qwen: Trace = { ...small.trace, spec: { ...small.trace.spec, ...dims, expertParallel: { size: 8, rank: 0, strategy: 'linear' } }, tensors: { ...small.trace.tensors, w4afp8_parallel_plan: tensorRef('p', parallelPlanTensor(8, dims), 4096) } };
  render(container, qwen);
  assert.match(container.querySelector('g.panel-tp .problem')!.textContent!, /not possible in SGLang: I_p = I\/8 = 96 is not a multiple of 128/);
  assert.equal(container.querySelector('g.panel-ep .problem'), null);
  const { w4afp8_parallel_plan: _p, ...rest } = small.trace.tensors;
  render(container, { ...small.trace, tensors: rest });
  assert.match(container.querySelector('p.empty')!.textContent!, /no w4afp8_parallel_plan/);
  assert.equal(planOf({ ...small.trace, tensors: rest, pending: [{ id: 'load_scales', title: '', outputs: ['w4afp8_parallel_plan'] }] }), 'waiting for the load stage, which writes the parallel plan');
});
