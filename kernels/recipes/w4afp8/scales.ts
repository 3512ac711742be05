/**
 * The static per-tensor activation scales SGLang derives at load (W4AFp8MoEMethod.process_weights_after_loading):
 * a1_scale = max over every expert's (gate, up) w13_input_scale, a2_scale = max over w2_input_scale, each a BF16
 * value widened to float32 (exact). One scale for every expert: the largest calibrated range wins.
 */
import { Tensor } from '../../tensor';
import type { W4Inputs } from './inputs';

function maxOf(t: Tensor): number {
  let m = -Infinity;
  for (const v of t.toFloat32()) if (v > m) m = v;
  return m;
}

export function staticScales(inputs: Pick<W4Inputs, 'w13_input_scale' | 'w2_input_scale'>): { a1: number; a2: number } {
  return { a1: maxOf(inputs.w13_input_scale), a2: maxOf(inputs.w2_input_scale) };
}

/** the scalar as SGLang holds it after load: a (1,) float32 tensor */
export const scalarTensor = (v: number, name: string): Tensor<'f32'> => new Tensor('f32', [1], Float32Array.of(v), undefined, 0, name);

