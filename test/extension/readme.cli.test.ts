/**
 * Every command line of README.md's CLI section, run exactly as written (`moe-inspect` = `node dist/cli.js`) in a
 * scratch folder holding the files the commands name (my_layer.safetensors, x.safetensors: a small layer), in the
 * README's order (layout reads quantize's q.safetensors). A README edit is picked up here without touching the test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../golden';
import { makeSpec } from '../../kernels/presets';
import { syntheticInputs } from '../../kernels/synthetic';
import { SafetensorsFile, writeSafetensors } from '../../kernels/io/safetensors';
import type { Tensor } from '../../kernels/tensor';
import { cliSync } from './cliProcess';

/** the command lines of the first ```sh block under "## CLI", comments and blank lines dropped */
export function readmeCliCommands(readme: string): string[] {
  const section = readme.split(/^## /m).find((s) => s.startsWith('CLI'));
  assert.ok(section, 'README.md has a "## CLI" section');
  const block = /```sh\n([\s\S]*?)```/.exec(section);
  assert.ok(block, 'the CLI section has a ```sh block');
  return block[1]!
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l.startsWith('moe-inspect '));
}

/** what each command must leave behind (besides exit 0) */
const PRODUCES: Record<string, (cwd: string) => void> = {
  'trace.json': (cwd) => assert.equal(JSON.parse(readFileSync(join(cwd, 'trace.json'), 'utf8')).stages.length, 8),
  'stages.safetensors': (cwd) => {
    const f = SafetensorsFile.open(join(cwd, 'stages.safetensors'));
    assert.deepEqual(f.entry('output').shape, [128, 2048]);
    f.close();
  },
  'q.safetensors': (cwd) => {
    const f = SafetensorsFile.open(join(cwd, 'q.safetensors'));
    assert.ok(f.has('q') && f.has('scale'));
    f.close();
  },
  'packed.safetensors': (cwd) => {
    const f = SafetensorsFile.open(join(cwd, 'packed.safetensors'));
    assert.equal(f.entry('storage').dtype, 'I32');
    f.close();
  },
  'scales.tex': (cwd) => assert.match(readFileSync(join(cwd, 'scales.tex'), 'utf8'), /\\begin\{tikzpicture\}/),
};

/**
 * README commands that do not work yet, with why: reported as TODO (still run, so a fix shows up as a passing
 * TODO) rather than hidden. Each entry is an open item, not an expected behaviour.
 */
const KNOWN_GAPS: Record<string, string> = {};

/**
 * Each command is killed past this (a run that makes what it should not — a whole DeepSeek-V3 layer's 7.5 GB of
 * weights for a picture of its activation scales — fails here instead of holding the suite for many minutes).
 */
const COMMAND_LIMIT_MS = 10 * 60_000;

test('every command of the README CLI section runs as written', async (t) => {
  const commands = readmeCliCommands(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
  assert.ok(commands.length >= 7, `found ${commands.length} commands`);
  const cwd = mkdtempSync(join(tmpdir(), 'moe-readme-'));
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  // the files the README's commands read: a small layer with vLLM names (M=12, K=256, N=256, E=4, top-2)
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 12, hidden: 256, intermediate: 256, experts: 4, topk: 2, source: { kind: 'synthetic', seed: 7, skew: 0 } });
  const tensors: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(syntheticInputs(spec))) if (v) tensors[k] = v as Tensor;
  for (const name of ['my_layer.safetensors', 'x.safetensors']) writeSafetensors(join(cwd, name), tensors);

  // the known gaps are run too, as TODO, whether or not the README shows them
  for (const line of [...commands, ...Object.keys(KNOWN_GAPS).filter((l) => !commands.includes(l))]) {
    const gap = KNOWN_GAPS[line];
    await t.test(line, gap ? { todo: gap } : {}, async () => {
      const args = line.split(/\s+/).slice(1);
      const r = cliSync(args, { cwd, timeoutMs: COMMAND_LIMIT_MS });
      assert.ok(!r.timedOut, `killed after ${COMMAND_LIMIT_MS / 1000} s`);
      assert.equal(r.code, 0, `exit ${r.code}\n${r.err}`);
      assert.doesNotMatch(r.err, /\n\s+at /);
      for (const [file, check] of Object.entries(PRODUCES)) if (args.includes(file)) check(cwd);
    });
  }
});
