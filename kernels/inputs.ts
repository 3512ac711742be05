/**
 * Layer inputs from a safetensors file with vLLM FusedMoE names, fully validated before anything runs:
 *   hidden_states BF16|F32 [M, K] · topk_ids I32|I64 [M, topk] · topk_weights F32 [M, topk]
 *   w13_weight F8_E4M3 (U8 = raw FP8 bytes) [E, 2N, K] · w13_weight_scale_inv F32|F8_E8M0 [E, ⌈2N/128⌉, ⌈K/128⌉]
 *   w2_weight [E, K, N] · w2_weight_scale_inv [E, ⌈K/128⌉, ⌈N/128⌉] · optional expert_map I32 [E_global]
 * F8_E8M0 scales (DeepSeek-V4 checkpoints) are widened to float32 2^(b−127).
 */
import { SafetensorsFile } from './io/safetensors';
import { Tensor } from './tensor';
import { listNames, MoeError, shapeStr } from './errors';
import { decodeUe8m0 } from './dtypes/ue8m0';
import { decodeBf16 } from './dtypes/bf16';
import { DEFAULT_RECIPE, FILE_SPEC_DEFAULTS, type LayerSpec } from './spec';
import type { LayerInputs } from './backend/types';
import { validateExpertMap } from './ops/permute';
import { sharedBytes } from './ops/gemm';
import { checkMagnitudes } from './magnitude';
import { expertPagesOf } from './expertPages';
import { SPLIT, firstNanCodeParallel } from './ops/byteRangeThreads';

export const LAYER_TENSOR_NAMES = [
  'hidden_states',
  'topk_ids',
  'topk_weights',
  'w13_weight',
  'w13_weight_scale_inv',
  'w2_weight',
  'w2_weight_scale_inv',
] as const;

export function wantDtype(t: Tensor, name: string, allowed: readonly string[]): void {
  if (!allowed.includes(t.dtype))
    throw new MoeError('E_DTYPE', `${name}: expected dtype ${allowed.join(' or ')}, got ${t.dtype} with shape ${shapeStr(t.shape)}`, name);
}

export function wantShape(t: Tensor, name: string, expected: readonly number[], what: string): void {
  if (t.rank !== expected.length || expected.some((e, i) => e >= 0 && e !== t.shape[i])) {
    const exp = expected.map((e) => (e < 0 ? '*' : String(e))).join(', ');
    throw new MoeError('E_SHAPE', `${name}: expected shape [${exp}] (${what}), got ${shapeStr(t.shape)}`, name);
  }
}

/** UE8M0 bytes → float32 scales; float32 passes through */
export function scalesToF32(t: Tensor, name: string): Tensor<'f32'> {
  if (t.dtype === 'f32') return t as Tensor<'f32'>;
  const c = t.contiguous();
  const f = new Float32Array(c.numel);
  for (let i = 0; i < f.length; i++) f[i] = decodeUe8m0(c.storage[c.offset + i] as number);
  return new Tensor('f32', [...t.shape], f, undefined, 0, name);
}

/**
 * FP8 weights as f8e4m3fn on shared memory: the GEMM worker threads then read them in place on every run instead
 * of copying the active experts each time (one copy here, at load).
 */
export function asFp8(t: Tensor, name: string): Tensor<'f8e4m3fn'> {
  if (expertPagesOf(t)) return t as Tensor<'f8e4m3fn'>;
  const c = t.contiguous();
  const bytes = c.storage as Uint8Array;
  if (bytes.buffer instanceof SharedArrayBuffer && c.dtype === 'f8e4m3fn') return c as Tensor<'f8e4m3fn'>;
  // U8 holding FP8 bytes, already shared (read by kernels/io/safetensors.ts): the same bytes, seen as FP8
  if (bytes.buffer instanceof SharedArrayBuffer && c.dtype === 'u8') return new Tensor('f8e4m3fn', c.shape, bytes, undefined, c.offset, name);
  const shared = sharedBytes(c.numel);
  shared.set(bytes.subarray(c.offset, c.offset + c.numel));
  return new Tensor('f8e4m3fn', c.shape, shared, undefined, 0, name);
}

export function checkFinite(t: Tensor<'f32'> | Tensor<'bf16'>, name: string, positive: boolean): void {
  const c = t.contiguous();
  const i = firstNonFinite(c, positive);
  if (i < 0) return;
  const x = c.dtype === 'bf16' ? decodeBf16(c.storage[i]!) : c.storage[i]!;
  const idx: number[] = [];
  let rest = i;
  for (let d = t.rank - 1; d >= 0; d--) {
    idx.unshift(rest % t.shape[d]!);
    rest = Math.floor(rest / t.shape[d]!);
  }
  throw new MoeError('E_VALUE', `${name}[${idx.join(', ')}] = ${x}: expected ${positive ? 'a positive finite scale' : 'a finite value'}`, name);
}

/**
 * Index of the first element that is NaN or ±Inf (or, with `positive`, not > 0) of a row-major tensor, or −1. BF16 is
 * judged by its bits (exponent all ones: NaN/Inf; sign set or all zero: not > 0), without decoding to float32 —
 * a 4096 × 7168 hidden_states took 0.4 s through toFloat32 and a fresh 117 MB array.
 */
