/** moe-inspect grad / run / check on a torchao training layer file, through main() and through the bundled dist/cli.js. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { SafetensorsFile, writeSafetensors } from '../../../../kernels/io/safetensors';
import { shutdownGemmWorkers } from '../../../../kernels/ops/gemm';
import { Tensor } from '../../../../kernels/tensor';
import { runLayer } from '../../../../kernels/pipeline';
import { recipeById } from '../../../../kernels/recipes/index';
import { workedExampleInputs } from '../../../../kernels/recipes/torchao-fp8-training/synthetic';
import { GRAD_FILE_TENSORS } from '../../../../kernels/recipes/torchao-fp8-training/tensors';
import { REPO_ROOT } from '../../../golden';
import { cli } from '../../../extension/cliInProcess';

after(() => shutdownGemmWorkers());

const dir = mkdtempSync(join(tmpdir(), 'moe-grad-'));



function writeLayer(name: string, over: Record<string, Tensor> = {}): string {
  const p = join(dir, name);
  writeSafetensors(p, { ...(workedExampleInputs() as unknown as Record<string, Tensor>), ...over });
  return p;
}

test('grad on the §8 worked example: G holds the three results, grouped_layout and the K-grouped operands; same bits as `run`', async () => {
  const L = writeLayer('L.safetensors');
  const G = join(dir, 'G.safetensors');
  const r = await cli('grad', '--layer', L, '--out', G, '--threads', '2');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /groups \[100, 30\] padded to \[128, 128\], buffer 512 rows/);
  assert.match(r.out, /wrote 8 tensors/);
  const f = SafetensorsFile.open(G);
  try {
    assert.deepEqual(f.names().sort(), [...GRAD_FILE_TENSORS].sort());
    const want: Record<string, [string, number[]]> = {
      output: ['BF16', [130, 256]],
      grad_input: ['BF16', [130, 256]],
      grad_weight: ['BF16', [2, 256, 256]],
      grouped_layout: ['I32', [512]],
      wgrad_lhs: ['F8_E4M3', [65536]],
      wgrad_lhs_scale: ['F32', [256, 2]],
      wgrad_rhs: ['F8_E4M3', [65536]],
      wgrad_rhs_scale: ['F32', [256, 2]],
    };
    for (const [n, [dtype, shape]] of Object.entries(want)) {
      assert.equal(f.entry(n).dtype, dtype, n);
      assert.deepEqual(f.entry(n).shape, shape, n);
    }
    const gl = f.read('grouped_layout').storage as Int32Array;
    const expected = new Int32Array(512).fill(-1);
    expected.fill(0, 0, 100);
    expected.fill(1, 128, 158);
    assert.deepEqual(gl, expected);
    const meta = f.metadata;
    assert.equal(meta?.padded_group_sizes, '[128,128]');
    // the pipeline on the same tensors gives the same bits
    const inputs = workedExampleInputs() as unknown as Record<string, Tensor>;
    const recipe = recipeById('torchao-fp8-training');
    const res = await runLayer(recipe.specFromInputs(inputs, {}), { backend: 'cpu', inputs });
    for (const n of ['output', 'grad_input', 'grad_weight', 'wgrad_lhs', 'wgrad_rhs_scale'])
      assert.deepEqual(Array.from(f.read(n).storage as ArrayLike<number>), Array.from(res.tensors.get(n)!.storage as ArrayLike<number>), n);
  } finally {
    f.close();
  }
  assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left behind');
});

test('grad refuses to write over its input (same path, or a hard link to it), leaving the layer untouched', async () => {
  const L = writeLayer('L2.safetensors');
  const before = readFileSync(L);
  const same = await cli('grad', '--layer', L, '--out', L);
  assert.equal(same.code, 2);
  assert.match(same.err, /--out .* is the input layer file; write the gradients to another file/);
  assert.equal(same.err.trim().split('\n').length, 1);
  const link = join(dir, 'L2-link.safetensors');
  linkSync(L, link);
  const viaLink = await cli('grad', '--layer', L, '--out', link);
  assert.equal(viaLink.code, 2);
  assert.deepEqual(readFileSync(L), before);
});

test('grad on bad layers: one line each, naming the tensor', async () => {
  const bad = writeLayer('bad-sizes.safetensors', { group_sizes: new Tensor('i32', [2], Int32Array.from([100, 31]), undefined, 0, 'group_sizes') });
  const out = join(dir, 'never.safetensors');
  const r = await cli('grad', '--layer', bad, '--out', out);
  assert.equal(r.code, 2);
  assert.match(r.err, /^moe-inspect grad: error \[E_VALUE\] group_sizes: the counts sum to 131 but input has M = 130 rows/);
  assert.equal(r.err.trim().split('\n').length, 1);
  assert.ok(!existsSync(out));
  const p = join(dir, 'missing.safetensors');
  writeSafetensors(p, { input: workedExampleInputs().input });
  const m = await cli('grad', '--layer', p, '--out', out);
  assert.equal(m.code, 2);
  assert.match(m.err, /missing grad_output, weight, group_sizes/);
  const k = writeLayer('bad-k.safetensors', { input: new Tensor('bf16', [130, 200], new Uint16Array(130 * 200), undefined, 0, 'input') });
  const kk = await cli('grad', '--layer', k, '--out', out);
  assert.match(kk.err, /input: K = 200 .* not a multiple of 128/);
  const u = await cli('grad', '--layer', bad);
  assert.match(u.err, /grad: --out is required/);
});

test('run and check detect a torchao layer file: the seven stages, the guards', async () => {
  const L = writeLayer('L3.safetensors');
  const r = await cli('run', '--layer', L, '--backend', 'cpu');
  assert.equal(r.code, 0, r.err);
  for (const title of ['Forward · pad token groups', 'Forward · M-grouped GEMM', 'Dgrad · M-grouped GEMM', 'Wgrad · quantize into flat K-grouped buffers', 'Wgrad · K-grouped GEMM']) assert.ok(r.out.includes(title), title);
  const c = await cli('check', '--layer', L);
  assert.equal(c.code, 0, c.out);
  assert.match(c.out, /torchao FP8 training \(DeepGEMM backend\) on sm90/);
  const b = await cli('check', '--layer', L, '--arch', 'sm100');
  assert.equal(b.code, 1);
  assert.match(b.out, /FAIL .*k_grouped_fp8_gemm_nt_contiguous/);
  const usage = await cli('help');
  assert.match(usage.out, /moe-inspect grad --layer L.safetensors --out G.safetensors/);
  assert.match(usage.out, /--recipe [a-z0-9|-]*torchao-fp8-training/);
});

test('the bundled CLI runs grad with nothing but Node', (t) => {
  const cliJs = join(REPO_ROOT, 'dist', 'cli.js');
  if (!existsSync(cliJs)) return t.skip('dist/cli.js not built (npm run build)');
  const L = writeLayer('L4.safetensors');
  const G = join(dir, 'G4.safetensors');
  const r = spawnSync(process.execPath, [cliJs, 'grad', '--layer', L, '--out', G], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /grad_weight +bf16 +\[2, 256, 256\]/);
  assert.ok(existsSync(G));
});
