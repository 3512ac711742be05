/** Backend selection: cpu, auto (CUDA or the CPU fallback with the probe's reason), cuda (or E_BACKEND). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../../../kernels/backend/index';
import { MoeError } from '../../../kernels/errors';

test('backend selection: cpu, auto falls back with the probe reason, cuda without CUDA is an E_BACKEND error', async () => {
  assert.equal((await selectBackend('cpu')).backend.name, 'cpu');
  const auto = await selectBackend('auto');
  if (auto.backend.name === 'cpu') assert.match(auto.reason, /CPU reference/);
  const cuda = await selectBackend('cuda').then(
    (b) => b,
    (e: unknown) => e,
  );
  if (cuda instanceof MoeError) assert.equal(cuda.code, 'E_BACKEND');
  else assert.equal((cuda as { backend: { name: string } }).backend.name, 'cuda');
});
