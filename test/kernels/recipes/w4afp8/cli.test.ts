/**
 * The W4AFP8 recipe through the bundled CLI (`node dist/cli.js`, built by `npm run build`): DeepSeek-R1 W4AFP8 at EP8
 * and TP8, a layer file, the transform, and the errors a user will hit — each a one-line message and exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { SafetensorsFile, writeSafetensors } from '../../../../kernels/io/safetensors';
import { Tensor } from '../../../../kernels/tensor';
import { REPO_ROOT } from '../../../golden';
import type { Trace } from '../../../../kernels/trace';
import { w4Raw, w4Spec } from './fixtures';

const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'moe-w4-cli-'));

function cli(...argv: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...argv], { encoding: 'utf8', cwd: dir });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** stderr without the progress lines: the error, one line */
const errorLine = (err: string): string[] => err.split('\n').filter((l) => l && !l.startsWith('…'));

const built = existsSync(CLI);
const skip = built ? false : 'dist/cli.js not built (npm run build)';

test('run DeepSeek-R1 W4AFP8 EP8 rank 3: the §9 EP8 shapes, the plan tensor, I8 weights in --out', { skip }, () => {
  const trace = join(dir, 'ep8.json');
  const out = join(dir, 'ep8.safetensors');
  const r = cli('run', '--preset', 'deepseek-r1', '--tokens', '2', '--recipe', 'w4afp8', '--ep', '8', '--rank', '3', '--backend', 'cpu', '--trace', trace, '--out', out);
  assert.equal(r.code, 0, r.err);
  for (const title of ['Load: scales → BF16, interleaved', 'Pre-reorder', 'Grouped GEMM 1: int4 × FP8', 'SiLU-and-mul', 'Static FP8 \\(act / a2_scale\\)', 'Post-reorder']) assert.match(r.out, new RegExp(title));
  assert.match(r.out, /EP8 rank 3/);
  assert.match(r.out, /\(32, 4096, 56\) → \(32, 14, 16384\); w2 16 K-groups → α = 4: \(32, 7168, 16\) → \(32, 4, 28672\)/);
  const t = JSON.parse(readFileSync(trace, 'utf8')) as Trace;
  assert.equal(t.recipe.id, 'w4afp8');
  assert.deepEqual(t.tensors.w4afp8_parallel_plan!.shape, [16, 9]);
  assert.deepEqual(t.tensors.w13_weight!.shape, [32, 4096, 3584]);
  assert.deepEqual(t.tensors.w13_weight_scale_interleaved!.shape, [32, 14, 16384]);
  const f = SafetensorsFile.open(out);
  assert.equal(f.entry('w13_weight').dtype, 'I8');
  assert.equal(f.entry('w13_weight_scale_interleaved').dtype, 'BF16');
  f.close();
});

test('run DeepSeek-R1 W4AFP8 TP8: I_p = 256, w2 scales with α = 1', { skip }, () => {
  const trace = join(dir, 'tp8.json');
  const r = cli('run', '--preset', 'deepseek-r1', '--tokens', '1', '--recipe', 'w4afp8', '--tp', '8', '--backend', 'cpu', '--trace', trace);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /w13 56 K-groups → α = 4: \(256, 512, 56\) → \(256, 14, 2048\); w2 2 K-groups, not a multiple of 4 → α = 1 \(a plain transpose\): \(256, 7168, 2\) → \(256, 2, 7168\)/);
  const t = JSON.parse(readFileSync(trace, 'utf8')) as Trace;
  assert.deepEqual(t.tensors.w2_weight!.shape, [256, 7168, 128]);
  assert.equal(t.spec.recipe.options?.tp, 8);
});

test('a W4AFP8 layer file is detected, runs, and transforms; the transform output is refused by run with the reason', { skip }, () => {
  const layer = join(dir, 'w4.safetensors');
  writeSafetensors(layer, w4Raw(w4Spec({ hidden: 1024 })));
  const before = readFileSync(layer);
  const run = cli('run', '--layer', layer, '--backend', 'cpu');
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /M=6 K=1024 N=256 E=4 top-2/);
  const tp = cli('run', '--layer', layer, '--backend', 'cpu', '--tp', '2');
  assert.equal(tp.code, 0, tp.err);
  assert.match(tp.out, /N=512/, 'I = I_p · tp');
  const out = join(dir, 'w4.kernel.safetensors');
  const tr = cli('transform', '--recipe', 'w4afp8', '--layer', layer, '--out', out);
  assert.equal(tr.code, 0, tr.err);
  assert.match(tr.out, /w13_weight_scale_inv: \[4, 512, 8\] float32 → \[4, 2, 2048\] bf16 \(α = 4/);
  assert.match(tr.out, /w2_weight_scale_inv: \[4, 1024, 2\] float32 → \[4, 2, 1024\] bf16 \(α = 1/);
  assert.match(tr.out, /w13_input_scale: \[4, 2\] → \[1\] float32/);
  assert.deepEqual(readFileSync(layer), before, 'the input file is untouched');
  const f = SafetensorsFile.open(out);
  assert.deepEqual([f.entry('w13_weight_scale_inv').dtype, ...f.entry('w13_weight_scale_inv').shape], ['BF16', 4, 2, 2048]);
  assert.equal(f.entry('w13_weight').dtype, 'I8');
  assert.equal(f.metadata.recipe, 'w4afp8');
  assert.equal(f.metadata.w13_scale_alpha, '4');
  f.close();
  const again = cli('run', '--layer', out, '--backend', 'cpu');
  assert.equal(again.code, 2);
  const lines = errorLine(again.err);
  assert.equal(lines.length, 1, again.err);
  assert.match(lines[0]!, /error \[E_LAYOUT\] w13_weight_scale_inv: \[4, 2, 2048\] bf16 is the interleaved kernel layout/);
});

test('user errors: FP8 weights under W4AFP8 names, TP with EP, --tp on another recipe — one line, exit 2', { skip }, () => {
  const raw = w4Raw();
  const fp8 = join(dir, 'fp8-as-w4.safetensors');
  writeSafetensors(fp8, { ...raw, w13_weight: new Tensor('f8e4m3fn', [4, 512, 128], raw.w13_weight!.storage as Uint8Array) });
  const cases: [string[], RegExp][] = [
    [['run', '--layer', fp8, '--backend', 'cpu'], /\[E_DTYPE\] w13_weight: stored as FP8 E4M3/],
    [['run', '--preset', 'deepseek-r1', '--tokens', '1', '--recipe', 'w4afp8', '--tp', '8', '--ep', '8', '--backend', 'cpu'], /either tensor parallel .* or expert parallel/],
    [['run', '--preset', 'qwen3-30b-a3b', '--tokens', '1', '--tp', '2', '--backend', 'cpu'], /--tp is an option of the w4afp8 recipe/],
    [['run', '--preset', 'qwen3-30b-a3b', '--tokens', '1', '--recipe', 'w4afp8', '--tp', '8', '--backend', 'cpu'], /I_p = 96 \(I = 768 \/ TP8\) is not a multiple of 128/],
  ];
  for (const [argv, re] of cases) {
    const r = cli(...argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    const lines = errorLine(r.err);
    assert.equal(lines.length, 1, r.err);
    assert.match(lines[0]!, re);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }
});
