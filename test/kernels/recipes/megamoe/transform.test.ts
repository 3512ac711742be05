import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recipeById } from '../../../../kernels/recipes/index';
import { interleaveMap, utccpSourceRow } from '../../../../kernels/recipes/megamoe/interleave';
import { broadcastWeightScaleRows } from '../../../../kernels/layout/weightScales';
import { toSm100PackedUe8m0 } from '../../../../kernels/layout/sm100';
import { Tensor } from '../../../../kernels/tensor';
import { MoeError } from '../../../../kernels/errors';
import { exponentByte } from '../../../../kernels/dtypes/ue8m0';
import { naturalLayer } from './helpers';

const megamoeSm90 = recipeById('megamoe-sm90');
const megamoeSm100 = recipeById('megamoe-sm100');
const sm90 = (raw: Record<string, Tensor>, arch = 'sm90') => megamoeSm90.transformLayer!(raw, { arch });
const sm100 = (raw: Record<string, Tensor>) => megamoeSm100.transformLayer!(raw, { arch: 'sm90' });

test('megamoe-sm90: w13 rows interleaved by 8 (IH = 16 map), scales and w2 unchanged bit for bit', () => {
  const raw = naturalLayer({ intermediate: 16, experts: 2, expertParallel: undefined });
  const res = sm90(raw);
  const w13 = raw.w13_weight!;
  const out = res.tensors.w13_weight!;
  assert.deepEqual(out.shape, [2, 32, 256]);
  assert.equal(out.dtype, w13.dtype);
  const map = interleaveMap(16);
  assert.deepEqual([...map.subarray(0, 24)], [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23, 8, 9, 10, 11, 12, 13, 14, 15]);
  for (let e = 0; e < 2; e++)
    for (let r = 0; r < 32; r++) for (let c = 0; c < 256; c++) assert.equal(out.raw(e, r, c), w13.raw(e, map[r]!, c), `expert ${e} row ${r} col ${c}`);
  for (const n of ['w13_weight_scale_inv', 'w2_weight', 'w2_weight_scale_inv']) {
    assert.deepEqual(res.tensors[n]!.shape, raw[n]!.shape, n);
    assert.deepEqual(res.tensors[n]!.toFloat32(), raw[n]!.toFloat32(), `${n} changed`);
  }
  assert.deepEqual(Object.keys(res.tensors).sort(), ['w13_weight', 'w13_weight_scale_inv', 'w2_weight', 'w2_weight_scale_inv']);
  const notes = res.notes.join('\n');
  assert.match(notes, /out rows 0–7 ← gate 0–7, 8–15 ← up 0–7 \(rows 16–23\)/);
  assert.match(notes, /natural gate-then-up order/);
  assert.match(notes, /would refuse this layer: IH = 16 is not a multiple of 128/);
  assert.match(notes, /not written: hidden_states, topk_ids, topk_weights/);
  assert.equal(res.metadata!['megamoe.target'], 'sm90');
});

test('megamoe-sm90 keeps expert_map, takes UE8M0 scales as they are, and refuses a Blackwell --arch', () => {
  const raw = naturalLayer({ intermediate: 128, experts: 4, expertParallel: { size: 2, rank: 0, strategy: 'linear' }, recipe: { id: 'contiguous', actGroup: 128, weightBlock: 128, scaleFormat: 'ue8m0', quant: 'vllm' } });
  const res = sm90(raw);
  assert.ok(res.tensors.expert_map);
  assert.doesNotMatch(res.notes.join('\n'), /would refuse/);
  assert.throws(() => sm90(raw, 'sm100'), (e: MoeError) => e.code === 'E_SPEC' && /compute capability 9\.x.*--arch sm100 is 10\.0: use --recipe megamoe-sm100/.test(e.message));
});

test('megamoe-sm100: interleave on the weight and on the per-row packed scales, then UTCCP on L1 and L2 scales', () => {
  const raw = naturalLayer({ intermediate: 64, experts: 2, expertParallel: undefined, recipe: { id: 'contiguous', actGroup: 128, weightBlock: 128, scaleFormat: 'ue8m0', quant: 'vllm' } });
  const res = sm100(raw);
  const IH = 64, H = 256;
  const map = interleaveMap(IH);
  const w13 = res.tensors.w13_weight!;
  for (let r = 0; r < 2 * IH; r++) assert.equal(w13.raw(1, r, 17), raw.w13_weight!.raw(1, map[r]!, 17));
  const s13 = res.tensors.w13_weight_scale_inv!;
  assert.equal(s13.dtype, 'i32');
  assert.deepEqual(s13.shape, [2, 2 * IH, 1]);
  const packed = toSm100PackedUe8m0(broadcastWeightScaleRows(raw.w13_weight_scale_inv as Tensor<'f32'>, 2 * IH, 128));
  for (let e = 0; e < 2; e++)
    for (let r = 0; r < 2 * IH; r++) {
      const src = map[utccpSourceRow(r)]!;
      assert.equal(s13.get(e, r, 0), packed.get(e, src, 0), `expert ${e} row ${r}`);
      // the word's low byte is the exponent of K-block 0 of the source row's 128×128 block
      assert.equal(s13.get(e, r, 0) & 0xff, exponentByte(raw.w13_weight_scale_inv!.get(e, Math.floor(src / 128), 0)));
    }
  const s2 = res.tensors.w2_weight_scale_inv!;
  const p2 = toSm100PackedUe8m0(broadcastWeightScaleRows(raw.w2_weight_scale_inv as Tensor<'f32'>, H, 128));
  for (let r = 0; r < H; r++) assert.equal(s2.get(0, r, 0), p2.get(0, utccpSourceRow(r), 0));
  assert.deepEqual(res.tensors.w2_weight!.toFloat32(), raw.w2_weight!.toFloat32());
  assert.match(res.notes.join('\n'), /FP8 → FP4 conversion is not done/);
  assert.equal(res.metadata!['megamoe.target'], 'sm100');
});

