/**
 * What an architecture offers torchao's DeepGEMM training backend (docs/layouts-and-stages.md §4.2, §8; DeepGEMM 2.6.1
 * csrc/apis/gemm.hpp and csrc/apis/layout.hpp):
 * - forward and dgrad call m_grouped_fp8_gemm_nt_contiguous with float32 1×128 / 128×128 scales and
 *   disable_ue8m0_cast=True. The scales then stay float32, and DeepGEMM dispatches float32 scales only to its SM90
 *   kernel: any other architecture ends in "Unsupported architecture or scaling factor types".
 * - wgrad calls k_grouped_fp8_gemm_nt_contiguous (recipe (1, 1, 128), K-major operands): DeepGEMM 2.6.1 runs it on
 *   SM90 only ("Unsupported architecture" elsewhere). SM100 has k_grouped_fp8_gemm_tn_contiguous instead (MN-major
 *   operands, packed UE8M0 scales), which torchao does not call.
 * torchao's own guard only checks "SM90 or newer", so on SM100 its AUTO/DEEPGEMM preference selects DeepGEMM and the
 * calls fail inside DeepGEMM; KernelPreference.EMULATED is the way to train there.
 *
 * These are per-architecture facts; the architecture modules do not declare them yet (asked of the lead). Until they
 * do, an `ArchSpec.deepgemmTraining` field is read when present, else the facts are derived from what the module
 * already says: an architecture whose kernels take float32 scales (`scaleFormats` includes 'f32') is one DeepGEMM
 * dispatches float32-scale grouped GEMMs to — exactly the forward/dgrad condition, and in 2.6.1 also where the NT
 * K-grouped kernel exists. Nothing here tests an architecture's name.
 */
import type { ArchSpec } from '../../arch/types';

export interface DeepGemmTrainingSupport {
  /** m_grouped_fp8_gemm_nt_contiguous with float32 scales and disable_ue8m0_cast=True (forward, dgrad) */
  mGroupedFloatScales: boolean;
  /** k_grouped_fp8_gemm_nt_contiguous, recipe (1, 1, 128) (wgrad) */
  kGroupedNt: boolean;
}

export function deepgemmTrainingSupport(arch: ArchSpec): DeepGemmTrainingSupport {
  const declared = (arch as ArchSpec & { deepgemmTraining?: DeepGemmTrainingSupport }).deepgemmTraining;
  if (declared) return declared;
  const f32 = arch.scaleFormats.includes('f32');
  return { mGroupedFloatScales: f32, kGroupedNt: f32 };
}
