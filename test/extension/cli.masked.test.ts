/**
 * The masked (DeepEP low-latency) recipe end to end through moe-inspect: a masked layer file is detected from its
 * tensors, run and checked; presets run masked with --dispatch masked --max-m N; every bad input is one line naming
 * the tensor.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './cliInProcess';
import { SafetensorsFile, writeSafetensors } from '../../kernels/io/safetensors';
import { shutdownGemmWorkers } from '../../kernels/ops/gemm';
import { Tensor } from '../../kernels/tensor';
import { goldenFile } from '../golden';

const dir = mkdtempSync(join(tmpdir(), 'moe-cli-masked-'));
after(() => {
  shutdownGemmWorkers();
  rmSync(dir, { recursive: true, force: true });
});


/** the golden masked layer under vLLM/DeepEP names, with tensors replaced or dropped as a test wants */
function maskedLayer(name: string, over: Record<string, Tensor | undefined> = {}): string {
  const f = SafetensorsFile.open(goldenFile('masked_small_f32.safetensors'));
  const t: Record<string, Tensor | undefined> = {
    hidden_states: f.read('x_bf16'),
    masked_m: f.read('masked_m_i32'),
    w13_weight: f.read('w13_fp8_u8', 'f8e4m3fn'),
    w13_weight_scale_inv: f.read('w13_scale_inv_f32'),
    w2_weight: f.read('w2_fp8_u8', 'f8e4m3fn'),
    w2_weight_scale_inv: f.read('w2_scale_inv_f32'),
    ...over,
  };
  f.close();
  const p = join(dir, name);
  writeSafetensors(p, Object.fromEntries(Object.entries(t).filter(([, v]) => v)) as Record<string, Tensor>);
  return p;
}

const i32 = (v: number[]): Tensor => new Tensor('i32', [v.length], Int32Array.from(v), undefined, 0, 'masked_m');

test('run --layer on a masked layer file: detected, computed, written in logical row-major order', async () => {
  const layer = maskedLayer('masked.safetensors');
  const out = join(dir, 'masked-out.safetensors');
  const r = await cli('run', '--layer', layer, '--backend', 'cpu', '--out', out);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /Masked grouped GEMM 1/);
  const f = SafetensorsFile.open(out);
  try {
    assert.deepEqual(f.entry('output').shape, [4, 64, 256]);
    assert.equal(f.entry('output').dtype, 'BF16');
    assert.deepEqual(f.entry('a1q').shape, [4, 64, 256]);
    assert.equal(f.entry('a1q').dtype, 'F8_E4M3');
    assert.deepEqual(f.entry('a1q_scale').shape, [4, 64, 2]);
    assert.equal(f.entry('a1q_scale').dtype, 'F32');
    // rows past masked_m are zero in the output
    const counts = (f.read('masked_m').storage as Int32Array);
    const y = f.read('output');
    for (let e = 0; e < 4; e++) if (counts[e]! < 64) for (let c = 0; c < 256; c++) assert.equal(y.get(e, 63, c), 0);
  } finally {
    f.close();
  }
  // --dispatch contiguous on a masked file is refused with what is missing
  const forced = await cli('run', '--layer', layer, '--dispatch', 'contiguous', '--backend', 'cpu');
  assert.equal(forced.code, 2);
  assert.match(forced.err, /missing topk_ids, topk_weights for the contiguous recipe/);
});

