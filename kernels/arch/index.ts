/**
 * The architecture registry: adding an architecture is adding its module and one line here. Quick picks, CLI
 * choices, the settings enum (package.json, checked by a test) and the roofline's GPU models derive from it.
 */
import type { ArchSpec, GpuModelSpec } from './types';
import { MoeError } from '../errors';
import type { Tensor } from '../tensor';
import type { ScaleRole, ScaleTransform } from '../layout/transform';
import { sm90 } from './sm90';
import { sm100 } from './sm100';

export type { ArchSpec, GpuModelSpec, GemmChoice, ArchCheckContext } from './types';

export const ARCHS: readonly ArchSpec[] = [sm90, sm100];

export const ARCH_IDS: readonly string[] = ARCHS.map((a) => a.id);

export function archById(id: string): ArchSpec {
  const a = ARCHS.find((x) => x.id === id);
  if (!a) throw new MoeError('E_SPEC', `unknown architecture '${id}'; known: ${ARCH_IDS.join(', ')}`);
  return a;
}

export const GPU_MODELS: readonly GpuModelSpec[] = ARCHS.flatMap((a) => a.gpus);

export function gpuModelById(id: string): GpuModelSpec {
  const g = GPU_MODELS.find((x) => x.id === id);
  if (!g) throw new MoeError('E_SPEC', `unknown GPU model '${id}'; known: ${GPU_MODELS.map((x) => x.id).join(', ')}`);
  return g;
}

/** The roofline model for a CUDA device name ("NVIDIA H200" → H200), or undefined when none matches. */
export function gpuModelForDevice(deviceName: string): GpuModelSpec | undefined {
  return GPU_MODELS.find((g) => g.deviceName?.test(deviceName));
}

/** The architecture a GPU model belongs to. */
export function archOfGpu(id: string): ArchSpec | undefined {
  return ARCHS.find((a) => a.gpus.some((g) => g.id === id));
}

/** The scale layout `arch`'s kernels read, and whether they would re-lay `sf` out on every call. */
export function transformScalesFor(arch: string, sf: Tensor<'f32'> | Tensor<'i32'>, role: ScaleRole): ScaleTransform {
  return archById(arch).transformScales(sf, role);
}
