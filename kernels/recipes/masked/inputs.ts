/**
 * A DeepEP low-latency (masked) layer: `hidden_states` (E_local, max_m, K) as DeepEP's receive buffer hands it to
 * the experts, `masked_m` (E_local,) the valid rows per expert, and the usual FP8 weights with 128×128 block scales
 * (docs/layouts-and-stages.md §"Masked"). Rows past masked_m[e] hold stale data from earlier batches: they are never
 * read, so nothing in them (not even NaN) can influence a result.
 */
import { type Tensor } from '../../tensor';
import { MoeError, shapeStr } from '../../errors';
import { DEFAULT_RECIPE, FILE_SPEC_DEFAULTS, type LayerSpec } from '../../spec';
import { asFp8, checkFinite, checkFp8Codes, scalesToF32, wantDtype, wantShape } from '../../inputs';
import { T } from '../tensors';
import { MT } from './tensors';

export interface MaskedInputs {
  hidden_states: Tensor<'bf16'> | Tensor<'f32'>;
  masked_m: Tensor<'i32'>;
  w13_weight: Tensor<'f8e4m3fn'>;
  w13_weight_scale_inv: Tensor<'f32'>;
  w2_weight: Tensor<'f8e4m3fn'>;
  w2_weight_scale_inv: Tensor<'f32'>;
}

export const MASKED_INPUT_NAMES = [T.hidden_states, MT.masked_m, T.w13_weight, T.w13_weight_scale_inv, T.w2_weight, T.w2_weight_scale_inv] as const;

/** valid rows of each expert buffer, checked: 0 ≤ masked_m[e] ≤ max_m */
export function maskedCounts(masked: Tensor<'i32'>, maxM: number): Int32Array {
  const c = masked.contiguous();
  const m = c.storage.subarray(c.offset, c.offset + c.numel);
  for (let e = 0; e < m.length; e++) {
    const v = m[e]!;
    if (v < 0) throw new MoeError('E_RANGE', `masked_m[${e}] = ${v}: a count of valid rows must be ≥ 0`, MT.masked_m);
    if (v > maxM)
      throw new MoeError('E_RANGE', `masked_m[${e}] = ${v} exceeds max_m = ${maxM} (hidden_states holds ${maxM} rows per expert): DeepEP never sends more than the buffer holds`, MT.masked_m);
  }
  return m;
}

