/**
 * torchao's `pad_token_groups` / `unpad_token_groups` (docs/layouts-and-stages.md §8): each expert's rows copied to its padded
 * start in a zero-filled buffer of align(M + E·128, 128) rows, and back. The zero rows matter: the wgrad quantizer
 * reads them (they quantize to code 0 and add nothing), and DeepGEMM's output for them is never read.
 */
import { Tensor } from '../../tensor';
import { MoeError, shapeStr } from '../../errors';
import type { GroupPlan } from './groups';
import type { FloatTensor } from './quantize';

export function padTokenGroups<T extends FloatTensor>(x: T, groups: GroupPlan, name: string): T {
  if (x.rank !== 2 || x.shape[0] !== groups.tokens)
    throw new MoeError('E_SHAPE', `${name}: expected ${groups.tokens} rows (Σ group_sizes), got shape ${shapeStr(x.shape)}`, name);
  const C = x.shape[1]!;
  const src = x.contiguous();
  const storage = src.storage as Uint16Array | Float32Array;
  const out = src.dtype === 'bf16' ? new Uint16Array(groups.bufferRows * C) : new Float32Array(groups.bufferRows * C);
  for (let e = 0; e < groups.sizes.length; e++) {
    const from = src.offset + groups.srcStarts[e]! * C;
    // same element type on both sides (the buffer takes the input's dtype)
    (out as Float32Array).set(storage.subarray(from, from + groups.sizes[e]! * C) as Float32Array, groups.starts[e]! * C);
  }
  return new Tensor(src.dtype, [groups.bufferRows, C], out, undefined, 0, `${name}_padded`) as T;
}

/** the real rows of a padded (bufferRows, C) BF16 GEMM output, in token order */
export function unpadTokenGroups(y: Tensor<'bf16'>, groups: GroupPlan, name: string): Tensor<'bf16'> {
  if (y.rank !== 2 || y.shape[0] !== groups.bufferRows)
    throw new MoeError('E_SHAPE', `${name}: expected ${groups.bufferRows} padded rows, got shape ${shapeStr(y.shape)}`, name);
  const C = y.shape[1]!;
  const src = y.contiguous();
  const out = new Uint16Array(groups.tokens * C);
  for (let e = 0; e < groups.sizes.length; e++) {
    const from = src.offset + groups.starts[e]! * C;
    out.set(src.storage.subarray(from, from + groups.sizes[e]! * C), groups.srcStarts[e]! * C);
  }
  return new Tensor('bf16', [groups.tokens, C], out, undefined, 0, name);
}
