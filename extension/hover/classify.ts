/**
 * What a hovered tensor most likely is in an FP8 MoE layer, from its name, dtype, shape and strides alone, and what
 * the kernels will do with it (docs/layouts-and-stages.md §4: SM90 wants float32 MN-major scales with the MN stride = align(MN, 4);
 * SM100 wants packed UE8M0 int32, MN-major; weight scales are used as they are on SM90). Pure: no I/O, no vscode.
 * Each rule is one small function; the first that recognises the tensor wins, and a tensor nothing recognises
 * gets no guess rather than a wrong one.
 */
import { tmaAlignedSize } from '../../kernels/layout/tma';
import { sm90Strides } from '../../kernels/layout/sm90';
import type { ProbedTensor } from './types';
import { RECIPES } from '../../kernels/recipes/index';

export type Verdict = 'ok' | 'warn' | 'info';

export interface Classification {
  /** what it is, e.g. "activation scales, FP32, MN-major, TMA-aligned" */
  what: string;
  /** what the kernels do with it, e.g. "ready for DeepGEMM on SM90" */
  consequence: string;
  verdict: Verdict;
}

/** Facts a rule reads; `name` is the hovered leaf name, lower-cased. */
export type ClassifyInput = Pick<ProbedTensor, 'dtype' | 'shape' | 'strides' | 'itemBytes' | 'cContiguous' | 'major'> & { name: string };

type Rule = (t: ClassifyInput) => Classification | undefined;

/** MN extent after TMA padding: 16 bytes' worth of elements (align(M, 4) for 4-byte scales). */
export const tmaAlignedMN = (mn: number, itemBytes: number): number =>
  // complex256, zero-size void dtypes...: no TMA alignment is defined, and a hover must not throw over it
  Number.isInteger(itemBytes) && itemBytes > 0 && 16 % itemBytes === 0 ? tmaAlignedSize(mn, itemBytes) : NaN;

const dims = (shape: readonly number[]): string => shape.join('×');

/**
 * The exact strides DeepGEMM accepts without re-laying scales out: SM90 float32 (kernels/layout sm90Strides, the
 * same test as isSm90Ready) and SM100 packed int32 (the same test as isSm100PackedReady), on shape and strides
 * alone because the hover has no storage, only the probe's metadata.
 */
function isTmaMnMajor(t: ClassifyInput): boolean {
  const s = t.strides;
  const n = t.shape.length;
  if (!s || n < 2 || n > 3 || t.itemBytes !== 4) return false;
  if (t.dtype === 'float32') return sm90Strides(t.shape).every((want, i) => s[i] === want);
  const mn = t.shape[n - 2]!;
  const mnOk = s[n - 2] === 1 || mn === 1;
  const kOk = s[n - 1] === tmaAlignedSize(mn, 4);
  const gOk = n === 2 || s[0] === s[n - 1]! * t.shape[n - 1]!;
  return mnOk && kOk && gOk;
}

const isRowMajor = (t: ClassifyInput): boolean => t.cContiguous === true;

const WEIGHT_SCALE = /weight_scale|_scale_inv$|^w(13|2|1|3)_.*s(cale)?$/;
const SCALE = /scale|(^|_)sf(a|b)?(_|$)/;
const WEIGHT = /weight|^w(13|2|1|3)(_|$)/;

const weightScales: Rule = (t) => {
  if (!WEIGHT_SCALE.test(t.name) || (t.shape.length !== 3 && t.shape.length !== 2)) return undefined;
  const blocks = `${dims(t.shape)}, one per 128×128 block`;
  if (t.dtype === 'float32') {
    if (isRowMajor(t))
      return {
        what: `weight scales 128×128 blocks (${blocks}), FP32, row-major`,
        consequence: 'DeepGEMM uses these as they are on SM90 but will broadcast and pack them on SM100',
        verdict: 'ok',
      };
    return {
      what: `weight scales 128×128 blocks (${blocks}), FP32, not row-major`,
      consequence: 'the kernels read weight scales row-major: call .contiguous() first',
      verdict: 'warn',
    };
  }
  if (t.dtype === 'float8_e8m0fnu')
    return {
      what: `weight scales 128×128 blocks (${blocks}), UE8M0 bytes (the DeepSeek-V4 checkpoint format)`,
      consequence: 'SM100 packs them into int32 (after broadcasting to one row per N); SM90 needs them as float32',
      verdict: 'info',
    };
  if (t.dtype === 'int32' && isTmaMnMajor(t))
    return { what: 'packed UE8M0 weight scales (int32, 4 K-blocks per word), MN-major', consequence: 'SM100 layout', verdict: 'ok' };
  return undefined;
};

