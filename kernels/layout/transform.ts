/**
 * What DeepGEMM's transform_sf_into_required_layout does with a scale tensor (docs/layouts-and-stages.md §4.1–4.2), so the
 * inspector can show the layout the kernel really reads and say whether the kernel would re-lay the scales out on
 * every call (relayout = true) or take them as they are.
 */
import { MoeError, shapeStr } from '../errors';
import type { Tensor } from '../tensor';
import { isSm90Ready, sm90Strides, toSm90ActScales } from './sm90';
import { isSm100PackedReady, toSm100PackedUe8m0 } from './sm100';
import { ceilDiv, tmaAlignedSize } from './tma';
import { broadcastWeightScaleRows } from './weightScales';

export interface ScaleTransform {
  tensor: Tensor;
  /** the kernel would re-lay these out on every call */
  relayout: boolean;
  note: string;
}

export interface ScaleRole {
  kind: 'activation' | 'weight';
  /** rows of the operand the scales belong to (M for activations, N for weights) */
  mn: number;
  /** K of the operand */
  k: number;
  /** leading groups/experts dimension, if any */
  groups?: number;
}

const GRAN_K = 128;

/** DeepGEMM's check_sf_layout: dtype, rank, and the two scale extents implied by (mn, k) */
function checkSfLayout(sf: Tensor, role: ScaleRole, granMn: number): void {
  const name = sf.name || (role.kind === 'activation' ? 'activation scales' : 'weight scales');
  if (sf.dtype !== 'f32' && sf.dtype !== 'i32')
    throw new MoeError('E_DTYPE', `${name}: scale factors must be float32 or packed int32, got ${sf.dtype}`, sf.name);
  const packed = sf.dtype === 'i32';
  const wantRank = role.groups === undefined ? 2 : 3;
  const kExt = ceilDiv(role.k, GRAN_K * (packed ? 4 : 1));
  const expected = [...(role.groups === undefined ? [] : [role.groups]), ceilDiv(role.mn, granMn), kExt];
  if (sf.rank !== wantRank || expected.some((e, i) => e !== sf.shape[i]))
    throw new MoeError(
      'E_SHAPE',
      `${name}: for ${role.kind} mn=${role.mn}, k=${role.k}${role.groups === undefined ? '' : `, groups=${role.groups}`} ` +
        `the ${packed ? 'packed int32' : 'float32'} scales must have shape ${shapeStr(expected)} ` +
        `(⌈mn/${granMn}⌉, ⌈k/${GRAN_K * (packed ? 4 : 1)}⌉), got ${shapeStr(sf.shape)}`,
      sf.name,
    );
}

/** K-major contiguous, or contiguous after swapping the last two dims (MN-major); 3-D needs stride(0) = rows·cols */
function blockScalesAccepted(sf: Tensor): boolean {
  const r = sf.rank;
  const rows = sf.shape[r - 2]!;
  const cols = sf.shape[r - 1]!;
  const kMajor = (sf.strides[r - 1] === 1 || cols <= 1) && (sf.strides[r - 2] === cols || rows <= 1);
  const mnMajor = (sf.strides[r - 2] === 1 || rows <= 1) && (sf.strides[r - 1] === rows || cols <= 1);
  const groupOk = r === 2 || sf.shape[0]! <= 1 || sf.strides[0] === rows * cols;
  return (kMajor || mnMajor) && groupOk;
}

/** the two scale layouts the kernels read; an architecture module (kernels/arch/) says which one it wants */
export type KernelScaleLayout = 'sm90' | 'sm100';

/**
 * The transform for one of the known kernel layouts. Architectures call this from their module; everything else
 * asks the architecture (`transformScalesFor` in kernels/arch/index.ts), never this function with a literal.
 */
export function transformActivationOrWeight(arch: KernelScaleLayout, sf: Tensor<'f32'> | Tensor<'i32'>, role: ScaleRole): ScaleTransform {
  const name = sf.name || (role.kind === 'activation' ? 'activation scales' : 'weight scales');
  // packed int32 scales always hold one row per mn (weights were broadcast before packing)
  const granMn = role.kind === 'weight' && sf.dtype === 'f32' ? 128 : 1;
  checkSfLayout(sf, role, granMn);

  if (sf.dtype === 'i32') {
    if (arch !== 'sm100')
      throw new MoeError('E_LAYOUT', `${name}: packed UE8M0 int32 scales are an SM100 layout; SM90 kernels take float32 scales`, sf.name);
    if (!isSm100PackedReady(sf)) {
      const mnA = tmaAlignedSize(role.mn, 4);
      throw new MoeError(
        'E_LAYOUT',
        `${name}: packed scales must be MN-major and TMA-aligned: strides ${shapeStr(sf.rank === 3 ? [mnA * sf.shape[2]!, 1, mnA] : [1, mnA])}, got ${shapeStr(sf.strides)}`,
        sf.name,
      );
    }
    return { tensor: sf, relayout: false, note: 'already packed UE8M0, MN-major, TMA-aligned: used as it is' };
  }

  const f = sf as Tensor<'f32'>;
  if (arch === 'sm90') {
    if (role.kind === 'weight') {
      if (!blockScalesAccepted(f))
        throw new MoeError(
          'E_LAYOUT',
          `${name}: SM90 takes 128×128 block scales K-major or MN-major contiguous; strides ${shapeStr(f.strides)} for shape ${shapeStr(f.shape)} are neither`,
          f.name,
        );
      return { tensor: f, relayout: false, note: 'float32 128×128 block scales: SM90 uses them as they are' };
    }
    if (isSm90Ready(f)) return { tensor: f, relayout: false, note: 'already float32 MN-major TMA-aligned: used as it is' };
    return {
      tensor: toSm90ActScales(f),
      relayout: true,
      note:
        `float32 scales with strides ${shapeStr(f.strides)}, not MN-major TMA-aligned ${shapeStr(sm90Strides(f.shape))}: ` +
        'DeepGEMM transposes them on every GEMM call (produce them MN-major to avoid it)',
    };
  }

  // SM100: everything is packed UE8M0; weight blocks are first broadcast to one row per N
  const rowsFirst = role.kind === 'weight' ? broadcastWeightScaleRows(f, role.mn, 128) : f;
  return {
    tensor: toSm100PackedUe8m0(rowsFirst),
    relayout: true,
    note:
      role.kind === 'weight'
        ? 'float32 block scales: SM100 broadcasts them to one row per N and packs them to UE8M0 int32 on every call unless transformed once at load (vLLM does)'
        : 'float32 scales: SM100 packs them to UE8M0 int32 (MN-major, TMA-aligned) on every GEMM call (produce them packed to avoid it)',
  };
}
