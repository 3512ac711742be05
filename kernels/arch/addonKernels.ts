/**
 * The bundled CUDA addon's grouped-GEMM kernels (kernels/native/gemm.cu), by the id the addon reports after a run.
 * An architecture module names the one its specs ask for; the trace says which one really ran.
 */
export type AddonGemmKernel = 'sm90-tma' | 'wgmma' | 'mma.sync';

export const ADDON_GEMM_KERNELS: Readonly<Record<AddonGemmKernel, string>> = {
  'sm90-tma': 'TMA + warp-specialised wgmma, 128×192 tiles, 2 consumer warpgroups, B multicast over 2 CTAs (sm_90a)',
  wgmma: 'wgmma m64n128k32 e4m3, one warpgroup (sm_90a)',
  'mma.sync': 'mma.sync m16n8k32 e4m3',
};

/** the addon's stand-in for a kernel it does not have (SM100 tcgen05, or a device without wgmma) */
export const STAND_IN_KERNEL: AddonGemmKernel = 'mma.sync';

export function isAddonGemmKernel(id: string): id is AddonGemmKernel {
  return Object.prototype.hasOwnProperty.call(ADDON_GEMM_KERNELS, id);
}
