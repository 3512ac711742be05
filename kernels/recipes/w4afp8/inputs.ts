/**
 * A W4AFP8 layer under SGLang's names (docs/layouts-and-stages.md §9, W4AFp8MoEMethod.create_weights), validated before anything
 * runs; every refusal is one line naming the tensor, what was expected and what was found:
 *   hidden_states BF16|F32 (M, H) · topk_ids I32|I64 (M, k) · topk_weights F32 (M, k)
 *   w13_weight I8 (E_l, 2·I_p, H/2): signed int4, two per byte along K, element 2j in the low nibble
 *   w13_weight_scale_inv F32 (E_l, 2·I_p, H/128): one scale per output row and 128 K-elements (as loaded)
 *   w2_weight I8 (E_l, H, I_p/2) · w2_weight_scale_inv F32 (E_l, H, I_p/128)
 *   w13_input_scale BF16 (E_l, 2) · w2_input_scale BF16 (E_l,): static activation scales · optional expert_map I32 (E)
 * The weights are read as raw bytes (I8 on disk reads as i8 and is taken as i4x2; U8 is accepted too); int4 weights stored as FP8, an
 * unpacked width (one value per byte) and the interleaved scale layout `transform` writes are each named as such.
 */
import { Tensor } from '../../tensor';
import { MoeError, shapeStr } from '../../errors';
import { DEFAULT_RECIPE, FILE_SPEC_DEFAULTS, type LayerSpec } from '../../spec';
import { checkFinite, wantDtype, wantShape } from '../../inputs';
import { validateExpertMap, expertMapFor } from '../../ops/permute';
import { encodeBf16 } from '../../dtypes/bf16';
import { T } from '../tensors';
import { WT } from './tensors';
import { interleavedShape } from './interleave';

export interface W4Inputs {
  hidden_states: Tensor<'bf16'> | Tensor<'f32'>;
  topk_ids: Tensor<'i32'> | Tensor<'i64'>;
  topk_weights: Tensor<'f32'>;
  w13_weight: Tensor<'i4x2'>;
  w13_weight_scale_inv: Tensor<'f32'>;
  w2_weight: Tensor<'i4x2'>;
  w2_weight_scale_inv: Tensor<'f32'>;
  w13_input_scale: Tensor<'bf16'>;
  w2_input_scale: Tensor<'bf16'>;
  expert_map?: Tensor<'i32'>;
}

export const W4_INPUT_NAMES = [
  T.hidden_states,
  T.topk_ids,
  T.topk_weights,
  T.w13_weight,
  T.w13_weight_scale_inv,
  T.w2_weight,
  T.w2_weight_scale_inv,
  WT.w13_input_scale,
  WT.w2_input_scale,
] as const;

/** int4 weights: raw bytes (I8 on disk reads as i8 and is reinterpreted as i4x2; U8 accepted), contiguous; FP8 storage is an FP8 checkpoint, not W4AFP8 */
export function packedWeight(t: Tensor, name: string): Tensor<'i4x2'> {
  if (t.dtype === 'f8e4m3fn')
    throw new MoeError(
      'E_DTYPE',
      `${name}: stored as FP8 E4M3 (shape ${shapeStr(t.shape)}), but W4AFP8 weights are signed int4 packed two per byte (I8 on disk, SGLang's torch.int8); an FP8 layer belongs to the contiguous or masked recipe`,
      name,
    );
  wantDtype(t, name, ['i4x2', 'i8', 'u8']);
  const c = t.contiguous();
  return new Tensor('i4x2', c.shape, c.storage as Uint8Array, undefined, c.offset, name);
}

/** the packed width along K, or a message saying why the given width is not it */
export function wantPacked(t: Tensor, name: string, dims: [number, number], K: number, kName: string): void {
  if (t.rank === 3 && t.shape[0] === dims[0] && t.shape[1] === dims[1] && t.shape[2] === K / 2) return;
  const want = `[${dims[0]}, ${dims[1]}, ${Number.isInteger(K / 2) ? K / 2 : `${K}/2`}]`;
  let why = '';
  if (K % 2 !== 0) why = `; ${kName} = ${K} is odd, so it cannot be packed two per byte`;
  else if (t.rank === 3 && t.shape[2] === K) why = `; the last dim ${K} = ${kName} holds one value per byte: pack two int4 per byte along K (element 2j in the low nibble, 2j+1 in the high nibble)`;
  else if (t.rank === 3 && t.shape[2] === K / 4) why = `; the last dim ${K / 4} = ${kName}/4 looks like int4 packed 8 per int32 (AWQ/GPTQ), which this recipe does not read`;
  throw new MoeError(
    'E_SHAPE',
    `${name}: expected shape ${want} (E_l × rows × ${kName}/2: two int4 per byte along K), got ${shapeStr(t.shape)}${why}`,
    name,
  );
}

