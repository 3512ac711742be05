/**
 * CudaBackend without a GPU: the reason reaches the caller as MoeError 'E_BACKEND'; a worker that crashes or hangs
 * never takes the caller down; bad shapes are rejected before anything is sent.
 */
import { stagesOnlyPlan } from '../plans';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CudaBackend, locateWorker } from '../../../kernels/backend/cuda';
import { probeCuda } from '../../../kernels/backend/probe';
import { syntheticInputs } from '../../../kernels/synthetic';
import { Tensor } from '../../../kernels/tensor';
import { MoeError } from '../../../kernels/errors';
import { DEFAULT_RECIPE, type LayerSpec } from '../../../kernels/spec';

const spec: LayerSpec = {
  name: 'custom',
  tokens: 8,
  hidden: 256,
  intermediate: 128,
  experts: 4,
  topk: 2,
  arch: 'sm90',
  recipe: { ...DEFAULT_RECIPE },
  activation: { kind: 'silu' },
  routerWeight: 'reduce',
  blockM: 128,
  source: { kind: 'synthetic', seed: 5, skew: 0 },
};
const fixture = (name: string): string => join(__dirname, 'fixtures', name);
const isBackendError = (re: RegExp) => (e: unknown) => e instanceof MoeError && e.code === 'E_BACKEND' && re.test(e.message);

test('without a usable GPU a run fails with E_BACKEND carrying the probe reason', async (t) => {
  if ((await probeCuda()).ok) return t.skip('a GPU is usable here: covered by the GPU tests');
  const b = new CudaBackend();
  try {
    await assert.rejects(b.run(syntheticInputs(spec), spec, stagesOnlyPlan()), isBackendError(/CUDA unavailable: /));
  } finally {
    b.dispose();
  }
});

test('a worker that crashes (SIGSEGV) surfaces as E_BACKEND and the next run starts a fresh worker', async () => {
  const b = new CudaBackend({ workerPath: fixture('crashingWorker.ts') });
  const inputs = syntheticInputs(spec);
  try {
    await assert.rejects(b.run(inputs, spec, stagesOnlyPlan()), isBackendError(/GPU worker was killed by SIGSEGV/));
    await assert.rejects(b.run(inputs, spec, stagesOnlyPlan()), isBackendError(/GPU worker was killed by SIGSEGV/));
    assert.ok(process.pid > 0, 'the caller is alive');
  } finally {
    b.dispose();
  }
});

test('cancelling a run stops the worker and rejects with E_CANCELLED', async () => {
  const b = new CudaBackend({ workerPath: fixture('silentWorker.ts') });
  try {
    const ac = new AbortController();
    const run = b.run(syntheticInputs(spec), spec, stagesOnlyPlan(), { signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    await assert.rejects(run, (e: unknown) => e instanceof MoeError && e.code === 'E_CANCELLED');
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(b.run(syntheticInputs(spec), spec, stagesOnlyPlan(), { signal: pre.signal }), (e: unknown) => e instanceof MoeError && e.code === 'E_CANCELLED');
  } finally {
    b.dispose();
  }
});

test('bad shapes are rejected before anything is sent (the worker here would never answer)', async () => {
  const b = new CudaBackend({ workerPath: fixture('silentWorker.ts'), inputTransport: 'tensors' });
  const inputs = syntheticInputs(spec);
  try {
    const badK = { ...inputs, hidden_states: Tensor.zeros('bf16', [8, 200], 'hidden_states') };
    await assert.rejects(b.run(badK, spec, stagesOnlyPlan()), (e: unknown) => e instanceof MoeError && e.code === 'E_SHAPE' && /hidden_states: expected shape \[8, 256\], got \[8, 200\]/.test(e.message));
    const badW = { ...inputs, topk_weights: Tensor.zeros('i32', [8, 2], 'topk_weights') as unknown as Tensor<'f32'> };
    await assert.rejects(b.run(badW, spec, stagesOnlyPlan()), (e: unknown) => e instanceof MoeError && e.code === 'E_DTYPE' && /topk_weights: expected dtype f32, got i32/.test(e.message));
    await assert.rejects(b.run(inputs, spec, stagesOnlyPlan(), { repeats: 0 }), (e: unknown) => e instanceof MoeError && e.code === 'E_VALUE');
  } finally {
    b.dispose();
  }
});

test('the worker is found: bundled JS next to a bundle, the TypeScript source through tsx here', () => {
  const w = locateWorker();
  assert.match(w.file, /gpuWorker\.(ts|js)$/);
  if (w.file.endsWith('.ts')) assert.deepEqual(w.execArgv, ['--import', 'tsx']);
  assert.deepEqual(locateWorker('/x/dist/gpuWorker.js'), { file: '/x/dist/gpuWorker.js', execArgv: [] });
});
