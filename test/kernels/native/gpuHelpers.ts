/**
 * Helpers shared by the GPU tests (*.gpu.test.ts): whether a usable GPU is here (else the tests skip and say why),
 * the addon loaded in the test process, and error measures.
 */
import { probeCuda } from '../../../kernels/backend/probe';
import { CudaBackend } from '../../../kernels/backend/cuda';
import { DEV_EXPORTS_ENV, loadAddon, type NativeAddon } from '../../../kernels/native/addon';
import type { Tensor } from '../../../kernels/tensor';

// GPU workers forked by these tests (and the addon loaded here) get the development exports: the fault hook
process.env[DEV_EXPORTS_ENV] = '1';

/** The CUDA backend with the test hook production does not carry: a trapping kernel in the worker. */
export class TestCudaBackend extends CudaBackend {
  /** resolves to the E_BACKEND error the trap produced (and the worker is retired) */
  async faultForTest(): Promise<void> {
    CudaBackend.unwrap(await this.request((id) => ({ type: 'fault', id })));
  }
}

let reason: string | undefined;
let ok: boolean | undefined;

/** undefined when a GPU is usable, else the reason to print as the skip message */
export async function gpuSkipReason(): Promise<string | undefined> {
  if (ok === undefined) {
    const p = await probeCuda();
    ok = p.ok;
    reason = p.ok ? undefined : `no usable GPU, GPU test skipped: ${p.reason}`;
  }
  return reason;
}

let addon: NativeAddon | undefined;
export function addonHere(): NativeAddon {
  return (addon ??= loadAddon());
}

/** ‖a − b‖ / ‖b‖ over the rows where `rowOk` holds (NaN anywhere counts as failure: returns Infinity) */
export function relErrRows(a: Tensor, b: Tensor, rowOk: (r: number) => boolean = () => true): number {
  const [R, C] = a.shape as [number, number];
  const av = a.toFloat32();
  const bv = b.toFloat32();
  let num = 0;
  let den = 0;
  for (let r = 0; r < R; r++) {
    if (!rowOk(r)) continue;
    for (let c = 0; c < C; c++) {
      const x = av[r * C + c]!;
      const y = bv[r * C + c]!;
      if (Number.isNaN(x) || Number.isNaN(y)) return Infinity;
      num += (x - y) ** 2;
      den += y * y;
    }
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

/** fraction of differing raw elements over the selected rows */
export function mismatchFraction(a: Tensor, b: Tensor, rowOk: (r: number) => boolean = () => true): number {
  const [R, C] = a.shape.length === 2 ? (a.shape as [number, number]) : [a.shape[0]!, 1];
  let bad = 0;
  let n = 0;
  for (let r = 0; r < R; r++) {
    if (!rowOk(r)) continue;
    for (let c = 0; c < C; c++) {
      n++;
      const x = C === 1 && a.rank === 1 ? a.raw(r) : a.raw(r, c);
      const y = C === 1 && b.rank === 1 ? b.raw(r) : b.raw(r, c);
      if (x !== y && !(Number.isNaN(x) && Number.isNaN(y))) bad++;
    }
  }
  return n ? bad / n : 0;
}

/** raw values as a plain array (row-major, logical order) */
export function rawArray(t: Tensor): number[] {
  const out: number[] = [];
  const c = t.contiguous();
  for (let i = 0; i < c.numel; i++) {
    const v = c.storage[c.offset + i]!;
    out.push(typeof v === 'bigint' ? Number(v) : v);
  }
  return out;
}