function firstNonFinite(c: Tensor<'f32'> | Tensor<'bf16'>, positive: boolean): number {
  // one loop per element type: a loop that sees both array kinds checks the kind on every access (2x slower)
  return c.dtype === 'bf16' ? firstNonFiniteBf16(c.storage as Uint16Array, positive) : firstNonFiniteF32(c.storage as Float32Array, positive);
}

function firstNonFiniteBf16(h: Uint16Array, positive: boolean): number {
  if (positive) {
    for (let i = 0; i < h.length; i++) {
      const b = h[i]!;
      if ((b & 0x7f80) === 0x7f80 || (b & 0x8000) !== 0 || (b & 0x7fff) === 0) return i;
    }
    return -1;
  }
  for (let i = 0; i < h.length; i++) if ((h[i]! & 0x7f80) === 0x7f80) return i;
  return -1;
}

function firstNonFiniteF32(v: Float32Array, positive: boolean): number {
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x - x !== 0 || (positive && !(x > 0))) return i;
  }
  return -1;
}

/**
 * FP8 NaN codes (0x7F, 0xFF) in weights would turn whole output rows into NaN silently. The scan looks for each of the
 * two byte values with Buffer.indexOf (memchr: ~10 GB/s here, 6x a four-bytes-at-a-time loop in JS), on several
 * threads for large shared weights (kernels/ops/byteRangeThreads.ts).
 */
export function checkFp8Codes(t: Tensor<'f8e4m3fn'>, name: string): void {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const refuse = (at: number, code: number): never => {
    throw new MoeError('E_VALUE', `${name}: byte ${at} (expert ${Math.floor(at / per)}) is an FP8 E4M3FN NaN code 0x${code.toString(16)}; weights must be finite`, name);
  };
  const pages = expertPagesOf(t);
  if (pages) {
    // made per expert (kernels/expertPages.ts): scanned one expert at a time through one reused buffer (fresh
    // memory per expert would pay its page faults each time), positions reported as in the whole tensor
    const buf = new Uint8Array(pages.perExpert);
    for (let e = 0; e < t.shape[0]!; e++) {
      pages.fill(e, buf);
      const at = firstNanCode(buf);
      if (at >= 0) refuse(e * per + at, buf[at]!);
    }
    return;
  }
  const c = t.contiguous();
  const bytes = c.storage.subarray(c.offset, c.offset + c.numel);
  const at = firstNanCode(bytes);
  if (at >= 0) refuse(at, bytes[at]!);
}

/** Index of the first FP8 E4M3FN NaN code (0x7F, 0xFF) in `bytes`, or −1; large shared ranges on several threads. */
export function firstNanCode(bytes: Uint8Array): number {
  if (bytes.buffer instanceof SharedArrayBuffer && bytes.length >= SPLIT.minBytes) return firstNanCodeParallel(bytes, firstNanCodeHere);
  return firstNanCodeHere(bytes);
}

function firstNanCodeHere(bytes: Uint8Array): number {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pos = b.indexOf(0x7f);
  // the 0xFF search stops where a 0x7F was found: only an earlier one matters
  const neg = (pos < 0 ? b : b.subarray(0, pos)).indexOf(0xff);
  return neg >= 0 ? neg : pos;
}

/**
 * Validates a set of tensors under vLLM names and returns them typed. `raw` may hold FP8 as u8 and scales as ue8m0.
 * Every mismatch names the tensor, the expected and the actual shape or dtype.
 */