const activationScales: Rule = (t) => {
  if (!SCALE.test(t.name) || WEIGHT_SCALE.test(t.name) || (t.shape.length !== 2 && t.shape.length !== 3)) return undefined;
  const n = t.shape.length;
  const m = t.shape[n - 2]!;
  const ma = tmaAlignedMN(m, t.itemBytes);
  if (t.dtype === 'float32') {
    if (isTmaMnMajor(t))
      return { what: 'activation scales, FP32, MN-major, TMA-aligned', consequence: 'ready for DeepGEMM on SM90', verdict: 'ok' };
    if (t.major === 'MN')
      return {
        what: `activation scales, FP32, MN-major but the M stride is ${t.strides?.[n - 1]} (TMA wants align(${m}, 4) = ${ma})`,
        consequence: 'DeepGEMM will re-lay these out on every call',
        verdict: 'warn',
      };
    if (isRowMajor(t))
      return { what: 'activation scales row-major', consequence: 'DeepGEMM will transpose these on every call', verdict: 'warn' };
    return { what: 'activation scales, FP32, strided', consequence: 'DeepGEMM will copy these into its layout on every call', verdict: 'warn' };
  }
  if (t.dtype === 'int32') {
    if (isTmaMnMajor(t))
      return { what: 'packed UE8M0 int32, MN-major', consequence: 'SM100 layout (4 K-blocks per word, M padded to a multiple of 4)', verdict: 'ok' };
    return { what: 'packed UE8M0 int32, not MN-major', consequence: 'SM100 wants the words MN-major with M padded to 4: it will re-lay them out', verdict: 'warn' };
  }
  if (t.dtype === 'float8_e8m0fnu')
    return { what: 'activation scales as UE8M0 bytes', consequence: 'SM100 packs 4 per int32 word; SM90 wants float32', verdict: 'info' };
  if (t.dtype === 'bfloat16' || t.dtype === 'float16')
    return { what: `activation scales in ${t.dtype.toUpperCase()}`, consequence: 'DeepGEMM takes float32 (SM90) or packed UE8M0 (SM100) scales', verdict: 'warn' };
  return undefined;
};

const fp8Weights: Rule = (t) => {
  if (t.dtype !== 'float8_e4m3fn' || !WEIGHT.test(t.name) || t.shape.length !== 3) return undefined;
  const [e, rows, k] = t.shape as [number, number, number];
  const role = t.name.includes('w2') ? `w2: (E=${e}, K=${rows}, N=${k})` : t.name.includes('w13') ? `w13: (E=${e}, 2N=${rows}, K=${k})` : `(E=${e}, ${rows}, ${k})`;
  if (!isRowMajor(t))
    return { what: `FP8 E4M3 expert weights ${role}, not contiguous`, consequence: 'DeepGEMM needs contiguous K-major B: vLLM falls back to Triton', verdict: 'warn' };
  if (rows % 128 !== 0 || k % 128 !== 0)
    return { what: `FP8 E4M3 expert weights ${role}`, consequence: 'dimensions not multiples of 128: DeepGEMM will not take them (vLLM uses Triton)', verdict: 'warn' };
  return { what: `FP8 E4M3 expert weights ${role}, K-major`, consequence: "the grouped GEMM's B operand, as DeepGEMM wants it", verdict: 'ok' };
};

