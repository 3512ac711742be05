/** probeCuda's answer on this machine and the wording of every outcome (it is shown to users). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interpretProbe, probeCuda } from '../../../kernels/backend/probe';
import { selectBackend } from '../../../kernels/backend/index';
import { MoeError } from '../../../kernels/errors';
import type { NativeProbe } from '../../../kernels/native/addon';

const base: NativeProbe = { runtimeVersion: 13000, driverVersion: 0, errorCode: 0, errorName: 'cudaSuccess', errorString: 'no error', count: 0, devices: [] };
const h100 = { name: 'NVIDIA H100 80GB HBM3', major: 9, minor: 0, sms: 132, memoryBytes: 85e9, l2Bytes: 50e6 };

test('on this machine the probe answers ok:false with a reason, unless a GPU is really here', async () => {
  const p = await probeCuda({ fresh: true });
  if (p.ok) {
    assert.equal(p.reason, 'CUDA available');
    assert.match(p.device ?? '', /sm_\d+/);
    return;
  }
  // CI (nvcc, no GPU): the addon is built and the driver is missing; without nvcc: the addon is not built
  assert.match(p.reason, /^CUDA unavailable: (no usable driver \(cudaGetDeviceCount error 35: .+\)|addon not built \(.+\)|no CUDA device)/);
});

test('the probe explains a missing addon with the install-time reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-probe-'));
  try {
    writeFileSync(join(dir, 'native-build.json'), JSON.stringify({ built: false, reason: 'nvcc was not found at install' }));
    const p = await probeCuda({ addon: join(dir, 'moe_native.node') });
    assert.deepEqual(p, { ok: false, reason: 'CUDA unavailable: addon not built (nvcc was not found at install)' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an addon that cannot be loaded is reported, not thrown', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-probe-'));
  try {
    const bogus = join(dir, 'moe_native.node');
    writeFileSync(bogus, 'not a shared object');
    const p = await probeCuda({ addon: bogus });
    assert.equal(p.ok, false);
    assert.match(p.reason, /^CUDA unavailable: the addon failed to load \(.+\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('interpretProbe: driver errors, no device, too old a GPU, a usable H100', () => {
  assert.deepEqual(interpretProbe({ ...base, errorCode: 35, errorName: 'cudaErrorInsufficientDriver', errorString: 'CUDA driver version is insufficient for CUDA runtime version' }), {
    ok: false,
    reason: 'CUDA unavailable: no usable driver (cudaGetDeviceCount error 35: CUDA driver version is insufficient for CUDA runtime version)',
  });
  assert.match(interpretProbe({ ...base, errorCode: 100, errorString: 'no CUDA-capable device is detected' }).reason, /no CUDA device \(cudaGetDeviceCount error 100/);
  assert.match(interpretProbe({ ...base, errorCode: 999, errorString: 'unknown error' }).reason, /cudaGetDeviceCount error 999: unknown error/);
  assert.match(interpretProbe(base).reason, /no CUDA device/);
  const a100 = interpretProbe({ ...base, count: 1, devices: [{ ...h100, name: 'NVIDIA A100', major: 8, minor: 0 }] });
  assert.equal(a100.ok, false);
  assert.match(a100.reason, /NVIDIA A100 \(sm_80.*compute capability 8\.9 or newer/);
  assert.deepEqual(interpretProbe({ ...base, count: 1, devices: [h100] }), {
    ok: true,
    reason: 'CUDA available',
    device: 'NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)',
  });
});

test('backend selection on this machine: auto explains the CPU fallback, cuda is an error with the reason', async (t) => {
  const p = await probeCuda();
  if (p.ok) return t.skip('a GPU is usable here');
  const auto = await selectBackend('auto');
  assert.equal(auto.backend.name, 'cpu');
  assert.equal(auto.reason, `${p.reason} — using the CPU reference`);
  assert.match(auto.reason, /^CUDA unavailable: .+ — using the CPU reference$/);
  await assert.rejects(selectBackend('cuda'), (e: unknown) => e instanceof MoeError && e.code === 'E_BACKEND' && e.message.includes(p.reason));
});
