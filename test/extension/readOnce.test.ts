/**
 * Each input is read once per run (issue 11): a layer file opened by the panel's path (layerForFile, then the
 * engine's run with the tensors it read) and by `moe-inspect run --layer`, and a checkpoint layer read by the
 * panel's path and by `run --checkpoint`, are each read exactly once — counted by spies on the readers. A re-run
 * of a saved spec (another architecture, a restored panel) reads its source once too.
 */
import { test, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SafetensorsFile, writeSafetensors } from '../../kernels/io/safetensors';
import { Checkpoint } from '../../kernels/io/checkpoint';
import { shutdownGemmWorkers } from '../../kernels/ops/gemm';
import { makeSpec } from '../../kernels/presets';
import { syntheticInputs } from '../../kernels/synthetic';
import type { Tensor } from '../../kernels/tensor';
import { engine, layerForFile, loadCheckpointRun } from '../../extension/engine';
import { main } from '../../extension/cli';
import { writeCheckpoint } from '../kernels/io/checkpoint/fixtures';

after(() => shutdownGemmWorkers());
const dir = mkdtempSync(join(tmpdir(), 'moe-read-once-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// ---- spies: opens of one safetensors file, and expert-weight loads of a checkpoint layer
const opened = new Map<string, number>();
const origOpen = SafetensorsFile.open.bind(SafetensorsFile);
SafetensorsFile.open = (path: string, ...rest: Parameters<typeof SafetensorsFile.open> extends [string, ...infer R] ? R : never) => {
  opened.set(path, (opened.get(path) ?? 0) + 1);
  return origOpen(path, ...rest);
};
const layerLoads: number[] = [];
const proto = Checkpoint.prototype as unknown as Record<'loadLayer' | 'loadLayerAsync', (this: Checkpoint, layer: number, ...rest: unknown[]) => unknown>;
for (const m of ['loadLayer', 'loadLayerAsync'] as const) {
  const orig = proto[m];
  proto[m] = function (this: Checkpoint, layer: number, ...rest: unknown[]) {
    layerLoads.push(layer);
    return orig.call(this, layer, ...rest);
  };
}
after(() => {
  SafetensorsFile.open = origOpen;
});
beforeEach(() => {
  opened.clear();
  layerLoads.length = 0;
});

const layerFile = join(dir, 'layer.safetensors');
{
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 12, hidden: 256, intermediate: 256, experts: 4, topk: 2, source: { kind: 'synthetic', seed: 3, skew: 0 } });
  const tensors: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(syntheticInputs(spec))) if (v) tensors[k] = v as Tensor;
  writeSafetensors(layerFile, tensors);
}
const ckpt = join(dir, 'ds');
writeCheckpoint(ckpt, { family: 'deepseek', experts: 8, topk: 2, layers: 3, shards: 2 });

const quiet = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });
const opts = { backend: 'cpu' as const, gpuModel: 'auto' };

test('panel path: a layer file is read once for the spec and the run', async () => {
  const loaded = layerForFile(layerFile, { arch: 'sm90' });
  const r = await engine.runLayer(loaded.spec, { ...opts, inputs: loaded.inputs });
  assert.equal(r.trace.stages.length > 0, true);
  assert.equal(opened.get(layerFile), 1);
});

test('re-run of a layer-file spec (another architecture, a restored panel): read once', async () => {
  const { spec } = layerForFile(layerFile, { arch: 'sm90' });
  assert.equal(opened.get(layerFile), 1, 'the spy sees the engine open the file');
  opened.clear();
  await engine.runLayer(spec, opts);
  assert.equal(opened.get(layerFile), 1);
});

test('CLI path: run --layer reads the file once', async () => {
  const code = await main(['run', '--layer', layerFile, '--backend', 'cpu'], quiet(), quiet());
  assert.ok(code === 0 || code === 1);
  assert.equal(opened.get(layerFile), 1);
});

test('panel path: a checkpoint layer is read once for the spec and the run', async () => {
  const loaded = await loadCheckpointRun({ dir: ckpt, layer: 2 }, { arch: 'sm90', tokens: 16 });
  await engine.runLayer(loaded.spec, { ...opts, inputs: loaded.inputs });
  assert.deepEqual(layerLoads, [2]);
});

test('re-run of a checkpoint spec: the layer is read once, with the same routing', async () => {
  const first = await loadCheckpointRun({ dir: ckpt, layer: 2 }, { arch: 'sm90', tokens: 16 });
  layerLoads.length = 0;
  const again = await engine.runLayer(first.spec, opts);
  assert.deepEqual(layerLoads, [2]);
  assert.deepEqual([...again.inputs.topk_ids!.contiguous().storage], [...first.inputs.topk_ids!.contiguous().storage]);
  assert.deepEqual(again.inputs.w13_weight!.contiguous().storage, first.inputs.w13_weight!.contiguous().storage);
});

test('CLI path: run --checkpoint reads the layer once', async () => {
  const code = await main(['run', '--checkpoint', ckpt, '--layer-index', '1', '--tokens', '8', '--backend', 'cpu'], quiet(), quiet());
  assert.ok(code === 0 || code === 1);
  assert.deepEqual(layerLoads, [1]);
});
