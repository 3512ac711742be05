/** Stub until the CUDA addon lands: reports that the CUDA backend was not built. */
import type { CudaProbe } from './types';

export async function probeCuda(): Promise<CudaProbe> {
  return { ok: false, reason: 'CUDA unavailable: the native addon was not built' };
}
