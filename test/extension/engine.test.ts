import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MoeError } from '../../kernels/errors';
import { writeSafetensors } from '../../kernels/io/safetensors';
import { syntheticInputs } from '../../kernels/synthetic';
import type { Tensor } from '../../kernels/tensor';
import { describePreset, makeSpec, presetNames, layerForFile } from '../../extension/engine';
import { goldenFile } from '../golden';

test('presets offered by the quick pick, with their shapes', () => {
  const names = presetNames();
  assert.ok(names.includes('Qwen3-30B-A3B') && names.includes('DeepSeek-V3'));
  assert.equal(describePreset('Qwen3-30B-A3B'), 'K=2048 N=768 E=128 top-8 · f32 scales');
  assert.equal(describePreset('nope'), '');
});

test('a layer file (vLLM names) becomes a spec whose source is the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-ext-'));
  try {
    const small = makeSpec('Qwen3-30B-A3B', {});
    const spec = { ...small, name: 'small', tokens: 5, hidden: 256, intermediate: 128, experts: 4, topk: 2 };
    const inputs = syntheticInputs(spec);
    const path = join(dir, 'layer.safetensors');
    const tensors: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(inputs)) if (t) tensors[k] = t as Tensor;
    writeSafetensors(path, tensors);
    const got = layerForFile(path, { arch: 'sm100' }).spec;
    assert.deepEqual([got.tokens, got.hidden, got.intermediate, got.topk], [5, 256, 128, 2]);
    assert.equal(got.name, 'layer.safetensors');
    assert.equal(got.arch, 'sm100');
    assert.equal(got.recipe.scaleFormat, 'ue8m0', 'SM100 takes packed UE8M0 scales');
    assert.deepEqual(got.source, { kind: 'file', path });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('files that are not layer files are refused with what is missing', () => {
  assert.throws(
    () => layerForFile(goldenFile('fp8_golden.safetensors'), { arch: 'sm90' }),
    (e: unknown) => e instanceof MoeError && e.code === 'E_FORMAT' && /not a layer file/.test(e.message) && /contiguous needs hidden_states/.test(e.message) && /vLLM FusedMoE names/.test(e.message),
  );
  const dir = mkdtempSync(join(tmpdir(), 'moe-ext-'));
  try {
    const junk = join(dir, 'junk.safetensors');
    writeFileSync(junk, 'not a safetensors file');
    assert.throws(() => layerForFile(junk, { arch: 'sm90' }).spec, (e: unknown) => e instanceof MoeError);
    assert.throws(() => layerForFile(join(dir, 'absent.safetensors'), { arch: 'sm90' }), (e: unknown) => e instanceof MoeError && e.code === 'E_IO');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
