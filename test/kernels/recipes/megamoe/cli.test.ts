/** moe-inspect with the MegaMoE recipes: run, check, transform, through main() and through the bundled dist/cli.js. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { SafetensorsFile, writeSafetensors } from '../../../../kernels/io/safetensors';
import { shutdownGemmWorkers } from '../../../../kernels/ops/gemm';
import { interleaveMap } from '../../../../kernels/recipes/megamoe/interleave';
import { REPO_ROOT } from '../../../golden';
import { naturalLayer } from './helpers';
import { cli } from '../../../extension/cliInProcess';

after(() => shutdownGemmWorkers());
const dir = mkdtempSync(join(tmpdir(), 'moe-megamoe-cli-'));


function layerFile(name: string, over: Parameters<typeof naturalLayer>[0] = {}): string {
  const p = join(dir, name);
  writeSafetensors(p, naturalLayer(over));
  return p;
}

test('run --preset deepseek-v4-flash --recipe megamoe-sm90 with EP: the fused schedule as stages, exit 0', async () => {
  const trace = join(dir, 'mega-trace.json');
  const r = await cli('run', '--preset', 'deepseek-v4-flash', '--recipe', 'megamoe-sm90', '--tokens', '4', '--ep', '64', '--rank', '5', '--backend', 'cpu', '--trace', trace);
  assert.equal(r.code, 0, r.out + r.err);
  for (const title of ['Stage into the symmetric buffer', 'Dispatch into the L1 pool', 'Interleave w13', 'L1 GEMM over the interleaved w13', 'Clamped SwiGLU', 'Quantize L2 activations \\(1×64 groups\\)', 'L2 GEMM', 'Combine'])
    assert.match(r.out, new RegExp(title));
  assert.match(r.out, /EP64 rank 5 sm90/);
  assert.match(r.out, /INFO L2 activations are quantized per 64 columns/);
});

test('run: T_max not a multiple of 128 fails (exit 1, the value to use); tokens over T_max refuse (exit 2, one line)', async () => {
  const odd = await cli('run', '--preset', 'deepseek-v4-flash', '--recipe', 'megamoe-sm90', '--tokens', '2', '--ep', '64', '--max-tokens', '100', '--backend', 'cpu');
  assert.equal(odd.code, 1, odd.err);
  assert.match(odd.out, /FAIL T_max = 100 is not a multiple of 128.*--max-tokens 128/);
  const over = await cli('run', '--preset', 'deepseek-v4-flash', '--recipe', 'megamoe-sm90', '--tokens', '200', '--ep', '64', '--max-tokens', '128', '--backend', 'cpu');
  assert.equal(over.code, 2);
  assert.match(over.err, /200 tokens exceed T_max = 128.*--max-tokens to 256/);
  assert.doesNotMatch(over.err, /\n\s+at /);
  const noEp = await cli('run', '--preset', 'deepseek-v4-flash', '--recipe', 'megamoe-sm90', '--tokens', '2', '--backend', 'cpu', '--arch', 'sm100', '--ep', '64');
  assert.equal(noEp.code, 1);
  assert.match(noEp.out, /FAIL the Hopper FP8 MegaMoE kernel runs on compute capability 9\.x only/);
  const wrong = await cli('run', '--preset', 'deepseek-v4-flash', '--tokens', '2', '--max-tokens', '128');
  assert.equal(wrong.code, 2);
  assert.match(wrong.err, /--max-tokens is an option of the megamoe-sm90 recipe, but this run uses contiguous/);
  const sm100 = await cli('run', '--preset', 'deepseek-v4-flash', '--recipe', 'megamoe-sm100', '--tokens', '2', '--ep', '64');
  assert.equal(sm100.code, 2);
  assert.match(sm100.err, /megamoe-sm100 lays weights out only/);
});

test('run and check --layer FILE --recipe megamoe-sm90: EP from the file\'s expert_map', async () => {
  const layer = layerFile('mega-layer.safetensors');
  const out = join(dir, 'mega-out.safetensors');
  const r = await cli('run', '--layer', layer, '--recipe', 'megamoe-sm90', '--backend', 'cpu', '--out', out);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /EP2 rank 1/);
  const f = SafetensorsFile.open(out);
  try {
    assert.equal(f.entry('sym_topk_idx').dtype, 'I64');
    assert.deepEqual(f.entry('l2_acts_sf').shape, [f.entry('pool_src').shape[0], 2]);
    assert.deepEqual(f.entry('combine_buffer').shape, [2, 128, 256]);
    assert.deepEqual(f.entry('output').shape, [12, 256]);
  } finally {
    f.close();
  }
  const c = await cli('check', '--layer', layer, '--recipe', 'megamoe-sm90');
  assert.equal(c.code, 0, c.out);
  assert.match(c.out, /MegaMoE \(Hopper FP8, DeepSeek-V4\) on sm90/);
});

test('transform --recipe megamoe-sm90 / megamoe-sm100 write the re-laid-out weights under the input names', async () => {
  const layer = layerFile('mega-t.safetensors', { intermediate: 64, experts: 2, expertParallel: undefined, recipe: { id: 'contiguous', actGroup: 128, weightBlock: 128, scaleFormat: 'ue8m0', quant: 'vllm' } });
  const out90 = join(dir, 'mega-t90.safetensors');
  const r = await cli('transform', '--recipe', 'megamoe-sm90', '--layer', layer, '--out', out90);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /gate\/up rows interleaved in groups of 8/);
  assert.match(r.out, /4 tensors →/);
  const src = SafetensorsFile.open(layer);
  const dst = SafetensorsFile.open(out90);
  try {
    assert.equal(dst.metadata?.recipe, 'megamoe-sm90');
    const a = src.read('w13_weight');
    const b = dst.read('w13_weight');
    const map = interleaveMap(64);
    for (let row = 0; row < 128; row++) assert.equal(b.raw(1, row, 5), a.raw(1, map[row]!, 5));
    assert.deepEqual(dst.read('w2_weight_scale_inv').toFloat32(), src.read('w2_weight_scale_inv').toFloat32());
  } finally {
    src.close();
    dst.close();
  }
  const out100 = join(dir, 'mega-t100.safetensors');
  const r2 = await cli('transform', '--recipe', 'megamoe-sm100', '--layer', layer, '--out', out100);
  assert.equal(r2.code, 0, r2.err);
  assert.match(r2.out, /UTCCP/);
  const f = SafetensorsFile.open(out100);
  try {
    assert.equal(f.entry('w13_weight_scale_inv').dtype, 'I32');
    assert.deepEqual(f.entry('w13_weight_scale_inv').shape, [2, 128, 1]);
  } finally {
    f.close();
  }
  const bad = await cli('transform', '--recipe', 'megamoe-sm90', '--layer', layer, '--out', join(dir, 'x.safetensors'), '--arch', 'sm100');
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--arch sm100 is 10\.0: use --recipe megamoe-sm100/);
  assert.ok(!existsSync(join(dir, 'x.safetensors')));
});

test('the bundled CLI runs and transforms with the MegaMoE recipe', async (t) => {
  const dist = join(REPO_ROOT, 'dist');
  if (!existsSync(join(dist, 'cli.js'))) return t.skip('dist/cli.js not built (npm run build)');
  const iso = mkdtempSync(join(tmpdir(), 'moe-megamoe-iso-'));
  for (const f of ['cli.js', 'gemmWorker.js']) copyFileSync(join(dist, f), join(iso, f));
  const run = spawnSync(process.execPath, [join(iso, 'cli.js'), 'run', '--preset', 'deepseek-v4-flash', '--recipe', 'megamoe-sm90', '--tokens', '2', '--ep', '64', '--backend', 'cpu'], { encoding: 'utf8', cwd: iso });
  assert.equal(run.status, 0, run.stderr + run.stdout);
  assert.match(run.stdout, /L1 GEMM over the interleaved w13/);
  const layer = layerFile('mega-bundled.safetensors', { intermediate: 16, experts: 2, expertParallel: undefined });
  const tr = spawnSync(process.execPath, [join(iso, 'cli.js'), 'transform', '--recipe', 'megamoe-sm90', '--layer', layer, '--out', join(iso, 'o.safetensors')], { encoding: 'utf8', cwd: iso });
  assert.equal(tr.status, 0, tr.stderr);
  assert.match(tr.stdout, /would refuse this layer: IH = 16 is not a multiple of 128/);
  const usage = spawnSync(process.execPath, [join(iso, 'cli.js'), '--help'], { encoding: 'utf8', cwd: iso });
  assert.match(usage.stderr + usage.stdout, /megamoe-sm90\|megamoe-sm100/);
});
