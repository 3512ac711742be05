/**
 * moe-inspect against careless and hostile input, end to end through `node dist/cli.js`: outputs that are inputs,
 * non-regular files, unwritable targets, concurrent writers, contradictory flags, absurd sizes and values.
 * Every refusal is one line on stderr, exit 2, and comes before any work (no stage table on stdout).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync,  } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSpec } from '../../kernels/presets';
import { syntheticInputs } from '../../kernels/synthetic';
import { SafetensorsFile, writeSafetensors } from '../../kernels/io/safetensors';
import { Tensor } from '../../kernels/tensor';
import type { LayerSpec } from '../../kernels/spec';
import { cliAsync, cliSync, type CliResult } from './cliProcess';

const dir = mkdtempSync(join(tmpdir(), 'moe-cli-hostile-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** a small layer file with vLLM names (M=12, K=256, N=256, E=4, top-2); `edit` may change its tensors first */
function writeLayer(name: string, edit?: (t: Record<string, Tensor>) => void): string {
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 12, hidden: 256, intermediate: 256, experts: 4, topk: 2, source: { kind: 'synthetic', seed: 3, skew: 0 } });
  const tensors: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(syntheticInputs(spec))) if (v) tensors[k] = v as Tensor;
  edit?.(tensors);
  const p = join(dir, name);
  writeSafetensors(p, tensors);
  return p;
}

/** the small layer's tensors for another seed */
function syntheticTensors(seed: number): Record<string, Tensor> {
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 12, hidden: 256, intermediate: 256, experts: 4, topk: 2, source: { kind: 'synthetic', seed, skew: 0 } });
  const tensors: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(syntheticInputs(spec))) if (v) tensors[k] = v as Tensor;
  return tensors;
}

const digest = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

/** exit 2, one line on stderr matching every pattern, no stack trace, no run (no stage table) */
function refused(r: CliResult, ...patterns: RegExp[]): void {
  assert.ok(!r.timedOut, 'the command hung');
  assert.equal(r.code, 2, `exit ${r.code}; stderr: ${r.err}`);
  const lines = r.err.split('\n').filter((l) => l.length > 0 && !l.startsWith('… '));
  assert.equal(lines.length, 1, `one line expected, got:\n${r.err}`);
  for (const re of patterns) assert.match(lines[0]!, re);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  assert.doesNotMatch(r.out, /Grouped GEMM/, 'refused before the run');
}

test('an output path that is an input (or another output) is refused naming both flags; the input is intact', () => {
  const layer = writeLayer('same.safetensors');
  const before = digest(layer);
  const y = join(dir, 'y.out');
  const cases: [string[], RegExp][] = [
    [['run', '--layer', layer, '--out', layer], /--out .*same\.safetensors is the same file as --layer .*same\.safetensors: writing it would destroy the input/],
    [['run', '--layer', layer, '--trace', layer], /--trace .* is the same file as --layer/],
    [['run', '--preset', 'qwen3-30b-a3b', '--tokens', '4', '--out', y, '--trace', y], /--trace .*y\.out is the same file as --out .*y\.out: one result would overwrite the other/],
    [['quantize', '--in', layer, '--tensor', 'hidden_states', '--out', layer], /--out .* is the same file as --in/],
    [['layout', '--in', layer, '--tensor', 'w13_weight_scale_inv', '--out', layer], /--out .* is the same file as --in/],
    [['export', '--layer', layer, '--view', 'scales', '--format', 'svg', '--out', layer], /--out .* is the same file as --layer/],
  ];
  // the same file under another name: a relative path, a symbolic link, a hard link
  const link = join(dir, 'link.safetensors');
  symlinkSync(layer, link);
  const hard = join(dir, 'hard.safetensors');
  linkSync(layer, hard);
  cases.push([['run', '--layer', layer, '--out', link], /--out .*link\.safetensors is the same file as --layer/]);
  cases.push([['run', '--layer', layer, '--out', hard], /--out .*hard\.safetensors is the same file as --layer/]);
  for (const [argv, re] of cases) refused(cliSync(argv), re);
  mkdirSync(join(dir, 'sub'));
  refused(cliSync(['quantize', '--in', 'same.safetensors', '--tensor', 'hidden_states', '--out', './sub/../same.safetensors'], { cwd: dir }), /the same file as --in/);
  assert.equal(digest(layer), before, 'the input is unchanged');
  assert.ok(!existsSync(y));
});

