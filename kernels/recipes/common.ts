/** Small pieces more than one recipe uses. */
import type { Tensor } from '../tensor';
import type { PermutationStats } from '../trace';
import type { Packing } from '../layout/descriptor';
import type { CpuStageContext } from './types';
import { MoeError } from '../errors';

/** A stage's input from the tensors known so far (the plan orders stages so that it exists). */
export const need = <D extends Tensor['dtype']>(ctx: CpuStageContext, name: string): Tensor<D> => {
  const t = ctx.tensors.get(name);
  if (!t) throw new MoeError('E_VALUE', `stage input '${name}' was not produced by an earlier stage`, name);
  return t as Tensor<D>;
};

export function permutationStats(counts: ArrayLike<number>, mSum: number, layout: 'contiguous' | 'masked', masked?: PermutationStats['masked']): PermutationStats {
  const c = Array.from(counts);
  const routed = c.reduce((a, b) => a + b, 0);
  const executed = masked ? masked.executedRows : mSum;
  return {
    layout,
    counts: c,
    mSum,
    routedRows: routed,
    paddingWaste: executed > 0 ? (executed - routed) / executed : 0,
    activeExperts: c.filter((x) => x > 0).length,
    ...(masked ? { masked } : {}),
  };
}

/** a packed UE8M0 scale tensor (int32, four exponent bytes per word along its last dim) and its logical extent */
export function scalePacking(name: string, t: Tensor, logicalExtent: number): Packing | undefined {
  if (t.dtype !== 'i32' || !name.endsWith('_scale_layout')) return undefined;
  return { perWord: 4, alongDim: t.rank - 1, byteOrder: 'little', logicalExtent };
}
