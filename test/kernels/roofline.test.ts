/** The roofline model against docs/layouts-and-stages.md §12's worked examples. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { roofline } from '../../kernels/roofline';
import { contiguousStageCosts } from '../../kernels/recipes/contiguous/costs';
import { archById, gpuModelById, gpuModelForDevice } from '../../kernels/arch/index';

const sm90Relayout = (T: number, H: number): number => archById('sm90').scaleRelayoutBytes(T, Math.ceil(H / 128));

test('roofline: Qwen3-30B-A3B T=128 worked example (GEMM1 ≈ 488 MB → 146 µs on H100, memory-bound)', () => {
  const counts = new Array<number>(128).fill(8);
  const c = contiguousStageCosts({ tokens: 128, hidden: 2048, intermediate: 768, topk: 8, experts: 128, counts, mSum: 16384, scaleRelayoutBytes: sm90Relayout(128, 2048) });
  assert.ok(Math.abs(c.gemm1.bytes / 1e6 - 488) < 1, `${c.gemm1.bytes}`);
  assert.ok(Math.abs(c.gemm1.usefulFlops / 1e9 - 6.44) < 0.01);
  assert.ok(Math.abs(c.gemm2.bytes / 1e6 - 281) < 1, `${c.gemm2.bytes}`);
  const r = roofline(c.gemm1, 1, 'H100');
  assert.equal(r.bound, 'memory');
  assert.ok(Math.abs(r.floorMs - 0.1455) < 0.001, `${r.floorMs}`);
  assert.ok(Math.abs(r.fraction - r.floorMs) < 1e-12);
  assert.ok(c.quantize.bytes > 0 && c.unpermute.flops === 2 * 1024 * 2048);
  // DeepSeek-V3 EP8 GEMM1, 32 experts × 1024 rows: compute-bound, ≈ 972 µs of math on H100
  const ds = contiguousStageCosts({ tokens: 4096, hidden: 7168, intermediate: 2048, topk: 8, experts: 256, counts: new Array<number>(32).fill(1024), mSum: 32768, scaleRelayoutBytes: 0 });
  const rd = roofline(ds.gemm1, 10, 'H100');
  assert.equal(rd.bound, 'compute');
  assert.ok(Math.abs(rd.floorMs - 0.972) < 0.002, `${rd.floorMs}`);
  assert.equal(gpuModelById('H100-measured').bandwidth, 2.99e12);
  assert.equal(gpuModelForDevice('NVIDIA H200')?.id, 'H200');
  assert.equal(gpuModelForDevice('NVIDIA H100 80GB HBM3')?.id, 'H100');
  assert.equal(gpuModelForDevice('NVIDIA B200')?.id, 'B200');
  assert.equal(gpuModelForDevice('CPU (x86)'), undefined);
  assert.equal(roofline(ds.gemm1, 0, 'B200').fraction, 0);
});
