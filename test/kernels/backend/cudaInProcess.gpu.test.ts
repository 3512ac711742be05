/**
 * The CUDA backend in the caller's process (the CLI's): the same stage tensors as the GPU worker, bit for bit, the
 * same refusals, and the pipeline picks it only when asked (needs a GPU; elsewhere each test skips and says why).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CudaBackend } from '../../../kernels/backend/cuda';
import { InProcessCudaBackend } from '../../../kernels/backend/cudaInProcess';
import { selectBackend } from '../../../kernels/backend/index';
import { syntheticInputs } from '../../../kernels/synthetic';
import { makeSpec } from '../../../kernels/presets';
import { Tensor } from '../../../kernels/tensor';
import { MoeError } from '../../../kernels/errors';
import { recipeById } from '../../../kernels/recipes/index';
import { stagesOnlyPlan } from '../plans';
import { gpuSkipReason, rawArray } from '../native/gpuHelpers';

const spec = makeSpec('qwen3-30b-a3b', { tokens: 96, hidden: 512, intermediate: 256, experts: 8, topk: 2, source: { kind: 'synthetic', seed: 11, skew: 0.5 } });

test('in-process CUDA: the stage tensors of the GPU worker, bit for bit', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const inputs = syntheticInputs(spec) as unknown as Record<string, Tensor>;
  const worker = new CudaBackend();
  try {
    const [w, p] = [await worker.run(inputs, spec, stagesOnlyPlan(), { repeats: 1, inputsGiven: true }), await new InProcessCudaBackend().run(inputs, spec, stagesOnlyPlan(), { repeats: 1 })];
    assert.deepEqual(Object.keys(p.tensors).sort(), Object.keys(w.tensors).sort());
    for (const [name, t] of Object.entries(w.tensors)) {
      const q = p.tensors[name]!;
      assert.deepEqual([q.dtype, q.shape, q.strides], [t.dtype, t.shape, t.strides], `${name}: dtype, shape and strides`);
      assert.deepEqual(rawArray(q), rawArray(t), `${name}: the same bits`);
    }
    assert.deepEqual(Object.keys(p.timesMs), Object.keys(w.timesMs));
    assert.equal(p.device, w.device);
    assert.equal(p.gemmKernel, w.gemmKernel);
  } finally {
    worker.dispose();
  }
});

test('in-process CUDA: bad inputs are refused before any launch, naming the tensor', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const inputs = { ...(syntheticInputs(spec) as unknown as Record<string, Tensor>) };
  const w = inputs.w13_weight!;
  inputs.w13_weight = new Tensor('f8e4m3fn', [w.shape[0]!, w.shape[1]! - 128, w.shape[2]!], (w.storage as Uint8Array).subarray(0, w.numel - 128 * w.shape[2]! * w.shape[0]!));
  const backend = new InProcessCudaBackend();
  await assert.rejects(backend.run(inputs, spec, stagesOnlyPlan(), { repeats: 1 }), (e: unknown) => e instanceof MoeError && /w13_weight/.test(e.message));
  // the backend stays usable after a refusal
  const ok = await backend.run(syntheticInputs(spec) as unknown as Record<string, Tensor>, spec, stagesOnlyPlan(), { repeats: 1 });
  assert.ok(ok.tensors.output);
});

test('selectBackend: in-process CUDA only when asked', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const recipe = recipeById(spec.recipe.id);
  const asked = await selectBackend('cuda', recipe, spec, { cudaInProcess: true });
  const plain = await selectBackend('cuda', recipe, spec);
  try {
    assert.ok(asked.backend instanceof InProcessCudaBackend);
    assert.ok(plain.backend instanceof CudaBackend);
  } finally {
    await plain.backend.dispose?.();
  }
});

test('stageTensors: false leaves the stage tensors on the device and still times every stage (both CUDA paths)', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const inputs = syntheticInputs(spec) as unknown as Record<string, Tensor>;
  const worker = new CudaBackend();
  try {
    for (const [what, backend] of [['in-process', new InProcessCudaBackend()], ['worker', worker]] as const) {
      const r = await backend.run(inputs, spec, stagesOnlyPlan(), { repeats: 1, inputsGiven: true, stageTensors: false });
      assert.deepEqual(Object.keys(r.tensors), [], `${what}: no tensors copied back`);
      assert.deepEqual(Object.keys(r.timesMs), stagesOnlyPlan().stages.map((s) => s.id), `${what}: a time per stage`);
      for (const ms of Object.values(r.timesMs)) assert.ok(Number.isFinite(ms) && ms > 0, `${what}: ${ms} ms`);
    }
  } finally {
    worker.dispose();
  }
});
