/**
 * scripts/dump_layer_inputs.py (docs/dump-layer-inputs.md): it compiles, and its hand-written safetensors writer
 * produces files this project's readers accept with the names the inspector reads. Its torch hook is exercised by the
 * script's own --self-test where torch exists (the GPU machine); here only the standard-library path runs.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRouterDump, resolveRouting } from '../../kernels/routing';
import { SafetensorsFile } from '../../kernels/io/safetensors';
import { REPO_ROOT } from '../golden';

const script = join(REPO_ROOT, 'scripts', 'dump_layer_inputs.py');
const python = spawnSync('python3', ['--version'], { encoding: 'utf8' }).status === 0 ? 'python3' : undefined;
const dir = mkdtempSync(join(tmpdir(), 'dump-py-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('dump_layer_inputs.py compiles and its writer round-trips through the safetensors reader and the dump loader', { skip: python ? false : 'python3 not found' }, () => {
  const c = spawnSync(python!, ['-c', `import ast, sys; ast.parse(open(sys.argv[1]).read())`, script], { encoding: 'utf8' });
  assert.equal(c.status, 0, c.stderr);
  const r = spawnSync(python!, [script, '--self-test', dir], { encoding: 'utf8', timeout: 120000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /writer ok/);
  const path = join(dir, 'selftest.safetensors');
  const f = SafetensorsFile.open(path);
  try {
    assert.deepEqual(f.names().sort(), ['hidden_states', 'topk_ids', 'topk_weights']);
    assert.equal(f.metadata.format, 'pt');
  } finally {
    f.close();
  }
  const dump = loadRouterDump(path);
  assert.deepEqual([...dump.hidden_states.toFloat32()], [1, 2, 3, -1, 0, 0.5]);
  const routing = resolveRouting(dump, 4);
  assert.deepEqual([...routing.topk_ids.contiguous().storage], [0, 3, 1, 2]);
  assert.deepEqual([...routing.topk_weights.storage], [0.75, 0.25, 0.5, 0.5]);
});

test('the snippet in docs/dump-layer-inputs.md parses and uses only the standard library and torch', { skip: python ? false : 'python3 not found' }, () => {
  const md = readFileSync(join(REPO_ROOT, 'docs', 'dump-layer-inputs.md'), 'utf8');
  const code = /```python\n([\s\S]*?)```/.exec(md)![1]!;
  const r = spawnSync(python!, ['-c', 'import ast, sys; t = ast.parse(sys.stdin.read()); print(" ".join(sorted({a.name.split(".")[0] for n in ast.walk(t) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names})))'], { input: code, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split(' '), ['ctypes', 'json', 'os', 'struct', 'tempfile', 'torch']);
  for (const fn of ['write_safetensors', 'dump_moe_layer']) assert.match(code, new RegExp(`def ${fn}\\(`));
});
