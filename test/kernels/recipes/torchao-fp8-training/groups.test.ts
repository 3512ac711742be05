/** torchao's token-group padding and DeepGEMM's grouped layouts (docs/layouts-and-stages.md §8): the worked example exactly, then random groups. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockExperts, groupedLayout, kGroupedExtent, kGroupedOffset, layoutRuns, planGroups } from '../../../../kernels/recipes/torchao-fp8-training/groups';
import { Rng } from '../../../../kernels/synthetic';

test('§8 worked example: groups of 100 and 30 → padded [128, 128], starts [0, 128], 512 buffer rows, grouped_layout', () => {
  const p = planGroups([100, 30]);
  assert.deepEqual(Array.from(p.padded), [128, 128]);
  assert.deepEqual(Array.from(p.starts), [0, 128]);
  assert.equal(p.tokens, 130);
  assert.equal(p.paddedTokens, 256);
  assert.equal(p.bufferRows, 512, 'align(130 + 2·128, 128)');
  const gl = groupedLayout(p);
  assert.equal(gl.length, 512);
  const expected = new Int32Array(512).fill(-1);
  expected.fill(0, 0, 100); // 0–99 → 0, 100–127 → −1
  expected.fill(1, 128, 158); // 128–157 → 1, 158–511 → −1
  assert.deepEqual(gl, expected);
  assert.deepEqual(layoutRuns(p), [
    { start: 0, end: 100, expert: 0 },
    { start: 100, end: 128, expert: -1 },
    { start: 128, end: 158, expert: 1 },
    { start: 158, end: 512, expert: -1 },
  ]);
});

test('§8 worked example, wgrad: padded M_e = [256, 128], D = 256 → 98304-byte flat LHS, experts at [0, 65536) and [65536, 98304), scales (256, 3)', () => {
  const p = planGroups([200, 100]);
  assert.deepEqual(Array.from(p.padded), [256, 128]);
  const D = 256;
  assert.equal(p.paddedTokens * D, 98304);
  assert.deepEqual(kGroupedExtent(p, D, 0), [0, 65536]);
  assert.deepEqual(kGroupedExtent(p, D, 1), [65536, 98304]);
  assert.equal(p.blocks, 3, 'scale columns: (256, 3)');
  assert.deepEqual(Array.from(blockExperts(p)), [0, 0, 1], 'columns 0–1 expert 0, column 2 expert 1');
  // element (d, m) of expert e at start_e·D + d·M_e + m
  assert.equal(kGroupedOffset(p, D, 0, 1, 0), 256);
  assert.equal(kGroupedOffset(p, D, 1, 0, 0), 65536);
  assert.equal(kGroupedOffset(p, D, 1, 255, 127), 98303);
});

test('empty groups own no rows and no blocks; M = 0 still allocates E·128 rows', () => {
  const p = planGroups([0, 130, 0, 128]);
  assert.deepEqual(Array.from(p.padded), [0, 256, 0, 128]);
  assert.deepEqual(Array.from(p.starts), [0, 0, 256, 256]);
  assert.deepEqual(Array.from(blockExperts(p)), [1, 1, 3]);
  const z = planGroups([0, 0]);
  assert.equal(z.bufferRows, 256);
  assert.ok(groupedLayout(z).every((v) => v === -1));
  assert.deepEqual(layoutRuns(z), [{ start: 0, end: 256, expert: -1 }]);
});

/** torchao's _build_deepgemm_m_grouped_layout with padding, written the way the source writes it (bucketize) */
function torchaoLayout(sizes: number[], starts: number[], rows: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let idx = 0; // bucketize(row, starts, right=True): number of starts ≤ row
    while (idx < starts.length && starts[idx]! <= r) idx++;
    const expert = idx - 1;
    const clamped = Math.max(0, expert);
    out[r] = expert >= 0 && r < starts[clamped]! + sizes[clamped]! ? clamped : -1;
  }
  return out;
}

test('random groups: padded sizes, starts, buffer, and grouped_layout equal torchao\'s bucketize formulation', () => {
  const seed = 0x9e3;
  const rng = new Rng(seed);
  for (let trial = 0; trial < 200; trial++) {
    const E = 1 + Math.floor(rng.float() * 9);
    const sizes = Array.from({ length: E }, () => (rng.float() < 0.2 ? 0 : Math.floor(rng.float() * 400)));
    const p = planGroups(sizes);
    const M = sizes.reduce((a, b) => a + b, 0);
    let S = 0;
    for (let e = 0; e < E; e++) {
      const P = p.padded[e]!;
      assert.equal(P % 128, 0);
      assert.ok(P >= sizes[e]! && P < sizes[e]! + 128, `seed ${seed} trial ${trial}: padded ${P} for ${sizes[e]}`);
      assert.equal(p.starts[e], S);
      S += P;
    }
    assert.equal(p.paddedTokens, S);
    assert.equal(p.bufferRows, Math.ceil((M + E * 128) / 128) * 128);
    assert.ok(p.bufferRows >= S);
    assert.deepEqual(groupedLayout(p), torchaoLayout(sizes, Array.from(p.starts), p.bufferRows), `seed ${seed} trial ${trial}: sizes ${sizes}`);
    const runs = layoutRuns(p);
    assert.equal(runs[0]!.start, 0);
    assert.equal(runs[runs.length - 1]!.end, p.bufferRows);
    for (let i = 1; i < runs.length; i++) assert.equal(runs[i]!.start, runs[i - 1]!.end);
  }
});