const fp8Activations: Rule = (t) => {
  if (t.dtype !== 'float8_e4m3fn' || t.shape.length !== 2) return undefined;
  const [m, k] = t.shape as [number, number];
  if (!isRowMajor(t)) return { what: `FP8 E4M3 activations (M=${m}, K=${k}), not contiguous`, consequence: 'DeepGEMM needs contiguous A', verdict: 'warn' };
  return { what: `FP8 E4M3 activations (M=${m}, K=${k}), K-major`, consequence: "the grouped GEMM's A operand", verdict: 'ok' };
};

const isInt = (d: string): boolean => d === 'int32' || d === 'int64';

const routing: Rule = (t) => {
  if (/topk_(ids|idx|indices)/.test(t.name) && isInt(t.dtype) && t.shape.length === 2)
    return { what: `router top-k expert ids (M=${t.shape[0]} tokens, top-${t.shape[1]}, ${t.dtype})`, consequence: 'input of the permutation stage', verdict: 'info' };
  if (/topk_weights/.test(t.name) && t.shape.length === 2)
    return { what: `router weights (M=${t.shape[0]} tokens, top-${t.shape[1]}, ${t.dtype})`, consequence: 'multiplied in at the final weighted reduce', verdict: 'info' };
  if (/m_indices/.test(t.name) && isInt(t.dtype) && t.shape.length === 1)
    return { what: `per-row expert id of the contiguous grouped layout (M_sum=${t.shape[0]})`, consequence: '−1 marks padding rows', verdict: 'info' };
  if (/expert_map/.test(t.name) && isInt(t.dtype) && t.shape.length === 1)
    return { what: `expert map (${t.shape[0]} global experts → local id)`, consequence: '−1 = expert on another rank', verdict: 'info' };
  if (/hidden_states/.test(t.name) && t.shape.length === 2 && (t.dtype === 'bfloat16' || t.dtype === 'float32'))
    return { what: `hidden states (M=${t.shape[0]} tokens, K=${t.shape[1]}, ${t.dtype})`, consequence: 'the MoE layer input, quantized per 128-group before GEMM1', verdict: 'info' };
  return undefined;
};

/** Layout alone, when the name says nothing: only the two unmistakable kernel layouts. */
const byLayoutOnly: Rule = (t) => {
  if (t.dtype === 'int32' && t.major === 'MN' && isTmaMnMajor(t))
    return { what: 'packed UE8M0 int32, MN-major (by layout)', consequence: 'SM100 scale layout', verdict: 'info' };
  if (t.dtype === 'float32' && t.major === 'MN' && isTmaMnMajor(t))
    return { what: 'FP32, MN-major, TMA-aligned (by layout)', consequence: 'the SM90 scale-factor layout DeepGEMM wants', verdict: 'info' };
  return undefined;
};

/** engine dtype names (recipes may use them in hints) → the torch/NumPy names the probe reports */
const PROBE_DTYPE: Readonly<Record<string, string>> = { f32: 'float32', bf16: 'bfloat16', f8e4m3fn: 'float8_e4m3fn', i32: 'int32', i64: 'int64', u8: 'uint8', i8: 'int8', i4x2: 'int8' };

/**
 * The recipes' own tensors (kernels/recipes/<id>/hover.ts): a hint names the tensor and what it is in that recipe.
 * After the generic rules, so a recipe that reuses vLLM's names with vLLM's meaning keeps the generic verdict.
 */
const recipeHints: Rule = (t) => {
  for (const r of RECIPES)
    for (const h of r.hoverHints ?? []) {
      if (!h.name.test(t.name)) continue;
      if (h.dtype && h.dtype !== t.dtype && PROBE_DTYPE[h.dtype] !== t.dtype) continue;
      if (h.rank !== undefined && h.rank !== t.shape.length) continue;
      if (h.shape && !h.shape(t.shape)) continue;
      return { what: h.text, consequence: `${r.label} recipe`, verdict: 'info' };
    }
  return undefined;
};

const RULES: readonly Rule[] = [weightScales, activationScales, fp8Weights, fp8Activations, routing, recipeHints, byLayoutOnly];

export function classifyTensor(t: ClassifyInput): Classification | undefined {
  const input = { ...t, name: t.name.toLowerCase() };
  for (const rule of RULES) {
    const c = rule(input);
    if (c) return c;
  }
  return undefined;
}