test('non-regular inputs are refused before opening: a FIFO does not hang, a directory does not stack-trace', () => {
  const fifo = join(dir, 'fifo.safetensors');
  execFileSync('mkfifo', [fifo]);
  const folder = join(dir, 'folder.safetensors');
  mkdirSync(folder);
  const cases: [string[], RegExp][] = [
    [['check', '--layer', fifo], /--layer .*fifo\.safetensors: is a FIFO \(named pipe\), not a regular file/],
    [['run', '--layer', fifo], /--layer .*: is a FIFO/],
    [['check', '--layer', folder], /--layer .*folder\.safetensors: is a directory, not a regular file/],
    [['quantize', '--in', folder, '--tensor', 'x', '--out', join(dir, 'q1.safetensors')], /--in .*: is a directory/],
    [['layout', '--in', '/dev/zero', '--tensor', 'x', '--out', join(dir, 'l1.safetensors')], /--in \/dev\/zero: is a character device/],
    [['export', '--layer', '/dev/null', '--out', join(dir, 'e1.svg')], /--layer \/dev\/null: is a character device/],
    [['check', '--layer', join(dir, 'nope.safetensors')], /--layer .*nope\.safetensors: no such file/],
  ];
  for (const [argv, re] of cases) refused(cliSync(argv, { timeoutMs: 30_000 }), re);
});

test('unwritable outputs are refused before the run: a directory, a missing folder, /dev/full, a folder that takes no files', () => {
  const layer = writeLayer('w.safetensors');
  const sub = join(dir, 'outdir');
  mkdirSync(sub);
  const preset = ['run', '--preset', 'qwen3-30b-a3b', '--tokens', '4', '--backend', 'cpu'];
  const cases: [string[], RegExp][] = [
    [[...preset, '--out', sub], /--out: .*outdir is a directory, not a regular file/],
    [[...preset, '--trace', sub], /--trace: .*outdir is a directory/],
    [[...preset, '--trace', join(dir, 'no', 'such', 'trace.json')], /--trace .*trace\.json: the folder .*no\/such does not exist/],
    [[...preset, '--out', '/dev/full'], /--out: \/dev\/full is a character device, not a regular file/],
    [[...preset, '--trace', '/dev/full'], /--trace: \/dev\/full is a character device/],
    [['quantize', '--in', layer, '--tensor', 'hidden_states', '--out', '/proc/self/q.safetensors'], /--out \/proc\/self\/q\.safetensors: cannot create files in \/proc\/\S+ \(E[A-Z]+\)/],
    [['export', '--layer', layer, '--out', join(dir, 'missing', 'x.svg')], /--out .*x\.svg: the folder .*missing does not exist/],
  ];
  for (const [argv, re] of cases) refused(cliSync(argv), re);
  assert.ok(statSync('/dev/full').isCharacterDevice(), '/dev/full is still the device');
  assert.deepEqual(readdirSync(sub), []);
});

