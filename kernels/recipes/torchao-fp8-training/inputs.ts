/**
 * A torchao FP8 training layer file (docs/layouts-and-stages.md §8): the grouped GEMM's operands and the upstream gradient.
 *   input        (M, K) BF16 (F32 accepted, as torchao's op takes it)   forward activations A, tokens grouped by expert
 *   grad_output  (M, N) BF16 (or F32)                                   ∂loss/∂output of the forward
 *   weight       (E, N, K) BF16 (or F32)                                expert weights; torchao's B_t is weightᵀ per expert
 *   group_sizes  (E,) I32                                               tokens per expert, in order; Σ = M
 * Every problem is a one-line MoeError naming the tensor, what was expected and what was found.
 */
import type { Tensor } from '../../tensor';
import { MoeError, shapeStr } from '../../errors';
import { DEFAULT_RECIPE, FILE_SPEC_DEFAULTS, type LayerSpec } from '../../spec';
import { wantDtype } from '../../inputs';
import { RECIPE_ID, TT } from './tensors';
import { planGroups, type GroupPlan } from './groups';
import type { FloatTensor } from './quantize';

export interface TorchaoInputs {
  input: FloatTensor;
  grad_output: FloatTensor;
  weight: FloatTensor;
  group_sizes: Tensor<'i32'>;
}

export { RECIPE_ID };
export const TORCHAO_INPUT_NAMES = [TT.input, TT.grad_output, TT.weight, TT.group_sizes] as const;
const FLOAT = ['bf16', 'f32'];

/** the group sizes as integers, checked: one per expert, ≥ 0, summing to the rows of `input` */
export function groupSizesOf(sizes: Tensor, E: number, M: number): Int32Array {
  if (sizes.dtype !== 'i32')
    throw new MoeError('E_DTYPE', `group_sizes: expected dtype i32 (torchao's group offsets are int32), got ${sizes.dtype} with shape ${shapeStr(sizes.shape)}`, TT.group_sizes);
  if (sizes.rank !== 1 || sizes.shape[0] !== E)
    throw new MoeError('E_SHAPE', `group_sizes: expected shape [${E}] (one token count per expert of weight), got ${shapeStr(sizes.shape)}`, TT.group_sizes);
  const c = sizes.contiguous();
  const v = Int32Array.from(c.storage.subarray(c.offset, c.offset + E) as Int32Array);
  let total = 0;
  for (let e = 0; e < E; e++) {
    if (v[e]! < 0) throw new MoeError('E_RANGE', `group_sizes[${e}] = ${v[e]}: a token count must be ≥ 0`, TT.group_sizes);
    total += v[e]!;
  }
  if (total !== M)
    throw new MoeError('E_VALUE', `group_sizes: the counts sum to ${total} but input has M = ${M} rows; group_sizes[e] is the number of consecutive rows of input routed to expert e`, TT.group_sizes);
  return v;
}

export function torchaoInputsFromTensors(raw: Record<string, Tensor | undefined>): TorchaoInputs {
  for (const n of TORCHAO_INPUT_NAMES)
    if (!raw[n]) throw new MoeError('E_FORMAT', `torchao training layer: missing tensor '${n}' (needed: ${TORCHAO_INPUT_NAMES.join(', ')})`, n);
  const x = raw.input!;
  wantDtype(x, TT.input, FLOAT);
  if (x.rank !== 2) throw new MoeError('E_SHAPE', `input: expected shape [M, K] (tokens grouped by expert × hidden), got ${shapeStr(x.shape)}`, TT.input);
  const [M, K] = x.shape as [number, number];
  if (K % 128 !== 0)
    throw new MoeError('E_SHAPE', `input: K = ${K} (shape ${shapeStr(x.shape)}) is not a multiple of 128: torchao's 1×128 quantization groups and DeepGEMM's blocks need it; pad K to ${Math.ceil(K / 128) * 128}`, TT.input);
  const w = raw.weight!;
  wantDtype(w, TT.weight, FLOAT);
  if (w.rank !== 3 || w.shape[2] !== K)
    throw new MoeError('E_SHAPE', `weight: expected shape [E, N, ${K}] (experts × out features × K of input ${shapeStr(x.shape)}), got ${shapeStr(w.shape)}`, TT.weight);
  const [E, N] = w.shape as [number, number, number];
  if (E < 1) throw new MoeError('E_SHAPE', `weight: needs at least one expert, got shape ${shapeStr(w.shape)}`, TT.weight);
  if (N % 128 !== 0)
    throw new MoeError('E_SHAPE', `weight: N = ${N} (shape ${shapeStr(w.shape)}) is not a multiple of 128: the 128×128 weight blocks and the dgrad 1×128 groups need it; pad N to ${Math.ceil(N / 128) * 128}`, TT.weight);
  const g = raw.grad_output!;
  wantDtype(g, TT.grad_output, FLOAT);
  if (g.rank !== 2 || g.shape[0] !== M || g.shape[1] !== N)
    throw new MoeError('E_SHAPE', `grad_output: expected shape [${M}, ${N}] (rows of input × N of weight), got ${shapeStr(g.shape)}`, TT.grad_output);
  const sizes = raw.group_sizes!;
  groupSizesOf(sizes, E, M);
  const inputs: TorchaoInputs = {
    input: x as FloatTensor,
    grad_output: g as FloatTensor,
    weight: w as FloatTensor,
    group_sizes: sizes.contiguous() as Tensor<'i32'>,
  };
  for (const n of [TT.input, TT.grad_output, TT.weight] as const) checkFiniteValues(inputs[n], n);
  return inputs;
}

/** the first ±inf/NaN of a float tensor, refused with its index; scans the storage (no float32 copy of a weight) */
export function checkFiniteValues(t: FloatTensor, name: string): void {
  const c = t.contiguous();
  let bad = -1;
  if (c.dtype === 'bf16') {
    const s = c.storage as Uint16Array;
    for (let i = 0; i < c.numel; i++)
      if ((s[c.offset + i]! & 0x7f80) === 0x7f80) {
        bad = i;
        break;
      }
  } else {
    const s = c.storage as Float32Array;
    for (let i = 0; i < c.numel; i++)
      if (!Number.isFinite(s[c.offset + i]!)) {
        bad = i;
        break;
      }
  }
  if (bad < 0) return;
  const idx: number[] = [];
  let rest = bad;
  for (let d = t.rank - 1; d >= 0; d--) {
    idx.unshift(rest % t.shape[d]!);
    rest = Math.floor(rest / t.shape[d]!);
  }
  const v = c.get(...idx);
  throw new MoeError('E_VALUE', `${name}[${idx.join(', ')}] = ${v}: expected a finite value (FP8 quantization of a non-finite value poisons its whole 128-group)`, name);
}

export function groupsOf(inputs: TorchaoInputs): GroupPlan {
  return planGroups(groupSizesOf(inputs.group_sizes, inputs.weight.shape[0]!, inputs.input.shape[0]!));
}

/** LayerSpec of a layer file: tokens = M, hidden = K, intermediate = N, experts = E (top-k plays no part: 1) */
export function torchaoSpecFromInputs(inputs: TorchaoInputs, base: Partial<LayerSpec>): LayerSpec {
  const [M, K] = inputs.input.shape as [number, number];
  const [E, N] = inputs.weight.shape as [number, number, number];
  return {
    ...FILE_SPEC_DEFAULTS,
    ...base,
    recipe: { ...DEFAULT_RECIPE, ...(base.recipe ?? {}), id: RECIPE_ID },
    tokens: M,
    hidden: K,
    intermediate: N,
    experts: E,
    topk: 1,
  };
}