test('check --layer covers the masked guards; an unaligned max_m fails with DeepGEMM’s overwrite named', async () => {
  const ok = await cli('check', '--layer', maskedLayer('ok.safetensors'));
  assert.equal(ok.code, 0, ok.out + ok.err);
  assert.match(ok.out, /PASS\s+max_m = 64 is a multiple of the 64-row block/);
  // max_m = 96: pad the golden buffers to 96 rows
  const f = SafetensorsFile.open(goldenFile('masked_small_f32.safetensors'));
  const x = f.read('x_bf16').contiguous();
  f.close();
  const wide = new Uint16Array(4 * 96 * 256);
  for (let e = 0; e < 4; e++) wide.set((x.storage as Uint16Array).subarray(e * 64 * 256, (e + 1) * 64 * 256), e * 96 * 256);
  const bad = await cli('check', '--layer', maskedLayer('mm96.safetensors', { hidden_states: new Tensor('bf16', [4, 96, 256], wide, undefined, 0, 'hidden_states') }));
  assert.equal(bad.code, 1);
  assert.match(bad.out, /FAIL\s+max_m = 96 is not a multiple of the SM90 \(Hopper\) masked kernel's 64-row block: .*next expert's output.* max_m = 128/);
});

test('masked bad inputs: one line each, naming the tensor', async () => {
  const cases: [string, Record<string, Tensor | undefined>, RegExp][] = [
    ['too-many.safetensors', { masked_m: i32([3, 65, 0, 64]) }, /masked_m\[1\] = 65 exceeds max_m = 64/],
    ['negative.safetensors', { masked_m: i32([3, -1, 0, 64]) }, /masked_m\[1\] = -1: a count of valid rows must be ≥ 0/],
    ['e-mismatch.safetensors', { masked_m: i32([3, 1, 0]) }, /masked_m: expected shape \[4\] .* got \[3\]/],
    ['2d.safetensors', { hidden_states: new Tensor('bf16', [256, 256], new Uint16Array(256 * 256), undefined, 0, 'hidden_states') }, /hidden_states: a masked layer needs shape \[E_local, max_m, K\].*got \[256, 256\]; a 2-D \[M, K\] hidden_states with masked_m/],
  ];
  for (const [name, over, re] of cases) {
    const r = await cli('run', '--layer', maskedLayer(name, over), '--backend', 'cpu');
    assert.equal(r.code, 2, `${name}: ${r.out}`);
    assert.match(r.err, re, name);
    assert.equal(r.err.trim().split('\n').length, 1, `${name}: one line`);
  }
  // weights with another expert count than the buffers
  const f = SafetensorsFile.open(goldenFile('masked_small_f32.safetensors'));
  const w13 = f.read('w13_fp8_u8', 'f8e4m3fn').slice(0, 0, 3).contiguous();
  f.close();
  const r = await cli('run', '--layer', maskedLayer('w-mismatch.safetensors', { w13_weight: w13 }), '--backend', 'cpu');
  assert.equal(r.code, 2);
  assert.match(r.err, /w13_weight: expected shape \[4, 2N, 256\] \(E_local and K from hidden_states \[4, 64, 256\]\), got \[3, 512, 256\]/);
});

test('presets run masked: --dispatch masked --max-m N; --max-m without it is refused; too-small max_m says so', async () => {
  const r = await cli('run', '--preset', 'qwen3-30b-a3b', '--tokens', '16', '--dispatch', 'masked', '--max-m', '64', '--backend', 'cpu');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /Masked grouped GEMM 2/);
  const noDispatch = await cli('run', '--preset', 'qwen3-30b-a3b', '--tokens', '16', '--max-m', '64', '--backend', 'cpu');
  assert.equal(noDispatch.code, 2);
  assert.match(noDispatch.err, /--max-m is an option of the masked recipe, but this run uses contiguous \(add --dispatch masked\)/);
  const small = await cli('run', '--preset', 'qwen3-30b-a3b', '--tokens', '256', '--skew', '3', '--dispatch', 'masked', '--max-m', '64', '--backend', 'cpu');
  assert.equal(small.code, 2);
  assert.match(small.err, /an expert receives \d+ rows but max_m is 64; raise --max-m/);
});

test('transform refuses --out equal to --layer (the input is kept)', async () => {
  const layer = maskedLayer('same.safetensors');
  const r = await cli('transform', '--recipe', 'megamoe-sm90', '--layer', layer, '--out', layer);
  assert.equal(r.code, 2);
  assert.match(r.err, /--out .* is the same file as --layer/);
});
