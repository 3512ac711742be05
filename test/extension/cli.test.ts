/** moe-inspect end to end through main(): every command on small real inputs, and the errors users will hit. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSpec } from '../../kernels/presets';
import { syntheticInputs } from '../../kernels/synthetic';
import { SafetensorsFile, writeSafetensors } from '../../kernels/io/safetensors';
import { quantizeActivations } from '../../kernels/ops/quantize';
import { shutdownGemmWorkers } from '../../kernels/ops/gemm';
import type { Tensor } from '../../kernels/tensor';
import { goldenFile } from '../golden';
import { cli } from './cliInProcess';

after(() => shutdownGemmWorkers());

const dir = mkdtempSync(join(tmpdir(), 'moe-cli-'));



/** a small layer file with vLLM names (M=12, K=256, N=256, E=4, top-2) */
function writeLayer(name: string, over: Parameters<typeof makeSpec>[1] = {}): string {
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 12, hidden: 256, intermediate: 256, experts: 4, topk: 2, source: { kind: 'synthetic', seed: 3, skew: 0 }, ...over });
  const inputs = syntheticInputs(spec);
  const tensors: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) if (v) tensors[k] = v as Tensor;
  const p = join(dir, name);
  writeSafetensors(p, tensors);
  return p;
}

test('run --layer writes stage tensors (logical row-major) and the trace, prints the stage table', async () => {
  const layer = writeLayer('layer.safetensors');
  const out = join(dir, 'out.safetensors');
  const trace = join(dir, 'trace.json');
  const r = await cli('run', '--layer', layer, '--backend', 'cpu', '--out', out, '--trace', trace);
  assert.equal(r.code, 0, r.err);
  for (const title of ['Quantize activations', 'Grouped GEMM 1', 'Unpermute']) assert.match(r.out, new RegExp(title));
  assert.match(r.out, /% of roofline/);
  assert.match(r.out, /backend: cpu/);
  const f = SafetensorsFile.open(out);
  try {
    for (const n of ['output', 'a1q', 'a1q_scale', 'm_indices', 'inv_perm', 'mm1_out', 'act_out', 'a2q', 'a2q_scale', 'mm2_out']) assert.ok(f.has(n), `missing ${n}`);
    assert.deepEqual(f.entry('output').shape, [12, 256]);
    assert.equal(f.entry('output').dtype, 'BF16');
    assert.equal(f.entry('a1q').dtype, 'F8_E4M3');
    assert.deepEqual(f.entry('a1q_scale').shape, [12, 2]);
    assert.deepEqual(f.entry('inv_perm').shape, [12, 2]);
  } finally {
    f.close();
  }
  const t = JSON.parse(readFileSync(trace, 'utf8'));
  assert.equal(t.version, 1);
  assert.equal(t.stages.length, 8);
});

test('run --preset with expert parallelism and sm100', async () => {
  const r = await cli('run', '--preset', 'qwen3-30b-a3b', '--tokens', '4', '--ep', '8', '--rank', '1', '--arch', 'sm100', '--backend', 'cpu');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /EP8 rank 1 sm100 ue8m0/);
});

test('quantize reproduces the engine quantizer bit for bit', async () => {
  const layer = writeLayer('q-layer.safetensors');
  const out = join(dir, 'q.safetensors');
  const r = await cli('quantize', '--in', layer, '--tensor', 'hidden_states', '--act-scale', 'ue8m0', '--quant', 'deepgemm', '--out', out);
  assert.equal(r.code, 0, r.err);
  const src = SafetensorsFile.open(layer);
  const x = src.read('hidden_states') as Tensor<'bf16'>;
  src.close();
  const ref = quantizeActivations(x, { convention: 'deepgemm', scaleFormat: 'ue8m0' });
  const f = SafetensorsFile.open(out);
  assert.deepEqual(f.read('q', 'f8e4m3fn').storage, ref.q.contiguous().storage);
  assert.deepEqual(f.read('scale').storage, ref.scale.contiguous().storage);
  f.close();
});

test('layout writes the whole storage buffer with shape/stride/offset metadata (golden dg_layouts, SM90 and SM100)', async () => {
  const golden = SafetensorsFile.open(goldenFile('dg_layouts.safetensors'));
  const case0 = golden.names().find((n) => n.endsWith('_f32_in') && /5_256/.test(n)) ?? golden.names().find((n) => n.endsWith('_f32_in'))!;
  const prefix = case0.replace(/_f32_in$/, '');
  const input = join(dir, 'sf.safetensors');
  writeSafetensors(input, { sf: golden.read(case0).reshape(golden.read(case0).shape.slice(-2)), sfp2: golden.read(`${prefix}_ue8m0_in`).reshape(golden.read(`${prefix}_ue8m0_in`).shape.slice(-2)) });
  const meta = JSON.parse(golden.metadata[`${prefix}_f32_mnmajor`]!);

  const out90 = join(dir, 'sm90.safetensors');
  const r90 = await cli('layout', '--in', input, '--tensor', 'sf', '--arch', 'sm90', '--out', out90);
  assert.equal(r90.code, 0, r90.err);
  const f90 = SafetensorsFile.open(out90);
  assert.deepEqual(JSON.parse(f90.metadata.stride!), meta.stride.slice(-2));
  assert.equal(f90.entry('storage').shape[0], meta.storage_elems);
  assert.match(r90.out, /MN-major/);
  assert.match(r90.out, /storage slots/); // the text picture for small tensors
  f90.close();

  const out100 = join(dir, 'sm100.safetensors');
  const r100 = await cli('layout', '--in', input, '--tensor', 'sfp2', '--arch', 'sm100', '--out', out100);
  assert.equal(r100.code, 0, r100.err);
  const f100 = SafetensorsFile.open(out100);
  assert.deepEqual(Array.from(f100.read('storage').storage as Int32Array), Array.from(golden.read(`${prefix}_ue8m0_packed_storage`).storage as Int32Array));
  assert.match(r100.out, /byte 0: 0x/);
  f100.close();

  const bad = await cli('layout', '--in', input, '--tensor', 'sf', '--arch', 'sm100', '--out', join(dir, 'x.safetensors'));
  if (bad.code !== 0) assert.match(bad.err, /power/i); // non-power-of-two scales are refused by the SM100 packer
  golden.close();
});

