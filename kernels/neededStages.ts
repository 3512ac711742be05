/**
 * Which stages a set of wanted tensors takes. Stage plans are data (kernels/recipes/types.ts: each stage names the
 * tensors it reads and writes), so the answer is a walk backwards over the plan: a stage runs when something still
 * wanted is among its writes, and then everything it reads is wanted too. Inputs of the layer are read, never
 * written, so the walk ends at them. `moe-inspect export --view scales` of a DeepSeek-V3 layer thus runs quantize
 * and transform_scales, and reads hidden_states only: no GEMM, no weights.
 */
import type { StageDescriptor } from './recipes/types';

/** The stages (in plan order) that must run for `wanted` to exist; the others are left out. */
export function stagesFor<S extends StageDescriptor>(stages: readonly S[], wanted: Iterable<string>): S[] {
  const want = new Set(wanted);
  const keep: boolean[] = new Array<boolean>(stages.length).fill(false);
  for (let i = stages.length - 1; i >= 0; i--) {
    const s = stages[i]!;
    if (!s.writes.some((w) => want.has(w))) continue;
    keep[i] = true;
    for (const r of s.reads) want.add(r);
  }
  return stages.filter((_, i) => keep[i]);
}

/**
 * The tensor ids a run of `stages` (already chosen by stagesFor) touches: what they read and write, plus the
 * wanted tensors themselves (a wanted input is read by the picture, not by a stage). The size estimate counts these.
 */
export function tensorsTouched(stages: readonly StageDescriptor[], wanted: Iterable<string>): Set<string> {
  const out = new Set(wanted);
  for (const s of stages) for (const n of [...s.reads, ...s.writes]) out.add(n);
  return out;
}