test('four concurrent runs writing one --out path leave one whole file whose header matches its tensors', async () => {
  const out = join(dir, 'race.safetensors');
  // four different small layers: the header's spec names the layer file, whose tensors the output must hold
  const layers = [11, 12, 13, 14].map((seed) => writeLayer(`race-${seed}.safetensors`, (t) => Object.assign(t, syntheticTensors(seed))));
  const runs = await Promise.all(layers.map((l) => cliAsync(['run', '--layer', l, '--backend', 'cpu', '--out', out])));
  for (const r of runs) assert.equal(r.code, 0, r.err);
  const f = SafetensorsFile.open(out);
  try {
    const spec = JSON.parse(f.metadata.spec!) as LayerSpec;
    assert.equal(spec.source.kind, 'file');
    const src = spec.source.kind === 'file' ? spec.source.path : '';
    assert.ok(layers.includes(src), src);
    const layer = SafetensorsFile.open(src);
    for (const n of ['hidden_states', 'topk_ids', 'w13_weight']) assert.deepEqual(f.read(n).storage, layer.read(n, n === 'w13_weight' ? 'f8e4m3fn' : undefined).storage, n);
    layer.close();
  } finally {
    f.close();
  }
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.race.safetensors')), [], 'no temporary files left');
});

test('contradictory or ignored flags: --rank without or past --ep; --ep/--rank/--tokens/--seed/--skew with --layer', () => {
  const layer = writeLayer('flags.safetensors');
  const p = ['run', '--preset', 'qwen3-30b-a3b', '--tokens', '4'];
  refused(cliSync([...p, '--rank', '1']), /--rank 1 needs --ep N/);
  refused(cliSync([...p, '--ep', '8', '--rank', '8']), /--rank 8 must be below --ep 8 \(ranks are 0 … 7\)/);
  refused(cliSync([...p, '--ep', '1', '--rank', '1']), /--rank 1 must be below --ep 1/);
  for (const f of [['--tokens', '4'], ['--seed', '3'], ['--skew', '1.2'], ['--ep', '2']])
    refused(cliSync(['run', '--layer', layer, ...f]), new RegExp(`${f[0]} applies to --preset only: a --layer file brings its own tokens`));
  refused(cliSync(['export', '--layer', layer, '--tokens', '4', '--seed', '1', '--out', join(dir, 'f.svg')]), /--tokens, --seed apply to --preset only/);
});

test('a duplicate expert inside one token\'s top-k is a warning naming the token', () => {
  const layer = writeLayer('dup.safetensors', (t) => {
    const ids = t.topk_ids!.storage as Int32Array;
    ids[5 * 2 + 1] = ids[5 * 2]!; // token 5 picks its first expert twice
    ids[9 * 2 + 1] = ids[9 * 2]!;
  });
  const r = cliSync(['check', '--layer', layer]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /WARN {2}token 5 picks expert \d more than once \(topk_ids\[5\] = \[(\d), \1\]\), and 1 more token repeat an expert/);
});

