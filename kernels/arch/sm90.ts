/** Hopper (SM90): float32 scales, MN-major, TMA-aligned (docs/layouts-and-stages.md §4; docs/layouts-and-stages.md). */
import type { ArchSpec } from './types';
import { transformActivationOrWeight } from '../layout/transform';
import { tmaAlignedSize } from '../layout/tma';
import { ADDON_GEMM_KERNELS } from './addonKernels';

export const sm90: ArchSpec = {
  id: 'sm90',
  label: 'SM90 (Hopper)',
  description: 'Hopper: float32 scales, MN-major, TMA-aligned',
  computeCapability: 90,
  scaleLayoutName: 'float32, MN-major, TMA-aligned',
  // UE8M0-valued float32 scales are allowed on Hopper (vLLM uses power-of-two scales there for some models)
  scaleFormats: ['f32', 'ue8m0'],
  transformScales: (sf, role) => transformActivationOrWeight('sm90', sf, role),
  scaleRelayoutBytes: (rows, groups) => 4 * rows * groups + 4 * tmaAlignedSize(rows, 4) * groups,
  maskedRowBlock: 64,
  gemm: {
    production: 'DeepGEMM sm90_fp8_gemm_1d2d (TMA + wgmma, warp-specialised)',
    addonKernelId: 'sm90-tma',
    addonKernel: ADDON_GEMM_KERNELS['sm90-tma'],
  },
  gpus: [
    { id: 'H100', label: 'H100 SXM', bandwidth: 3.35e12, flops: 1979e12, source: 'H100 SXM5 80 GB datasheet: 3.35 TB/s HBM3, 1979 TFLOP/s dense FP8', deviceName: /H100/ },
    { id: 'H200', label: 'H200 SXM', bandwidth: 4.8e12, flops: 1979e12, source: 'H200 SXM 141 GB datasheet: 4.8 TB/s HBM3e, 1979 TFLOP/s dense FP8', deviceName: /H200/ },
    { id: 'H200-measured', label: 'H200 (measured)', bandwidth: 4.11e12, flops: 1302e12, source: 'measured on the project H200 (2026-12-02): copy 4.11 TB/s, FP8 torch._scaled_mm 8192³ 1302 TFLOP/s' },
    { id: 'H100-measured', label: 'H100 (measured)', bandwidth: 2.99e12, flops: 1395e12, source: 'measured on the project H100: copy 2.99 TB/s, FP8 GEMM 8192³ 1395 TFLOP/s' },
  ],
  checks: () => [],
};
