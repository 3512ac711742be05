/**
 * SGLang's `interleave_scales` for the W4AFP8 CUTLASS grouped GEMM (docs/layouts-and-stages.md §9): the group scales of one
 * weight, logically (E, R, Kg) — R output rows, Kg = K/128 groups along K — are cast to BF16 and re-laid out so that
 * α consecutive K-groups of a row sit next to each other and the rows of one K-group block follow each other:
 *   reshape (E, R, Kg) → (E, R, Kg/α, α) → permute (E, Kg/α, R, α) → flatten (E, Kg/α, R·α),
 *   out[e, j, α·r + i] = s[e, r, α·j + i],  α = 4 when Kg % 4 == 0, else 1 (then a plain transpose to (E, Kg, R)).
 * The index helpers below are the only place the map is written down: the transform, the run's GEMMs (which read
 * the interleaved tensor, as the kernel does) and the picture all go through them.
 */
import { Tensor } from '../../tensor';
import { MoeError, shapeStr } from '../../errors';
import { encodeBf16 } from '../../dtypes/bf16';

/** α of a weight whose scales have kGroups groups along K */
export const interleaveAlpha = (kGroups: number): 1 | 4 => (kGroups % 4 === 0 ? 4 : 1);

/** shape of the interleaved scales of an (E, R, Kg) scale tensor */
export function interleavedShape(E: number, R: number, Kg: number): [number, number, number] {
  const a = interleaveAlpha(Kg);
  return [E, Kg / a, R * a];
}

/** flat offset in the interleaved (E, Kg/α, R·α) tensor of the scale of row r, K-group k, expert e */
export function interleavedOffset(R: number, Kg: number, alpha: number, e: number, r: number, k: number): number {
  return (e * (Kg / alpha) + Math.floor(k / alpha)) * R * alpha + alpha * r + (k % alpha);
}

/** which (row, K-group) of the loaded scales lands at out[e, j, col] (the inverse map, for pictures and tests) */
export function interleaveSource(alpha: number, j: number, col: number): { row: number; group: number } {
  return { row: Math.floor(col / alpha), group: alpha * j + (col % alpha) };
}

/**
 * (E, R, Kg) float32 (or BF16) scales → (E, Kg/α, R·α) BF16, cast with round-to-nearest-even (torch .to(bfloat16)).
 * `name` is the tensor the result is named after (the transform keeps the input's name).
 */
export function interleaveScales(s: Tensor, name: string): { tensor: Tensor<'bf16'>; alpha: 1 | 4 } {
  if (s.dtype !== 'f32' && s.dtype !== 'bf16') throw new MoeError('E_DTYPE', `${name}: interleaving needs float32 or bf16 group scales, got ${s.dtype}`, name);
  if (s.rank !== 3 || s.shape[2] === 0)
    throw new MoeError('E_SHAPE', `${name}: expected group scales [E, rows, K/128] with at least one K-group, got ${shapeStr(s.shape)}`, name);
  const [E, R, Kg] = s.shape as [number, number, number];
  const alpha = interleaveAlpha(Kg);
  // (a contiguous float32 tensor is read in place: DeepSeek-size scale tensors hold millions of values)
  const vals = s.dtype === 'f32' && s.isContiguous() ? (s.storage as Float32Array).subarray(s.offset, s.offset + s.numel) : s.toFloat32();
  const out = new Uint16Array(E * R * Kg);
  for (let e = 0; e < E; e++)
    for (let r = 0; r < R; r++) {
      const from = (e * R + r) * Kg;
      for (let k = 0; k < Kg; k++) out[interleavedOffset(R, Kg, alpha, e, r, k)] = encodeBf16(vals[from + k]!);
    }
  return { tensor: new Tensor('bf16', interleavedShape(E, R, Kg), out, undefined, 0, name), alpha };
}