test('check passes a good layer and fails K not a multiple of 128 with an actionable message', async () => {
  const ok = await cli('check', '--layer', writeLayer('ok.safetensors'));
  assert.equal(ok.code, 0, ok.out + ok.err);
  assert.match(ok.out, /PASS/);
  const bad = await cli('check', '--layer', writeLayer('bad.safetensors', { hidden: 192 }));
  assert.notEqual(bad.code, 0);
  assert.match(bad.out + bad.err, /128/);
});

test('export renders svg, tikz and png headless', async () => {
  const layer = writeLayer('x-layer.safetensors');
  for (const [view, format] of [['scales', 'svg'], ['permutation', 'tikz'], ['timing', 'png']] as const) {
    const out = join(dir, `${view}.${format}`);
    const r = await cli('export', '--layer', layer, '--backend', 'cpu', '--view', view, '--format', format, '--out', out);
    assert.equal(r.code, 0, r.err);
    const data = readFileSync(out);
    if (format === 'svg') assert.match(data.toString('utf8'), /^(<\?xml[^>]*>\s*)?<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    if (format === 'tikz') assert.match(data.toString('utf8'), /\\begin\{tikzpicture\}/);
    if (format === 'png') assert.equal(data.subarray(1, 4).toString('latin1'), 'PNG');
  }
});

test('bad input: one-line errors naming the flag, file or tensor; exit 2, never a stack trace', async () => {
  const cases: [string[], RegExp][] = [
    [['run', '--preset', 'nope', '--tokens', '4'], /unknown preset 'nope'; known: qwen3-30b-a3b/],
    [['run', '--preset', 'qwen3-30b-a3b'], /--tokens/],
    [['run', '--tokens', '4'], /exactly one of --layer/],
    [['run', '--preset', 'qwen3-30b-a3b', '--tokens', '4', '--arch', 'sm80'], /--arch: expected one of sm90 \| sm100, got 'sm80'/],
    [['run', '--preset', 'qwen3-30b-a3b', '--tokens', '0'], /--tokens: expected an integer ≥ 1, got '0'/],
    [['run', '--preset', 'qwen3-30b-a3b', '--tokens', '-3'], /--tokens/],
    [['run', '--layer', join(dir, 'missing.safetensors')], /missing\.safetensors/],
    [['quantize', '--in', writeLayer('qq.safetensors'), '--tensor', 'nothere', '--out', join(dir, 'z')], /no tensor 'nothere'/],
    [['quantize', '--in', writeLayer('qw.safetensors'), '--tensor', 'w13_weight', '--out', join(dir, 'z')], /w13_weight/],
    [['run', '--bogus'], /bogus/],
  ];
  for (const [argv, re] of cases) {
    const r = await cli(...argv);
    assert.equal(r.code, 2, `${argv.join(' ')} → ${r.code}: ${r.err}`);
    assert.match(r.err, re, argv.join(' '));
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }
  const trunc = join(dir, 'trunc.safetensors');
  writeFileSync(trunc, Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 123]));
  const r = await cli('check', '--layer', trunc);
  assert.equal(r.code, 2);
  assert.match(r.err, /trunc\.safetensors/);
  assert.ok(!existsSync(join(dir, 'z')));
  const u = await cli('frobnicate');
  assert.equal(u.code, 2);
  assert.match(u.err, /unknown command 'frobnicate'/);
});

test('the bundled CLI runs a layer with nothing but Node (jsdom/resvg load only for export)', async (t) => {
  const { existsSync: exists, copyFileSync } = await import('node:fs');
  const { spawnSync } = await import('node:child_process');
  const { REPO_ROOT } = await import('../golden');
  const dist = join(REPO_ROOT, 'dist');
  if (!exists(join(dist, 'cli.js'))) return t.skip('dist/cli.js not built (npm test builds it first)');
  const iso = mkdtempSync(join(tmpdir(), 'moe-cli-iso-'));
  for (const f of ['cli.js', 'gemmWorker.js']) copyFileSync(join(dist, f), join(iso, f));
  const r = spawnSync(process.execPath, [join(iso, 'cli.js'), 'run', '--preset', 'qwen3-30b-a3b', '--tokens', '2', '--backend', 'cpu'], { encoding: 'utf8', cwd: iso });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Grouped GEMM 2/);
});
