/** Blackwell (SM100): packed UE8M0 scales, four exponent bytes per int32, MN-major, TMA-aligned (docs/layouts-and-stages.md §4). */
import type { ArchSpec } from './types';
import type { CheckResult } from '../trace';
import { transformActivationOrWeight } from '../layout/transform';
import { ceilDiv, tmaAlignedSize } from '../layout/tma';
import { isPowerOfTwoF32 } from '../dtypes/ue8m0';
import { ADDON_GEMM_KERNELS } from './addonKernels';

function firstNonPowerOfTwo(v: Float32Array): number {
  for (let i = 0; i < v.length; i++) if (!isPowerOfTwoF32(v[i]!)) return i;
  return -1;
}

export const sm100: ArchSpec = {
  id: 'sm100',
  label: 'SM100 (Blackwell)',
  description: 'Blackwell: packed UE8M0 scales (4 per int32)',
  computeCapability: 100,
  scaleLayoutName: 'packed UE8M0 (4 exponents per int32), MN-major, TMA-aligned',
  scaleFormats: ['ue8m0'],
  transformScales: (sf, role) => transformActivationOrWeight('sm100', sf, role),
  scaleRelayoutBytes: (rows, groups) => 4 * rows * groups + 4 * tmaAlignedSize(rows, 4) * ceilDiv(groups, 4),
  maskedRowBlock: 128,
  gemm: {
    production: 'DeepGEMM sm100_fp8_gemm_1d1d (tcgen05 UMMA, UE8M0 scales through UTCCP)',
    addonKernelId: 'mma.sync',
    addonKernel: `${ADDON_GEMM_KERNELS['mma.sync']} (the addon has no tcgen05 kernel)`,
    addonCaveat:
      'SM100 timings from the CUDA addon come from its mma.sync fallback, not a Blackwell tcgen05 kernel: compare layouts, not speed',
  },
  gpus: [{ id: 'B200', label: 'B200', bandwidth: 8e12, flops: 4500e12, source: 'B200 HGX: 8 TB/s, 4500 TFLOP/s dense FP8 (not checked against the NVIDIA datasheet)', deviceName: /B200|B100|GB200/ }],
  checks: ({ scaleFormat, weightScales }) => {
    const out: CheckResult[] = [
      scaleFormat === 'ue8m0'
        ? { id: 'sm100.ue8m0', level: 'pass', message: 'SM100 with UE8M0 (power-of-two) scales: packable to the int32 layout the kernels take' }
        : {
            id: 'sm100.ue8m0',
            level: 'fail',
            tensor: 'a1q_scale',
            message:
              "SM100 GEMMs take packed UE8M0 scales only: float32 scales that are not powers of two cannot be packed (DeepGEMM traps, its PyTorch fallback silently floors them — vLLM's B200 accuracy bug). Set the recipe's scale format to ue8m0",
          },
    ];
    for (const [n, t] of Object.entries(weightScales ?? {})) {
      const v = t.toFloat32();
      const bad = firstNonPowerOfTwo(v);
      if (bad >= 0)
        out.push({
          id: `sm100.${n}`,
          level: 'fail',
          tensor: n,
          message: `${n} has non-power-of-two scales (element ${bad} = ${v[bad]}): SM100 packs only exponents. Re-quantize the weights to UE8M0 at load (vLLM requant_weight_ue8m0_inplace) before packing`,
        });
    }
    return out;
  },
};