export function inputsFromTensors(raw: Record<string, Tensor | undefined>, opts: { checkValues?: boolean } = {}): LayerInputs {
  for (const n of LAYER_TENSOR_NAMES)
    if (!raw[n]) throw new MoeError('E_FORMAT', `layer inputs: missing tensor '${n}' (needed: ${LAYER_TENSOR_NAMES.join(', ')}; optional: expert_map)`, n);
  const x = raw.hidden_states!;
  wantDtype(x, 'hidden_states', ['bf16', 'f32']);
  if (x.rank !== 2) throw new MoeError('E_SHAPE', `hidden_states: expected shape [M, K], got ${shapeStr(x.shape)}`, 'hidden_states');
  const [M, K] = x.shape as [number, number];
  const ids = raw.topk_ids!;
  wantDtype(ids, 'topk_ids', ['i32', 'i64']);
  if (ids.rank !== 2) throw new MoeError('E_SHAPE', `topk_ids: expected shape [${M}, topk], got ${shapeStr(ids.shape)}`, 'topk_ids');
  wantShape(ids, 'topk_ids', [M, -1], 'M tokens of hidden_states × topk');
  const k = ids.shape[1]!;
  const w = raw.topk_weights!;
  wantDtype(w, 'topk_weights', ['f32']);
  wantShape(w, 'topk_weights', [M, k], 'same as topk_ids');
  const w13 = raw.w13_weight!;
  wantDtype(w13, 'w13_weight', ['f8e4m3fn', 'u8']);
  if (w13.rank !== 3 || w13.shape[2] !== K || w13.shape[1]! % 2 !== 0)
    throw new MoeError('E_SHAPE', `w13_weight: expected shape [E, 2N, ${K}] (gate and up rows, K = hidden of hidden_states), got ${shapeStr(w13.shape)}`, 'w13_weight');
  const [E, twoN] = w13.shape as [number, number, number];
  const N = twoN / 2;
  const w2 = raw.w2_weight!;
  wantDtype(w2, 'w2_weight', ['f8e4m3fn', 'u8']);
  wantShape(w2, 'w2_weight', [E, K, N], `E experts × K hidden × N intermediate, from w13_weight ${shapeStr(w13.shape)}`);
  const s13 = raw.w13_weight_scale_inv!;
  wantDtype(s13, 'w13_weight_scale_inv', ['f32', 'ue8m0']);
  wantShape(s13, 'w13_weight_scale_inv', [E, Math.ceil(twoN / 128), Math.ceil(K / 128)], 'one scale per 128×128 block of w13_weight');
  const s2 = raw.w2_weight_scale_inv!;
  wantDtype(s2, 'w2_weight_scale_inv', ['f32', 'ue8m0']);
  wantShape(s2, 'w2_weight_scale_inv', [E, Math.ceil(K / 128), Math.ceil(N / 128)], 'one scale per 128×128 block of w2_weight');
  let map: Tensor<'i32'> | undefined;
  if (raw.expert_map) {
    const m = raw.expert_map;
    wantDtype(m, 'expert_map', ['i32']);
    if (m.rank !== 1) throw new MoeError('E_SHAPE', `expert_map: expected shape [E_global], got ${shapeStr(m.shape)}`, 'expert_map');
    map = m.contiguous() as Tensor<'i32'>;
    const local = validateExpertMap(map.storage.subarray(map.offset, map.offset + map.numel), map.numel);
    if (local !== E)
      throw new MoeError('E_SHAPE', `expert_map: maps to ${local} local experts but w13_weight holds ${E} (shape ${shapeStr(w13.shape)})`, 'expert_map');
  }
  const inputs: LayerInputs = {
    hidden_states: x as Tensor<'bf16'> | Tensor<'f32'>,
    topk_ids: ids as Tensor<'i32'> | Tensor<'i64'>,
    topk_weights: w as Tensor<'f32'>,
    w13_weight: asFp8(w13, 'w13_weight'),
    w13_weight_scale_inv: scalesToF32(s13, 'w13_weight_scale_inv'),
    w2_weight: asFp8(w2, 'w2_weight'),
    w2_weight_scale_inv: scalesToF32(s2, 'w2_weight_scale_inv'),
    ...(map ? { expert_map: map } : {}),
  };
  if (opts.checkValues !== false) validateValues(inputs);
  return inputs;
}

/** Non-finite activations, routing weights and scales, NaN FP8 weight codes and overflowing magnitudes, refused with their position. */
export function validateValues(inputs: LayerInputs): void {
  checkFinite(inputs.hidden_states, 'hidden_states', false);
  checkFinite(inputs.topk_weights, 'topk_weights', false);
  checkFinite(inputs.w13_weight_scale_inv, 'w13_weight_scale_inv', true);
  checkFinite(inputs.w2_weight_scale_inv, 'w2_weight_scale_inv', true);
  checkFp8Codes(inputs.w13_weight, 'w13_weight');
  checkFp8Codes(inputs.w2_weight, 'w2_weight');
  // finite but absurd magnitudes (3e38) that would overflow a stage: see kernels/magnitude.ts for the bounds
  checkMagnitudes(inputs);
}

export function loadLayerFile(path: string): LayerInputs {
  const f = SafetensorsFile.open(path);
  try {
    const raw: Record<string, Tensor | undefined> = {};
    for (const n of [...LAYER_TENSOR_NAMES, 'expert_map']) if (f.has(n)) raw[n] = f.read(n);
    const missing = LAYER_TENSOR_NAMES.filter((n) => !raw[n]);
    if (missing.length)
      throw new MoeError(
        'E_FORMAT',
        `${path}: missing ${missing.join(', ')}; a layer file needs vLLM FusedMoE names (${LAYER_TENSOR_NAMES.join(', ')}, optional expert_map); it has: ${listNames(f.names())}`,
        missing[0],
      );
    return inputsFromTensors(raw);
  } finally {
    f.close();
  }
}

/** A LayerSpec describing the inputs (shapes from the tensors; everything else from `base` or the defaults). */
export function specFromInputs(inputs: LayerInputs, base: Partial<LayerSpec> = {}): LayerSpec {
  const [M, K] = inputs.hidden_states.shape as [number, number];
  const [E, twoN] = inputs.w13_weight.shape as [number, number, number];
  return {
    ...FILE_SPEC_DEFAULTS,
    recipe: { ...DEFAULT_RECIPE },
    ...base,
    tokens: M,
    hidden: K,
    intermediate: twoN / 2,
    experts: inputs.expert_map ? inputs.expert_map.numel : E,
    topk: inputs.topk_ids.shape[1]!,
  };
}
