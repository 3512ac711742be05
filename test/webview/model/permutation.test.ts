import { test } from 'node:test';
import assert from 'node:assert/strict';
import { permutationModel } from '../../../webview/model/permutation';
import { MoeError } from '../../../kernels/errors';
import { SafetensorsFile } from '../../../kernels/io/safetensors';
import { goldenFile } from '../../golden';

// docs/layouts-and-stages.md §5.6: T=5, k=2, E=4; counts [4,2,2,2]
const ids = [0, 2, 1, 0, 3, 1, 0, 3, 2, 0];

test('spec §5.6 worked example: segments, m_indices, inv_perm', () => {
  const m = permutationModel({ tokens: 5, topk: 2, experts: 4, topkIds: ids });
  assert.deepEqual(m.counts, [4, 2, 2, 2]);
  assert.deepEqual(m.segStart, [0, 128, 256, 384]);
  assert.equal(m.mSum, 512);
  assert.deepEqual(Array.from(m.invPerm), [0, 256, 128, 1, 384, 129, 2, 385, 257, 3]);
  assert.deepEqual([m.mIndices[3], m.mIndices[4], m.mIndices[127], m.mIndices[128], m.mIndices[386]], [0, -1, -1, 1, -1]);
  assert.equal(m.paddingWaste, (512 - 10) / 512);
});

test('spec §5.6 expert parallel rank 0: non-local pairs have no row', () => {
  const m = permutationModel({ tokens: 5, topk: 2, experts: 4, topkIds: ids, expertMap: [0, 1, -1, -1] });
  assert.deepEqual(m.counts, [4, 2]);
  assert.equal(m.mSum, 256);
  assert.deepEqual(Array.from(m.invPerm), [0, -1, 128, 1, -1, 129, 2, -1, -1, 3]);
});

test('golden e2e_small: expert counts and m_indices are exact', () => {
  const f = SafetensorsFile.open(goldenFile('e2e_small_f32.safetensors'));
  try {
    const names = f.names();
    const idsName = names.find((n) => /^topk_ids/.test(n));
    assert.ok(idsName, `golden file has topk ids (has ${names.join(', ')})`);
    const t = f.read(idsName);
    const m = permutationModel({ tokens: t.shape[0]!, topk: t.shape[1]!, experts: 4, topkIds: Array.from(t.toFloat32()) });
    assert.deepEqual(m.counts, Array.from(f.read('expert_counts_i32').storage as Int32Array));
    assert.deepEqual(Array.from(m.mIndices), Array.from(f.read('m_indices_i32').storage as Int32Array));
  } finally {
    f.close();
  }
});

test('bad inputs are MoeErrors naming the tensor', () => {
  assert.throws(() => permutationModel({ tokens: 2, topk: 2, experts: 4, topkIds: [0, 1, 2] }), (e: unknown) => e instanceof MoeError && /topk_ids: expected 2·2 = 4 values, got 3/.test(e.message));
  assert.throws(() => permutationModel({ tokens: 1, topk: 2, experts: 4, topkIds: [0, 9] }), (e: unknown) => e instanceof MoeError && e.code === 'E_RANGE');
  assert.throws(() => permutationModel({ tokens: 1, topk: 2, experts: 4, topkIds: [0, 1], topkWeights: [1] }), (e: unknown) => e instanceof MoeError && /topk_weights/.test(e.message));
  const empty = permutationModel({ tokens: 0, topk: 2, experts: 4, topkIds: [] });
  assert.equal(empty.mSum, 0);
  assert.equal(empty.paddingWaste, 0);
});
