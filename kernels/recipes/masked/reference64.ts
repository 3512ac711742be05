/**
 * Float64 reference of the masked recipe, row by row on demand (for the |error| heatmap and the property tests):
 * each valid row of expert e's buffer goes through expertRowReference from the same quantized activations.
 */
import type { LayerSpec } from '../../spec';
import type { Tensor } from '../../tensor';
import type { ErrorFn } from '../types';
import { T } from '../tensors';
import { E4M3_DECODE, decodeE4M3 } from '../../dtypes/fp8e4m3';
import { expertRowReference, referenceWeights, type PairReference } from '../../ops/reference64';
import type { MaskedInputs } from './inputs';

export class MaskedReference64 {
  private readonly rows = new Map<number, PairReference>();
  private readonly weights;
  private readonly maxM: number;
  private readonly K: number;

  constructor(
    inputs: MaskedInputs,
    private readonly a1q: Tensor,
    private readonly a1s: Tensor,
    private readonly counts: Int32Array,
    private readonly spec: LayerSpec,
  ) {
    this.weights = referenceWeights(inputs);
    [, this.maxM, this.K] = inputs.hidden_states.shape as [number, number, number];
  }

  /** flat row r = e·max_m + i; undefined past masked_m[e] (no reference: the row carries no data) */
  row(r: number): PairReference | undefined {
    const e = Math.floor(r / this.maxM);
    if (r % this.maxM >= this.counts[e]!) return undefined;
    const hit = this.rows.get(r);
    if (hit) return hit;
    const a = new Float64Array(this.K);
    const i = r % this.maxM;
    for (let c = 0; c < this.K; c++) a[c] = E4M3_DECODE[this.a1q.raw(e, i, c)]! * this.a1s.get(e, i, c >> 7);
    const ref = expertRowReference(a, e, this.weights, this.spec, 1);
    this.rows.set(r, ref);
    return ref;
  }
}

/** value − float64 reference over the (E·max_m, C) view of a stage tensor; NaN on stale rows */
export function maskedErrorFn(name: string, tensors: ReadonlyMap<string, Tensor>, inputs: MaskedInputs, counts: Int32Array, spec: LayerSpec): ErrorFn | undefined {
  const a1q = tensors.get(T.a1q);
  const a1s = tensors.get(T.a1q_scale);
  if (!a1q || !a1s) return undefined;
  const [, maxM] = inputs.hidden_states.shape as [number, number, number];
  const valid = (r: number): boolean => r % maxM < counts[Math.floor(r / maxM)]!;
  if (name === T.a1q) {
    const x = inputs.hidden_states;
    return (r, c) => (valid(r) ? decodeE4M3(a1q.raw(Math.floor(r / maxM), r % maxM, c)) * a1s.get(Math.floor(r / maxM), r % maxM, c >> 7) - x.get(Math.floor(r / maxM), r % maxM, c) : NaN);
  }
  const ref = new MaskedReference64(inputs, a1q, a1s, counts, spec);
  const pick = (p: PairReference, c: number): number => (name === T.mm1_out ? p.mm1[c]! : name === T.act_out ? p.act[c]! : p.mm2[c]!);
  if (name !== T.mm1_out && name !== T.act_out && name !== T.output) return undefined;
  return (r, c, v) => {
    const p = ref.row(r);
    return p ? v - pick(p, c) : NaN;
  };
}
