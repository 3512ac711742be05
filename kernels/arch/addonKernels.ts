/**
 * The bundled CUDA addon's grouped-GEMM kernels (kernels/native/gemm.cu), by the id the addon reports after a run.
 * An architecture module names the one its specs ask for; the trace says which one really ran.
 */
export type AddonGemmKernel = 'wgmma' | 'mma.sync';

export const ADDON_GEMM_KERNELS: Readonly<Record<AddonGemmKernel, string>> = {
  wgmma: 'wgmma m64n128k32 e4m3 (sm_90a)',
  'mma.sync': 'mma.sync m16n8k32 e4m3',
};

export function isAddonGemmKernel(id: string): id is AddonGemmKernel {
  return Object.prototype.hasOwnProperty.call(ADDON_GEMM_KERNELS, id);
}