/** group scales (E, R, K/128) float32 as loaded; the interleaved BF16 layout and FP8 block scales are named */
export function groupScales(t: Tensor, name: string, E: number, R: number, K: number, kName: string): Tensor<'f32'> {
  if (K % 128 !== 0)
    throw new MoeError('E_SHAPE', `${name}: ${kName} = ${K} is not a multiple of 128, so there are no whole int4 scale groups along K (W4AFP8 uses group size 128)`, name);
  const Kg = K / 128;
  const natural = [E, R, Kg];
  wantDtype(t, name, ['f32', 'bf16']);
  if (shapeStr(t.shape) !== shapeStr(natural)) {
    const inter = interleavedShape(E, R, Kg);
    if (shapeStr(t.shape) === shapeStr(inter))
      throw new MoeError(
        'E_LAYOUT',
        `${name}: ${shapeStr(t.shape)} ${t.dtype} is the interleaved kernel layout (E, (${kName}/128)/α, rows·α) that \`moe-inspect transform --recipe w4afp8\` and SGLang's process_weights_after_loading write (an already transformed file?); give the scales as loaded from the checkpoint: ${shapeStr(natural)} float32`,
        name,
      );
    if (t.rank === 3 && t.shape[0] === E && t.shape[1] === Math.ceil(R / 128) && t.shape[2] === Kg)
      throw new MoeError('E_SHAPE', `${name}: ${shapeStr(t.shape)} is one scale per 128×128 block (an FP8 checkpoint); W4AFP8 has one scale per output row and 128 K-elements: ${shapeStr(natural)}`, name);
    wantShape(t, name, natural, `E_l × rows × ${kName}/128: one scale per output row and 128 K-elements`);
  }
  const f = t.dtype === 'f32' ? (t.contiguous() as Tensor<'f32'>) : new Tensor('f32', [...t.shape], t.toFloat32(), undefined, 0, name);
  checkFinite(f, name, true);
  return f.withName(name);
}

/** static input scales: BF16 as SGLang's parameters hold them (float32 in a file is rounded to BF16, as loading it would) */
function inputScale(t: Tensor, name: string, shape: number[], what: string): Tensor<'bf16'> {
  wantDtype(t, name, ['bf16', 'f32']);
  wantShape(t, name, shape, what);
  const bf = t.dtype === 'bf16' ? (t.contiguous() as Tensor<'bf16'>) : new Tensor('bf16', [...t.shape], Uint16Array.from(t.toFloat32(), encodeBf16), undefined, 0, name);
  checkFinite(bf, name, true);
  return bf.withName(name);
}

