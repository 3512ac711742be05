/** An imported profile on one run's stages (kernels/profile/onStages.ts): what the panel's timing view gets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { importProfile, timingsOnStages, classifyKernels, summarizeStages, IMPORTED_LIST_CAP, IMPORTED_NAME_CAP, type KernelRecord } from '../../../kernels/profile';
import { checkImportedTimings } from '../../../kernels/protocol';

const CONTIGUOUS = ['quantize', 'transform_scales', 'permute', 'gemm1', 'activation', 'requantize', 'gemm2', 'unpermute'];

test('the captured H200 trace on the contiguous recipe\'s stages: every launch on a stage, outside it, or unmatched', () => {
  const p = importProfile(join(__dirname, 'fixtures', 'h200-torch-scaled-grouped-mm.trace.json.gz'));
  const t = timingsOnStages(p, CONTIGUOUS);
  assert.equal(t.file, 'h200-torch-scaled-grouped-mm.trace.json.gz', 'the name, not the folder');
  assert.equal(t.format, 'chrome-trace');
  assert.equal(t.launches, 47);
  assert.deepEqual(t.stages.map((s) => s.stage), ['quantize', 'permute', 'gemm1', 'activation', 'requantize', 'gemm2', 'unpermute'], 'in the run\'s order; no kernel on transform_scales');
  assert.deepEqual(t.outside.map((s) => s.stage), ['other']);
  assert.equal(t.unmatched.length, 1);
  const launches = [...t.stages, ...t.outside].reduce((a, s) => a + s.count, 0) + t.unmatched.reduce((a, u) => a + u.count, 0);
  assert.equal(launches, 47, 'nothing dropped');
  for (const s of [...t.stages, ...t.outside]) {
    assert.equal(s.kernels.reduce((a, k) => a + k.count, 0), s.count, `${s.stage}: its kernels add up to its launches`);
    assert.ok(Math.abs(s.kernels.reduce((a, k) => a + k.totalUs, 0) - s.totalUs) < 1e-9, `${s.stage}: and to its time`);
    assert.ok(s.kernels.every((k) => k.rule), 'a mapped kernel says by which rule');
  }
  const gemm1 = t.stages.find((s) => s.stage === 'gemm1')!;
  assert.match(gemm1.kernels[0]!.name, /GroupProblemShape/);
  // what the host sends passes the webview's check unchanged
  assert.deepEqual(checkImportedTimings(structuredClone(t), 'profile'), t);
  // a recipe without a 'permute' stage: those kernels are outside its stages, not lost
  const masked = timingsOnStages(p, CONTIGUOUS.filter((s) => s !== 'permute'));
  assert.deepEqual(masked.outside.map((s) => s.stage), ['permute', 'other']);
});

test('long lists are capped with the rest counted, long template names cut', () => {
  const long = `void cutlass::Kernel<${'x'.repeat(2000)}>`;
  const records: KernelRecord[] = [
    ...Array.from({ length: IMPORTED_LIST_CAP + 5 }, (_, i) => ({ name: `mystery_kernel_${i}`, seq: i, startUs: i * 10, durUs: 1 + i, device: '0', stream: '7', kind: 'kernel' as const })),
    { name: long, seq: 999, startUs: 5000, durUs: 3, device: '0', stream: '7', kind: 'kernel' },
  ];
  const kernels = classifyKernels(records);
  const t = timingsOnStages({ path: '/tmp/x/t.json', format: 'chrome-trace', kernels, ...summarizeStages(kernels) }, CONTIGUOUS);
  assert.equal(t.unmatched.length, IMPORTED_LIST_CAP);
  assert.equal(t.omitted, 6);
  assert.equal(t.launches, IMPORTED_LIST_CAP + 6);
  assert.ok([...t.unmatched].every((u) => u.name.length <= IMPORTED_NAME_CAP));
  assert.equal(t.stages.length, 0);
});
