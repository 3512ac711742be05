/** The addon build script's install-time behaviour (scripts/build-native.mjs); the CUDA build itself is not run here. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../golden';

const SCRIPT = join(REPO_ROOT, 'scripts', 'build-native.mjs');

function runBuild(args: string[]): { status: number | null; out: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'moe-native-'));
  // an nvcc that does not exist stands for a machine without the CUDA toolkit
  const env = { ...process.env, MOE_NVCC: join(dir, 'no-such-nvcc') };
  const r = spawnSync(process.execPath, [SCRIPT, `--out=${dir}`, ...args], { env, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, dir };
}

test('without nvcc the install hook succeeds, says the CUDA backend was not built, and records why', () => {
  const { status, out, dir } = runBuild(['--if-available']);
  try {
    assert.equal(status, 0, out);
    assert.match(out, /CUDA backend was not built \(nvcc was not found at install\)/);
    assert.match(out, /CPU backend will be used/);
    const info = JSON.parse(readFileSync(join(dir, 'Release', 'native-build.json'), 'utf8')) as { built: boolean; reason: string };
    assert.deepEqual([info.built, info.reason], [false, 'nvcc was not found at install']);
    assert.ok(!existsSync(join(dir, 'Release', 'moe_native.node')), 'no addon file is produced');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('`npm run build:native` without nvcc fails (exit 1) with the same explanation', () => {
  const { status, out, dir } = runBuild([]);
  try {
    assert.equal(status, 1);
    assert.match(out, /nvcc was not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('package.json wires the install hook and the GPU scripts', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.install, 'node scripts/build-native.mjs --if-available');
  assert.equal(pkg.scripts['build:native'], 'node scripts/build-native.mjs');
  assert.match(pkg.scripts['test:gpu'] ?? '', /\.gpu\.test\.ts/);
  assert.match(pkg.scripts['bench:gpu'] ?? '', /bench-gpu\.ts/);
});
