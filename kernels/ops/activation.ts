/**
 * SiLU-and-mul between the GEMMs (docs/layouts-and-stages.md §5, docs/layouts-and-stages.md §10). gate = first N columns, up = last N columns.
 * Math in float32 with a single BF16 rounding at the end (the golden files' rule; vLLM's CUDA kernel rounds twice).
 * 'swiglu' is DeepSeek-V4 / MegaMoE's clamped SwiGLU: gate ← min(gate, c), up ← clamp(up, −c, c), clamp BEFORE silu.
 */
import { Tensor } from '../tensor';
import { MoeError, shapeStr } from '../errors';
import { decodeBf16, encodeBf16 } from '../dtypes/bf16';
import type { ActivationKind } from '../spec';

export interface ActivationOptions {
  kind: ActivationKind;
  /** SwiGLU limit c (required for 'swiglu'; ignored for 'silu') */
  clampLimit?: number;
  /** per-row expert ids (m_indices): rows holding −1 are padding, skipped and left 0 */
  rowMask?: Int32Array;
  /** per-row multiplier (MegaMoE applies the routing weight here instead of at the reduce) */
  rowScale?: Float32Array;
}

const fround = Math.fround;

/** silu(g)·u in float32 steps: g / (1 + e^−g), then the product (and the optional row weight) */
export function siluMulF32(g: number, u: number, w = 1): number {
  const s = fround(g / fround(1 + fround(Math.exp(-g))));
  const y = fround(s * u);
  return w === 1 ? y : fround(y * w);
}

export function siluAndMul(x: Tensor<'bf16'>, opts: ActivationOptions): Tensor<'bf16'> {
  const name = x.name || 'mm1_out';
  if (x.dtype !== 'bf16') throw new MoeError('E_DTYPE', `${name}: SiLU-and-mul expects bf16 input, got ${x.dtype}`, name);
  if (x.rank !== 2 || x.shape[1]! % 2 !== 0)
    throw new MoeError('E_SHAPE', `${name}: SiLU-and-mul expects shape [M, 2N] (gate then up), got ${shapeStr(x.shape)}`, name);
  const [M, twoN] = x.shape as [number, number];
  const N = twoN / 2;
  if (opts.kind !== 'silu' && opts.kind !== 'swiglu')
    throw new MoeError('E_SPEC', `activation: unknown kind '${String(opts.kind)}' (expected 'silu' or 'swiglu')`);
  const clamp = opts.kind === 'swiglu';
  const c = opts.clampLimit ?? Infinity;
  if (clamp && !(c >= 0)) throw new MoeError('E_SPEC', `activation: SwiGLU clamp limit must be ≥ 0, got ${opts.clampLimit}`);
  if (opts.rowMask && opts.rowMask.length !== M)
    throw new MoeError('E_SHAPE', `activation row mask: expected ${M} entries (one per row of ${name}), got ${opts.rowMask.length}`, name);
  if (opts.rowScale && opts.rowScale.length !== M)
    throw new MoeError('E_SHAPE', `activation row scale: expected ${M} entries (one per row of ${name}), got ${opts.rowScale.length}`, name);
  const src = x.contiguous();
  const xs = src.storage;
  const base = src.offset;
  const out = new Uint16Array(M * N);
  for (let r = 0; r < M; r++) {
    if (opts.rowMask && opts.rowMask[r]! < 0) continue;
    const w = opts.rowScale ? opts.rowScale[r]! : 1;
    const row = base + r * twoN;
    for (let n = 0; n < N; n++) {
      let g = decodeBf16(xs[row + n]!);
      let u = decodeBf16(xs[row + N + n]!);
      if (clamp) {
        if (g > c) g = c;
        u = u > c ? c : u < -c ? -c : u;
      }
      out[r * N + n] = encodeBf16(siluMulF32(g, u, w));
    }
  }
  return new Tensor('bf16', [M, N], out, undefined, 0, 'act_out');
}