/** the valid rows of hidden_states, finite (stale rows are not looked at) */
function checkValidRowsFinite(x: Tensor<'bf16'> | Tensor<'f32'>, counts: Int32Array): void {
  const [E, maxM, K] = x.shape as [number, number, number];
  for (let e = 0; e < E; e++) {
    if (counts[e] === 0) continue;
    const rows = x.reshape([E * maxM, K]).slice(0, e * maxM, e * maxM + counts[e]!);
    try {
      checkFinite(rows as Tensor<'bf16'> | Tensor<'f32'>, T.hidden_states, false);
    } catch (err) {
      if (!(err instanceof MoeError)) throw err;
      throw new MoeError('E_VALUE', `${err.message.replace(/^hidden_states\[(\d+)/, (_, r: string) => `hidden_states[${e}, ${r}`)} (a valid row of expert ${e})`, T.hidden_states);
    }
  }
}

export function maskedInputsFromTensors(raw: Record<string, Tensor | undefined>): MaskedInputs {
  for (const n of MASKED_INPUT_NAMES)
    if (!raw[n]) throw new MoeError('E_FORMAT', `masked layer: missing tensor '${n}' (needed: ${MASKED_INPUT_NAMES.join(', ')})`, n);
  const x = raw.hidden_states!;
  wantDtype(x, T.hidden_states, ['bf16', 'f32']);
  const mm = raw.masked_m!;
  wantDtype(mm, MT.masked_m, ['i32']);
  if (x.rank !== 3)
    throw new MoeError(
      'E_SHAPE',
      `hidden_states: a masked layer needs shape [E_local, max_m, K] (one DeepEP receive buffer per local expert), got ${shapeStr(x.shape)}${x.rank === 2 ? '; a 2-D [M, K] hidden_states with masked_m is neither layout: give topk_ids/topk_weights for the contiguous path, or the per-expert buffer' : ''}`,
      T.hidden_states,
    );
  const [E, maxM, K] = x.shape as [number, number, number];
  if (mm.rank !== 1 || mm.shape[0] !== E)
    throw new MoeError('E_SHAPE', `masked_m: expected shape [${E}] (one count per expert buffer of hidden_states ${shapeStr(x.shape)}), got ${shapeStr(mm.shape)}`, MT.masked_m);
  const w13 = raw.w13_weight!;
  wantDtype(w13, T.w13_weight, ['f8e4m3fn', 'u8']);
  if (w13.rank !== 3 || w13.shape[0] !== E || w13.shape[2] !== K || w13.shape[1]! % 2 !== 0)
    throw new MoeError('E_SHAPE', `w13_weight: expected shape [${E}, 2N, ${K}] (E_local and K from hidden_states ${shapeStr(x.shape)}), got ${shapeStr(w13.shape)}`, T.w13_weight);
  const twoN = w13.shape[1]!;
  const N = twoN / 2;
  const w2 = raw.w2_weight!;
  wantDtype(w2, T.w2_weight, ['f8e4m3fn', 'u8']);
  wantShape(w2, T.w2_weight, [E, K, N], `E_local × K × N, from w13_weight ${shapeStr(w13.shape)}`);
  const s13 = raw.w13_weight_scale_inv!;
  wantDtype(s13, T.w13_weight_scale_inv, ['f32', 'ue8m0']);
  wantShape(s13, T.w13_weight_scale_inv, [E, Math.ceil(twoN / 128), Math.ceil(K / 128)], 'one scale per 128×128 block of w13_weight');
  const s2 = raw.w2_weight_scale_inv!;
  wantDtype(s2, T.w2_weight_scale_inv, ['f32', 'ue8m0']);
  wantShape(s2, T.w2_weight_scale_inv, [E, Math.ceil(K / 128), Math.ceil(N / 128)], 'one scale per 128×128 block of w2_weight');
  const masked = mm.contiguous() as Tensor<'i32'>;
  const counts = maskedCounts(masked, maxM);
  const inputs: MaskedInputs = {
    hidden_states: x as Tensor<'bf16'> | Tensor<'f32'>,
    masked_m: masked,
    w13_weight: asFp8(w13, T.w13_weight),
    w13_weight_scale_inv: scalesToF32(s13, T.w13_weight_scale_inv),
    w2_weight: asFp8(w2, T.w2_weight),
    w2_weight_scale_inv: scalesToF32(s2, T.w2_weight_scale_inv),
  };
  checkValidRowsFinite(inputs.hidden_states, counts);
  checkFinite(inputs.w13_weight_scale_inv, T.w13_weight_scale_inv, true);
  checkFinite(inputs.w2_weight_scale_inv, T.w2_weight_scale_inv, true);
  checkFp8Codes(inputs.w13_weight, T.w13_weight);
  checkFp8Codes(inputs.w2_weight, T.w2_weight);
  return inputs;
}

/** the spec of a masked layer file: tokens = Σ masked_m (the rows that carry data), max_m from the buffer */
export function maskedSpecFromInputs(inputs: MaskedInputs, base: Partial<LayerSpec>): LayerSpec {
  const [E, maxM, K] = inputs.hidden_states.shape as [number, number, number];
  const counts = maskedCounts(inputs.masked_m, maxM);
  const recipe = { ...DEFAULT_RECIPE, ...(base.recipe ?? {}), id: 'masked' };
  return {
    ...FILE_SPEC_DEFAULTS,
    ...base,
    recipe: { ...recipe, options: { ...(recipe.options ?? {}), maxM } },
    tokens: counts.reduce((a, b) => a + b, 0),
    hidden: K,
    intermediate: inputs.w13_weight.shape[1]! / 2,
    experts: E,
    topk: 1,
  };
}