test('megamoe-sm100 with BF16 weights: interleave only, w2 unchanged', () => {
  const E = 1, IH = 16, H = 8;
  const w13 = new Tensor('bf16', [E, 2 * IH, H], new Uint16Array(E * 2 * IH * H).map((_, i) => i), undefined, 0, 'w13_weight');
  const w2 = new Tensor('bf16', [E, H, IH], new Uint16Array(E * H * IH).map((_, i) => 7 * i), undefined, 0, 'w2_weight');
  const res = sm100({ w13_weight: w13, w2_weight: w2 });
  const map = interleaveMap(IH);
  for (let r = 0; r < 2 * IH; r++) assert.equal(res.tensors.w13_weight!.raw(0, r, 3), w13.raw(0, map[r]!, 3));
  assert.equal(res.tensors.w2_weight, w2);
  assert.equal(res.tensors.w13_weight_scale_inv, undefined);
  assert.match(res.notes.join('\n'), /BF16 weights: interleave only/);
  assert.throws(() => sm100({ w13_weight: w13, w2_weight: w2, w13_weight_scale_inv: Tensor.zeros('f32', [1, 1, 1], 'w13_weight_scale_inv') }), /w13_weight_scale_inv: BF16 weights carry no block scales/);
  assert.throws(() => sm90({ w13_weight: w13, w2_weight: w2 }), /w13_weight: expected dtype f8e4m3fn or u8, got bf16/);
});

test('bad layers: one-line errors naming the tensor, the expected and the actual', () => {
  const raw = naturalLayer({ intermediate: 128, experts: 2, expertParallel: undefined });
  const without = (n: string): Record<string, Tensor> => Object.fromEntries(Object.entries(raw).filter(([k]) => k !== n));
  const cases: [() => unknown, RegExp][] = [
    [() => sm90(without('w13_weight')), /missing tensor 'w13_weight'/],
    [() => sm90(without('w2_weight_scale_inv')), /missing tensor 'w2_weight_scale_inv': FP8 weights need their 128×128 block scales/],
    [() => sm90({ ...raw, w2_weight: Tensor.zeros('f8e4m3fn', [2, 256, 64], 'w2_weight') }), /w2_weight: expected shape \[2, 256, 128\] .*got \[2, 256, 64\]/],
    [() => sm90({ ...raw, w13_weight_scale_inv: Tensor.zeros('f32', [2, 1, 2], 'w13_weight_scale_inv') }), /w13_weight_scale_inv: expected shape \[2, 2, 2\].*got \[2, 1, 2\]/],
    [() => sm90({ ...raw, w13_weight_scale_inv: Tensor.zeros('bf16', [2, 2, 2], 'w13_weight_scale_inv') }), /w13_weight_scale_inv: expected dtype f32 or ue8m0, got bf16/],
    [() => sm90({ ...raw, w13_weight: Tensor.zeros('f8e4m3fn', [2, 24, 256], 'w13_weight'), w2_weight: Tensor.zeros('f8e4m3fn', [2, 256, 12], 'w2_weight') }), /IH = 12/],
    [() => sm100(raw), /w13_weight_scale_inv\[0, 0, 0\] = .* is not a positive power of two/],
  ];
  for (const [f, re] of cases)
    assert.throws(f, (e: unknown) => e instanceof MoeError && re.test(e.message) && !e.message.includes('\n'), String(re));
  const ue = naturalLayer({ hidden: 192, intermediate: 64, experts: 1, topk: 1, expertParallel: undefined, recipe: { id: 'contiguous', actGroup: 128, weightBlock: 128, scaleFormat: 'ue8m0', quant: 'vllm' } });
  assert.throws(() => sm100(ue), /w2_weight_scale_inv: .*whole 128-row chunks.*192 rows/);
});
