/**
 * Unpermute and weighted reduce (docs/layouts-and-stages.md §5, docs/layouts-and-stages.md §5.5):
 *   y[t] = Σ over slots with a local expert of w[t, s] · d2[inv_perm[t, s]], float32 sum in slot order, stored BF16.
 * A token with no local expert gets 0. With unitWeights (weights applied earlier: on the input or at the activation)
 * the sum uses weight 1.
 */
import { Tensor } from '../tensor';
import { MoeError, shapeStr } from '../errors';
import { decodeBf16, encodeBf16 } from '../dtypes/bf16';

const fround = Math.fround;

export function unpermuteReduce(
  d2: Tensor<'bf16'>,
  invPerm: Tensor<'i32'>,
  topkWeights: Tensor<'f32'>,
  opts: { unitWeights?: boolean } = {},
): Tensor<'bf16'> {
  if (d2.dtype !== 'bf16') throw new MoeError('E_DTYPE', `mm2_out: expected dtype bf16, got ${d2.dtype}`, 'mm2_out');
  if (d2.rank < 2) throw new MoeError('E_SHAPE', `mm2_out: expected shape [M_sum, K] (or [E_l, maxM, K]), got ${shapeStr(d2.shape)}`, 'mm2_out');
  if (invPerm.dtype !== 'i32') throw new MoeError('E_DTYPE', `inv_perm: expected dtype i32, got ${invPerm.dtype}`, 'inv_perm');
  if (invPerm.rank !== 2) throw new MoeError('E_SHAPE', `inv_perm: expected shape [M, topk], got ${shapeStr(invPerm.shape)}`, 'inv_perm');
  const [M, k] = invPerm.shape as [number, number];
  if (topkWeights.dtype !== 'f32') throw new MoeError('E_DTYPE', `topk_weights: expected dtype f32, got ${topkWeights.dtype}`, 'topk_weights');
  if (topkWeights.rank !== 2 || topkWeights.shape[0] !== M || topkWeights.shape[1] !== k)
    throw new MoeError('E_SHAPE', `topk_weights: expected shape [${M}, ${k}] (same as inv_perm), got ${shapeStr(topkWeights.shape)}`, 'topk_weights');
  const K = d2.shape[d2.rank - 1]!;
  const rows = d2.numel / Math.max(1, K);
  const src = d2.contiguous();
  const ds = src.storage;
  const out = new Uint16Array(M * K);
  const acc = new Float32Array(K);
  for (let t = 0; t < M; t++) {
    acc.fill(0);
    let any = false;
    for (let s = 0; s < k; s++) {
      const row = invPerm.raw(t, s);
      if (row < 0) continue;
      if (row >= rows)
        throw new MoeError('E_RANGE', `inv_perm: token ${t}, slot ${s} points at row ${row} but mm2_out has ${rows} rows`, 'inv_perm');
      const w = opts.unitWeights ? 1 : topkWeights.get(t, s);
      const off = src.offset + row * K;
      // Float32Array stores round each partial sum to float32: fl(acc + fl(w·v))
      for (let c = 0; c < K; c++) acc[c] = acc[c]! + fround(w * decodeBf16(ds[off + c]!));
      any = true;
    }
    if (!any) continue;
    for (let c = 0; c < K; c++) out[t * K + c] = encodeBf16(acc[c]!);
  }
  return new Tensor('bf16', [M, K], out, undefined, 0, 'output');
}
