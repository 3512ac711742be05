/**
 * Real torch answers of the probe, recorded on an H100 by scripts/probe-torch-check.py (float8_e4m3fn,
 * float8_e8m0fnu, bfloat16, float16, ints, bool, CUDA tensors, SM90/SM100 scale layouts; samples cut to 48 values):
 * the TypeScript side must accept every one, decode the sampled bytes to exactly torch's own float values, and
 * classify the kernel layouts. Set MOE_TORCH_PROBE_DUMP to a fresh `--dump` file to check a full, new recording.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseProbeJson, toProbedTensor } from '../../../extension/hover/probeCode';
import { classifyTensor } from '../../../extension/hover/classify';
import { hoverMarkdown } from '../../../extension/hover/markdown';
import type { ProbedTensor } from '../../../extension/hover/types';

interface Entry {
  expr: string;
  probe: unknown;
  values: (number | string | null)[] | null;
}

const dumpPath = process.env.MOE_TORCH_PROBE_DUMP;
const entries: Entry[] = dumpPath
  ? (JSON.parse(readFileSync(dumpPath, 'utf8')) as Entry[])
  : (JSON.parse(readFileSync(join(__dirname, 'fixtures', 'torch-probe-h100.json'), 'utf8')) as { entries: Entry[] }).entries;

const spell = (v: number): number | string | null => (Number.isNaN(v) ? null : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v);

function tensor(expr: string): ProbedTensor {
  const e = entries.find((x) => x.expr === expr);
  assert.ok(e, `${expr} not recorded`);
  return toProbedTensor(parseProbeJson(JSON.stringify(e.probe))!, expr, 'debug');
}

describe(`torch probe answers (${dumpPath ?? 'H100 recording'})`, () => {
  it('covers the dtypes and devices that matter', () => {
    const dtypes = new Set(entries.map((e) => (e.probe as { dtype: string }).dtype));
    for (const d of ['float32', 'bfloat16', 'float8_e4m3fn', 'float8_e8m0fnu', 'float16', 'int32', 'int64', 'bool', 'uint8', 'float64'])
      assert.ok(dtypes.has(d), d);
    assert.ok(entries.some((e) => (e.probe as { device: string }).device.startsWith('cuda')), 'a CUDA tensor');
  });

  for (const e of entries) {
    it(`${e.expr}: accepted, sample decoded to torch's values`, () => {
      const t = toProbedTensor(parseProbeJson(JSON.stringify(e.probe))!, e.expr, 'debug');
      assert.equal(t.library, 'torch');
      assert.ok(t.sample, t.sampleNote ?? 'no sample');
      if (e.values) assert.deepEqual(t.sample.values.map(spell), e.values);
      // the hover renders for every one of them
      assert.match(hoverMarkdown(t, { leafName: e.expr }), /\| shape \|/);
    });
  }

  it('classifies the recorded kernel layouts', () => {
    const as = (expr: string, name: string) => classifyTensor({ ...tensor(expr), name });
    assert.equal(as('sm90', 'a1q_scale')?.consequence, 'ready for DeepGEMM on SM90');
    assert.equal(as('sm90g', 'a1q_scale')?.consequence, 'ready for DeepGEMM on SM90');
    assert.equal(as('cuda_sf', 'a1q_scale')?.consequence, 'ready for DeepGEMM on SM90');
    assert.match(as('packed', 'a1q_scale')?.what ?? '', /packed UE8M0 int32, MN-major/);
    assert.equal(as('tr', 'a1q_scale')?.consequence, 'ready for DeepGEMM on SM90', 'a transposed (37, 512): M stride 512 = align(512, 4)');
    assert.match(as('cuda_t', 'a1q_scale')?.what ?? '', /MN-major but the M stride is 7168 \(TMA wants align\(128, 4\) = 128\)/);
    assert.match(as('param', 'w13_weight_scale_inv')?.consequence ?? '', /as they are on SM90 but will broadcast and pack them on SM100/);
    assert.match(as('cuda_ue8m0', 'w13_weight_scale_inv')?.what ?? '', /UE8M0 bytes/);
    assert.match(as('w13', 'w13_weight')?.what ?? '', /FP8 E4M3 expert weights w13: \(E=4, 2N=256, K=512\), K-major/);
    assert.match(as('cuda_e4m3', 'a1q')?.what ?? '', /FP8 E4M3 activations \(M=4096, K=7168\)/);
    assert.match(as('param', 'param')?.what ?? 'none', /none/);
  });

  it('keeps the CUDA device, requires_grad and the torch type name', () => {
    assert.equal(tensor('cuda_bf16').device, 'cuda:0');
    assert.equal(tensor('grad').requiresGrad, true);
    assert.equal(tensor('param').typeName, 'torch.nn.parameter.Parameter');
  });
});