export function w4InputsFromTensors(raw: Record<string, Tensor | undefined>): W4Inputs {
  const missing = W4_INPUT_NAMES.filter((n) => !raw[n]);
  if (missing.length)
    throw new MoeError('E_FORMAT', `W4AFP8 layer: missing ${missing.join(', ')} (needed: ${W4_INPUT_NAMES.join(', ')}; optional: expert_map)`, missing[0]);
  const x = raw.hidden_states!;
  wantDtype(x, T.hidden_states, ['bf16', 'f32']);
  if (x.rank !== 2) throw new MoeError('E_SHAPE', `hidden_states: expected shape [M, H], got ${shapeStr(x.shape)}`, T.hidden_states);
  const [M, H] = x.shape as [number, number];
  const ids = raw.topk_ids!;
  wantDtype(ids, T.topk_ids, ['i32', 'i64']);
  wantShape(ids, T.topk_ids, [M, -1], 'M tokens of hidden_states × top-k');
  const k = ids.shape[1]!;
  const w = raw.topk_weights!;
  wantDtype(w, T.topk_weights, ['f32']);
  wantShape(w, T.topk_weights, [M, k], 'same as topk_ids');

  const w13 = packedWeight(raw.w13_weight!, T.w13_weight);
  if (w13.rank !== 3 || w13.shape[1]! % 2 !== 0)
    throw new MoeError('E_SHAPE', `w13_weight: expected shape [E_l, 2·I_p, H/2 = ${H / 2}] (gate rows then up rows), got ${shapeStr(w13.shape)}`, T.w13_weight);
  const [E, twoIp] = w13.shape as [number, number, number];
  wantPacked(w13, T.w13_weight, [E, twoIp], H, 'H');
  const Ip = twoIp / 2;
  const w2 = packedWeight(raw.w2_weight!, T.w2_weight);
  wantPacked(w2, T.w2_weight, [E, H], Ip, 'I_p');
  const s13 = groupScales(raw.w13_weight_scale_inv!, T.w13_weight_scale_inv, E, twoIp, H, 'H');
  const s2 = groupScales(raw.w2_weight_scale_inv!, T.w2_weight_scale_inv, E, H, Ip, 'I_p');
  const in13 = inputScale(raw.w13_input_scale!, WT.w13_input_scale, [E, 2], 'one static scale per local expert for its gate and its up projection');
  const in2 = inputScale(raw.w2_input_scale!, WT.w2_input_scale, [E], 'one static scale per local expert');

  let map: Tensor<'i32'> | undefined;
  if (raw.expert_map) {
    const m = raw.expert_map;
    wantDtype(m, T.expert_map, ['i32']);
    if (m.rank !== 1) throw new MoeError('E_SHAPE', `expert_map: expected shape [E_global], got ${shapeStr(m.shape)}`, T.expert_map);
    map = m.contiguous() as Tensor<'i32'>;
    const local = validateExpertMap(map.storage.subarray(map.offset, map.offset + map.numel), map.numel);
    if (local !== E) throw new MoeError('E_SHAPE', `expert_map: maps to ${local} local experts but w13_weight holds ${E} (shape ${shapeStr(w13.shape)})`, T.expert_map);
  }
  checkFinite(x as Tensor<'bf16'> | Tensor<'f32'>, T.hidden_states, false);
  checkFinite(w as Tensor<'f32'>, T.topk_weights, false);
  return {
    hidden_states: x as Tensor<'bf16'> | Tensor<'f32'>,
    topk_ids: ids as Tensor<'i32'> | Tensor<'i64'>,
    topk_weights: w as Tensor<'f32'>,
    w13_weight: w13,
    w13_weight_scale_inv: s13,
    w2_weight: w2,
    w2_weight_scale_inv: s2,
    w13_input_scale: in13,
    w2_input_scale: in2,
    ...(map ? { expert_map: map } : {}),
  };
}

/** the EP placement an expert_map is, when it is vLLM/SGLang's linear split of E over equal ranks */
function linearPlacement(map: Int32Array, El: number): { size: number; rank: number } | undefined {
  const E = map.length;
  if (El === 0 || E % El !== 0 || E === El) return undefined;
  const size = E / El;
  const first = map.findIndex((v) => v >= 0);
  if (first < 0 || first % El !== 0) return undefined;
  const rank = first / El;
  const want = expertMapFor(E, { size, rank, strategy: 'linear' });
  return want.every((v, i) => v === map[i]) ? { size, rank } : undefined;
}

/**
 * The spec of a W4AFP8 layer file: I is the model's full intermediate size, I_p · tp (tp from the recipe options the
 * caller passes, default 1); an expert_map that is a linear EP split becomes spec.expertParallel.
 */
export function w4SpecFromInputs(inputs: W4Inputs, base: Partial<LayerSpec>): LayerSpec {
  const [M, H] = inputs.hidden_states.shape as [number, number];
  const [El, twoIp] = inputs.w13_weight.shape as [number, number, number];
  const recipe = { ...DEFAULT_RECIPE, ...(base.recipe ?? {}), id: 'w4afp8' };
  const tp = recipe.options?.tp ?? 1;
  const map = inputs.expert_map?.contiguous().storage;
  const placement = map && !base.expertParallel ? linearPlacement(map as Int32Array, El) : undefined;
  return {
    ...FILE_SPEC_DEFAULTS,
    blockM: 1,
    ...base,
    ...(placement ? { expertParallel: { ...placement, strategy: 'linear' as const } } : {}),
    recipe,
    tokens: M,
    hidden: H,
    intermediate: (twoIp / 2) * tp,
    experts: map ? map.length : El,
    topk: inputs.topk_ids.shape[1]!,
  };
}
