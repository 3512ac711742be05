/** The CPU roofline's peaks: measured with the GEMM's own WebAssembly SIMD instructions when they run here. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuPeaks } from '../../kernels/cpuPeaks';
import { kernelWasm } from '../../kernels/ops/gemmWasmModule';

test('cpuPeaks: positive peaks, the SIMD multiply-add rate where the WebAssembly kernels run, measured once per process', () => {
  const p = cpuPeaks();
  assert.ok(p.bandwidth > 1e8 && Number.isFinite(p.bandwidth), `bandwidth ${p.bandwidth}`);
  assert.ok(p.flops > 1e8 && Number.isFinite(p.flops), `flops ${p.flops}`);
  assert.match(p.source, /measured on this CPU at .*: copy [\d.]+ GB\/s, float64 multiply-add \((WebAssembly SIMD f64x2|scalar)\) [\d.]+ GFLOP\/s on \d+ cores/);
  // on an engine with WebAssembly SIMD, 8 f64x2 chains outrun 4 scalar ones (2 lanes, no add latency exposed)
  if ('module' in kernelWasm()) assert.match(p.source, /WebAssembly SIMD f64x2/);
  assert.equal(cpuPeaks(), p);
});
