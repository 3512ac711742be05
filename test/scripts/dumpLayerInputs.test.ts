/**
 * scripts/dump_layer_inputs.py (docs/dump-layer-inputs.md): it compiles, and its hand-written safetensors writer
 * produces files this project's readers accept with the names the inspector reads. Its torch hook is exercised by the
 * script's own --self-test where torch exists (the GPU machine); here only the standard-library path runs.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