test('a finite but absurd value (3e38) is refused naming the tensor and element, before the run', () => {
  const layer = writeLayer('huge.safetensors', (t) => {
    const x = t.hidden_states!.toFloat32();
    x[3 * 256 + 17] = 3e38;
    t.hidden_states = new Tensor('f32', [12, 256], x);
  });
  for (const cmd of ['check', 'run']) refused(cliSync([cmd, '--layer', layer]), /hidden_states\[3, 17\] = 3\.00e\+38 is too large: .*Grouped GEMM 1 \(K = 256\) can reach .* past BF16's largest finite value 3\.39e\+38/);
  const scale = writeLayer('hugescale.safetensors', (t) => {
    (t.w2_weight_scale_inv!.storage as Float32Array)[5] = 1e35;
  });
  refused(cliSync(['run', '--layer', scale]), /w2_weight_scale_inv\[\d, \d, \d\] = 1\.00e\+35 is too large: Grouped GEMM 2/);
});

test('--tokens 1e6 … 1e12 is refused at once from the estimate, with the numbers and what to change', () => {
  for (const tokens of ['1000000', '10000000', '1000000000', '1000000000000'])
    refused(
      cliSync(['run', '--preset', 'qwen3-30b-a3b', '--tokens', tokens], { timeoutMs: 30_000 }),
      new RegExp(`Qwen3-30B-A3B with ${tokens} tokens`),
      /(GiB|TiB) at its peak|elements, more than one typed array/,
      /use fewer tokens \(up to ~\d+ fit here\) or expert parallelism \(--ep 8/,
    );
  refused(cliSync(['export', '--preset', 'deepseek-v3', '--tokens', '1000000000', '--ep', '8', '--out', join(dir, 'big.svg')]), /DeepSeek-V3 with 1000000000 tokens --ep 8/, /use fewer tokens/);
});

test('system errors are one line naming the flag; internal errors are one line unless MOE_DEBUG=1', async () => {
  const { describeFailure } = await import('../../extension/cli/failure');
  const enospc = Object.assign(new Error("ENOSPC: no space left on device, write '/data/out.safetensors'"), { code: 'ENOSPC', syscall: 'write', path: '/data/out.safetensors' });
  const f = describeFailure(enospc, 'run', ['--preset', 'x', '--out', '/data/out.safetensors']);
  assert.equal(f.exitCode, 2);
  assert.equal(f.line, 'moe-inspect run: error [E_IO] --out /data/out.safetensors: no space left on the device (ENOSPC, write)');
  const eisdir = Object.assign(new Error('EISDIR: illegal operation on a directory, read'), { code: 'EISDIR', syscall: 'read', path: 'x' });
  assert.match(describeFailure(eisdir, 'check', ['--layer=x']).line, /--layer x: is a directory \(EISDIR, read\)/);
  const oom = new RangeError('Array buffer allocation failed');
  assert.match(describeFailure(oom, 'run', []).line, /error \[E_RANGE\] .*Array buffer allocation failed.*fewer tokens/);
  assert.equal(describeFailure(oom, 'run', []).exitCode, 2);
  const bug = new TypeError("Cannot read properties of undefined (reading 'x')\nsecond line");
  const quiet = describeFailure(bug, 'run', [], {});
  assert.equal(quiet.exitCode, 70);
  assert.equal(quiet.line, "moe-inspect run: internal error (a bug, please report it): TypeError: Cannot read properties of undefined (reading 'x') — run with MOE_DEBUG=1 for the stack");
  assert.equal(quiet.debug, undefined);
  const loud = describeFailure(bug, 'run', [], { MOE_DEBUG: '1' });
  assert.match(loud.debug!, /TypeError/);
  assert.match(loud.debug!, /\n\s+at /);
});

test('the size guard: a large run that fits prints its estimate; past the machine it is refused with the numbers', async () => {
  const { guardRunSize } = await import('../../extension/cli/sizeGuard');
  const { MoeError } = await import('../../kernels/errors');
  let printed = '';
  const out = { write: (s: string) => ((printed += s), true) } as unknown as NodeJS.WritableStream;
  const big = makeSpec('qwen3-30b-a3b', { tokens: 16384 });
  guardRunSize(big, out, 'run', { totalBytes: 64 * 2 ** 30, cores: 2 });
  assert.match(printed, /^estimate: ~\d+\.\d GiB at its peak \(largest: mm2_out .*\), roughly \d+ min on the CPU backend \(2 cores\)\n$/);
  printed = '';
  guardRunSize(makeSpec('qwen3-30b-a3b', { tokens: 16 }), out, 'run', { totalBytes: 64 * 2 ** 30, cores: 2 });
  assert.equal(printed, '', 'a small run prints nothing');
  assert.throws(
    () => guardRunSize(big, out, 'run', { totalBytes: 3 * 2 ** 30, cores: 2 }),
    (e: unknown) => e instanceof MoeError && /Qwen3-30B-A3B with 16384 tokens needs ~\d+\.\d GiB at its peak .* more than the 2\.0 GiB this machine allows \(3\.0 GiB \/ 1\.5\); use fewer tokens \(up to ~\d+ fit here\)/.test(e.message),
  );
});
