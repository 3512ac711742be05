/**
 * Weight scales are per 128×128 block: (E, ⌈N/128⌉, kBlocks). SM100 wants one scale row per N (DeepGEMM broadcasts
 * row n from block ⌊n/gran⌋ before packing, docs/layouts-and-stages.md §4.2), so the same scale appears `gran` times.
 */
import { MoeError, shapeStr } from '../errors';
import { Tensor } from '../tensor';
import { ceilDiv } from './tma';

export function broadcastWeightScaleRows(ws: Tensor<'f32'>, rows: number, gran = 128): Tensor<'f32'> {
  const name = ws.name || 'weight_scale_inv';
  if (ws.dtype !== 'f32') throw new MoeError('E_DTYPE', `${name}: broadcastWeightScaleRows expects float32 block scales, got ${ws.dtype}`, ws.name);
  if (ws.rank !== 2 && ws.rank !== 3)
    throw new MoeError('E_SHAPE', `${name}: expected (E, ⌈N/${gran}⌉, kBlocks) or (⌈N/${gran}⌉, kBlocks), got ${shapeStr(ws.shape)}`, ws.name);
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(gran) || gran <= 0)
    throw new MoeError('E_VALUE', `${name}: rows (${rows}) must be a non-negative integer and gran (${gran}) a positive one`, ws.name);
  const r = ws.rank;
  const blocks = ws.shape[r - 2]!;
  if (blocks !== ceilDiv(rows, gran))
    throw new MoeError('E_SHAPE', `${name}: ${rows} rows need ⌈${rows}/${gran}⌉ = ${ceilDiv(rows, gran)} scale rows, got ${blocks} (shape ${shapeStr(ws.shape)})`, ws.name);
  const e = r === 3 ? ws.shape[0]! : 1;
  const kb = ws.shape[r - 1]!;
  const shape = r === 3 ? [e, rows, kb] : [rows, kb];
  const out = new Float32Array(e * rows * kb);
  const [es, bs, ks] = r === 3 ? ws.strides : [0, ...ws.strides];
  for (let x = 0; x < e; x++)
    for (let n = 0; n < rows; n++) {
      const src = ws.offset + x * es! + Math.floor(n / gran) * bs!;
      const dst = (x * rows + n) * kb;
      for (let j = 0; j < kb; j++) out[dst + j] = ws.storage[src + j * ks!]!;
    }
  return new Tensor('f32', shape, out, undefined, 0, ws.name);
}
