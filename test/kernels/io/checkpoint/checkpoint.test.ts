/** Checkpoint folders per family: layer listing, byte-range loads into vLLM's w13/w2, subsets, and every bad input. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, truncateSync, statSync, writeFileSync, readFileSync, openSync, writeSync, ftruncateSync, closeSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpoint } from '../../../../kernels/io/checkpoint';
import { MoeError } from '../../../../kernels/errors';
import { Tensor } from '../../../../kernels/tensor';
import { quantizeWeightBlocks } from '../../../../kernels/ops/quantize';
import { type Fixture, writeCheckpoint, writeSparseSafetensors, writeRawSafetensors, fp8Bytes, f32Bytes } from './fixtures';
import { expertPagesOf, expertSlice } from '../../../../kernels/expertPages';

const root = mkdtempSync(join(tmpdir(), 'ckpt-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const fresh = (): string => join(root, `c${seq++}`);

const err = (code: string, re: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof MoeError, `expected MoeError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  assert.ok(!e.message.includes('\n'), 'one-line message');
  return true;
};

/** the expected stacked FP8 bytes and scales of one expert (gate rows, then up rows) */
function expectExpert(fx: Fixture, layer: number, e: number, I: number, H: number) {
  const d = fx.experts.get(layer)![e]!;
  const w13 = new Uint8Array(2 * I * H);
  w13.set(d.gate, 0);
  w13.set(d.up, I * H);
  const s13 = new Float32Array([...d.gateScale!, ...d.upScale!]);
  return { w13, w2: d.down, s13, s2: d.downScale! };
}

test('DeepSeek-V3 FP8, sharded with an index: MoE layers from first_k_dense_replace, w13 = gate then up, scales widened', () => {
  const dir = fresh();
  const H = 256;
  const I = 256;
  const fx = writeCheckpoint(dir, { family: 'deepseek', hidden: H, intermediate: I, experts: 4, layers: 3, shards: 3 });
  const ck = Checkpoint.open(dir);
  try {
    assert.equal(ck.config.family, 'deepseek');
    assert.deepEqual(ck.config.moeLayers, [1, 2]);
    assert.equal(ck.config.router.scoring, 'sigmoid');
    assert.equal(ck.config.router.nGroup, 2);
    assert.equal(ck.config.router.topkGroup, 1);
    assert.equal(ck.config.router.routedScalingFactor, 2.5);
    assert.ok(ck.config.router.usesCorrectionBias);
    assert.equal(ck.config.quant.method, 'fp8');
    const layers = ck.layers();
    assert.deepEqual(
      layers.map((l) => [l.layer, l.experts, l.format, l.weightDtype, l.scaleDtype, l.problem]),
      [
        [1, 4, 'fp8', 'F8_E4M3', 'F32', undefined],
        [2, 4, 'fp8', 'F8_E4M3', 'F32', undefined],
      ],
    );
    assert.deepEqual(layers[0]!.shapes, { w13_weight: [4, 512, 256], w2_weight: [4, 256, 256] });
    const before = ck.bytesRead;
    const L = ck.loadLayer(2);
    assert.deepEqual(L.w13_weight.shape, [4, 2 * I, H]);
    assert.deepEqual(L.w13_weight_scale_inv.shape, [4, 4, 2]);
    assert.deepEqual(L.w2_weight.shape, [4, H, I]);
    assert.deepEqual(L.w2_weight_scale_inv.shape, [4, 2, 2]);
    assert.equal(L.w13_weight.dtype, 'f8e4m3fn');
    assert.ok(L.w13_weight.storage.buffer instanceof SharedArrayBuffer, 'weights on shared memory (the GEMM workers read them in place)');
    for (let e = 0; e < 4; e++) {
      const x = expectExpert(fx, 2, e, I, H);
      assert.deepEqual(L.w13_weight.storage.subarray(e * 2 * I * H, (e + 1) * 2 * I * H), x.w13, `w13 expert ${e}`);
      assert.deepEqual(L.w2_weight.storage.subarray(e * H * I, (e + 1) * H * I), x.w2, `w2 expert ${e}`);
      assert.deepEqual(L.w13_weight_scale_inv.storage.subarray(e * 8, (e + 1) * 8), x.s13);
      assert.deepEqual(L.w2_weight_scale_inv.storage.subarray(e * 4, (e + 1) * 4), x.s2);
    }
    // exactly the layer's expert bytes were read: weights + F32 scales, nothing else
    const expertBytes = 4 * (3 * I * H + 3 * 4 * 4);
    assert.equal(L.bytesRead, expertBytes);
    assert.equal(ck.bytesRead - before, expertBytes);
    assert.equal(L.expert_map, undefined);
    assert.deepEqual(ck.routerBias(2), fx.bias.get(2));
  } finally {
    ck.close();
  }
});

test('a subset of experts: the rest zero-filled (scales 1) or omitted with an expert_map; only their bytes are read', () => {
  const dir = fresh();
  const fx = writeCheckpoint(dir, { family: 'deepseek', experts: 6, layers: 2 });
  const ck = Checkpoint.open(dir);
  try {
    const per = 3 * 256 * 256 + 3 * 4 * 4;
    const z = ck.loadLayer(1, { experts: [4, 1, 4] });
    assert.deepEqual(z.loadedExperts, [1, 4]);
    assert.equal(z.bytesRead, 2 * per);
    assert.deepEqual(z.w13_weight.shape, [6, 512, 256]);
    const x1 = expectExpert(fx, 1, 1, 256, 256);
    assert.deepEqual(z.w13_weight.storage.subarray(1 * 512 * 256, 2 * 512 * 256), x1.w13);
    assert.ok(z.w13_weight.storage.subarray(0, 512 * 256).every((b) => b === 0), 'expert 0 not read: zeros');
    assert.ok(z.w13_weight_scale_inv.storage.subarray(0, 8).every((s) => s === 1), 'unread scales are 1 (positive, finite)');
    assert.ok(z.notes.some((n) => /2 of 6 experts read/.test(n)));

    const o = ck.loadLayer(1, { experts: [4, 1], unread: 'omit' });
    assert.deepEqual(o.w13_weight.shape, [2, 512, 256]);
    assert.deepEqual([...o.expert_map!.storage], [-1, 0, -1, -1, 1, -1]);
    assert.deepEqual(o.w13_weight.storage.subarray(0, 512 * 256), x1.w13);
    assert.deepEqual(o.w2_weight.storage.subarray(256 * 256), fx.experts.get(1)![4]!.down);
    // an expert-parallel rank's slots (experts 3…5), of which only 4 is read: 3 and 5 zero-filled
    const ep = ck.loadLayer(1, { experts: [4], slots: [3, 4, 5] });
    assert.deepEqual(ep.w13_weight.shape, [3, 512, 256]);
    assert.deepEqual([...ep.expert_map!.storage], [-1, -1, -1, 0, 1, 2]);
    assert.equal(ep.bytesRead, per);
    assert.deepEqual(ep.w2_weight.storage.subarray(256 * 256, 2 * 256 * 256), fx.experts.get(1)![4]!.down);
    assert.ok(ep.w2_weight.storage.subarray(0, 256 * 256).every((b) => b === 0));
    assert.throws(() => ck.loadLayer(1, { experts: [1], slots: [3, 4] }), err('E_SPEC', /expert 1 is to be read but has no place among the 2 slots/));
    // every expert requested: no map even in omit mode
    assert.equal(ck.loadLayer(1, { unread: 'omit' }).expert_map, undefined);
    assert.throws(() => ck.loadLayer(1, { experts: [6] }), err('E_RANGE', /expert 6 is not in 0…5/));
    assert.throws(() => ck.loadLayer(0), err('E_FORMAT', /layer 0 is not a MoE layer .*MoE layers: 1/));
  } finally {
    ck.close();
  }
});

test('Qwen3-MoE FP8 in one model.safetensors: mlp_only_layers / decoder_sparse_step, U8 FP8 bytes, F8_E8M0 scales widened', () => {
  const dir = fresh();
  const fx = writeCheckpoint(dir, { family: 'qwen', weights: 'fp8-u8', shards: 1, layers: 4, config: { mlp_only_layers: [1], decoder_sparse_step: 1 } });
  const ck = Checkpoint.open(dir);
  try {
    assert.equal(ck.config.family, 'qwen-moe');
    assert.deepEqual(ck.config.moeLayers, [0, 2, 3]);
    assert.equal(ck.config.router.scoring, 'softmax');
    assert.ok(ck.config.router.normTopkProb);
    assert.equal(ck.routerBias(0), undefined);
    const L = ck.loadLayer(3);
    assert.equal(L.format, 'fp8');
    assert.deepEqual(L.w13_weight.storage.subarray(0, 512 * 256), expectExpert(fx, 3, 0, 256, 256).w13);
  } finally {
    ck.close();
  }
  const dir2 = fresh();
  const fx2 = writeCheckpoint(dir2, { family: 'qwen', weights: 'fp8-e8m0', layers: 2, config: { decoder_sparse_step: 2 } });
  const ck2 = Checkpoint.open(dir2);
  try {
    assert.deepEqual(ck2.config.moeLayers, [1]);
    const L = ck2.loadLayer(1);
    assert.equal(ck2.layerInfo(1).scaleDtype, 'F8_E8M0');
    assert.deepEqual(L.w13_weight_scale_inv.storage.subarray(0, 8), expectExpert(fx2, 1, 0, 256, 256).s13);
    assert.ok([...L.w2_weight_scale_inv.storage].every((s) => Math.log2(s) % 1 === 0), 'UE8M0 scales are powers of two');
  } finally {
    ck2.close();
  }
});

function stackedBf16(fx: Fixture, layer: number, I: number, H: number): { w13: Tensor<'bf16'>; w2: Tensor<'bf16'> } {
  const list = fx.experts.get(layer)!;
  const E = list.length;
  const w13 = new Uint16Array(E * 2 * I * H);
  const w2 = new Uint16Array(E * H * I);
  list.forEach((d, e) => {
    w13.set(new Uint16Array(d.gate.buffer, d.gate.byteOffset, I * H), e * 2 * I * H);
    w13.set(new Uint16Array(d.up.buffer, d.up.byteOffset, I * H), e * 2 * I * H + I * H);
    w2.set(new Uint16Array(d.down.buffer, d.down.byteOffset, H * I), e * H * I);
  });
  return { w13: new Tensor('bf16', [E, 2 * I, H], w13), w2: new Tensor('bf16', [E, H, I], w2) };
}

test('Mixtral BF16 (w1 gate, w3 up, w2 down): quantized band by band, bit-exact with quantizing the stacked tensors', () => {
  for (const [I, scaleFormat] of [[256, 'f32'], [192, 'ue8m0']] as const) {
    const dir = fresh();
    const H = 256;
    const fx = writeCheckpoint(dir, { family: 'mixtral', hidden: H, intermediate: I, experts: 3, layers: 2 });
    const ck = Checkpoint.open(dir);
    try {
      assert.equal(ck.config.family, 'mixtral');
      assert.deepEqual(ck.config.moeLayers, [0, 1]);
      assert.ok(ck.config.router.normTopkProb, 'Mixtral renormalises its top-k');
      assert.equal(ck.layerInfo(1).format, 'bf16');
      const L = ck.loadLayer(1, { scaleFormat });
      const ref = stackedBf16(fx, 1, I, H);
      const q13 = quantizeWeightBlocks(ref.w13, { scaleFormat });
      const q2 = quantizeWeightBlocks(ref.w2, { scaleFormat });
      assert.deepEqual(L.w13_weight.storage, new Uint8Array(q13.q.storage), `w13 codes, I=${I} (bands straddle gate/up when I % 128 ≠ 0)`);
      assert.deepEqual(L.w13_weight_scale_inv.storage, q13.scaleInv.storage);
      assert.deepEqual(L.w2_weight.storage, new Uint8Array(q2.q.storage));
      assert.deepEqual(L.w2_weight_scale_inv.storage, q2.scaleInv.storage);
      assert.ok(L.notes.some((n) => /BF16 expert weights quantized here/.test(n)));
    } finally {
      ck.close();
    }
  }
});

test('DeepSeek-V4 (unverified names): layers.{L}.ffn.experts.{E}.w1/w3/w2 with FP4 weights and .scale; sqrtsoftplus config', () => {
  const dir = fresh();
  const H = 256;
  const I = 128;
  const fx = writeCheckpoint(dir, { family: 'v4', hidden: H, intermediate: I, experts: 2, layers: 2 });
  const ck = Checkpoint.open(dir);
  try {
    const c = ck.config;
    assert.equal(c.family, 'deepseek-v4');
    assert.equal(c.router.scoring, 'sqrtsoftplus');
    assert.equal(c.router.routedScalingFactor, 1.5);
    assert.deepEqual(c.activation, { kind: 'swiglu', clampLimit: 10 });
    assert.equal(c.routerWeight, 'activation');
    assert.equal(c.quant.scaleFmt, 'ue8m0');
    assert.equal(c.hashLayers, 1);
    const info = ck.layers();
    assert.deepEqual(info.map((l) => [l.layer, l.format, l.hashRouted]), [[0, 'fp4', true], [1, 'fp4', false]]);
    assert.deepEqual(ck.routerBias(1), fx.bias.get(1));
    const L = ck.loadLayer(1);
    // independent FP4 decode: low nibble first, E2M1 × 2^(s−127) per 32 values
    const vals = [0, 0.5, 1, 1.5, 2, 3, 4, 6];
    const dec = (raw: { packed: Uint8Array; scales: Uint8Array }, n: number): Float32Array =>
      Float32Array.from({ length: n }, (_, i) => {
        const nib = (raw.packed[i >> 1]! >> ((i & 1) * 4)) & 15;
        return (nib & 8 ? -1 : 1) * vals[nib & 7]! * 2 ** (raw.scales[Math.floor(i / 32)]! - 127);
      });
    const E = 2;
    const w13 = new Float32Array(E * 2 * I * H);
    const w2 = new Float32Array(E * H * I);
    for (let e = 0; e < E; e++) {
      const r = fx.experts.get(1)![e]!.raw!;
      w13.set(dec(r.gate, I * H), e * 2 * I * H);
      w13.set(dec(r.up, I * H), e * 2 * I * H + I * H);
      w2.set(dec(r.down, H * I), e * H * I);
    }
    const q13 = quantizeWeightBlocks(new Tensor('f32', [E, 2 * I, H], w13), { scaleFormat: 'f32' });
    assert.deepEqual(L.w13_weight.storage, new Uint8Array(q13.q.storage));
    assert.deepEqual(L.w13_weight_scale_inv.storage, q13.scaleInv.storage);
    assert.deepEqual(L.w2_weight.storage, new Uint8Array(quantizeWeightBlocks(new Tensor('f32', [E, H, I], w2), { scaleFormat: 'f32' }).q.storage));
    assert.ok(L.notes.some((n) => /unverified/.test(n)));
  } finally {
    ck.close();
  }
});

test('MTP layer (DeepSeek num_nextn_predict_layers) is listed when its tensors exist; loadLayerAsync equals loadLayer', async () => {
  const dir = fresh();
  // layers 0..3 written, config says 3 hidden layers + 1 MTP layer (index 3)
  writeCheckpoint(dir, { family: 'deepseek', layers: 4, config: { num_hidden_layers: 3, num_nextn_predict_layers: 1 } });
  const ck = Checkpoint.open(dir);
  try {
    const ls = ck.layers();
    assert.deepEqual(ls.map((l) => [l.layer, l.mtp]), [[1, false], [2, false], [3, true]]);
    let calls = 0;
    const a = await ck.loadLayerAsync(3, { onExpert: () => calls++ });
    assert.equal(calls, 4);
    assert.deepEqual(a.w13_weight.storage, ck.loadLayer(3).w13_weight.storage);
  } finally {
    ck.close();
  }
});

test('errors name the file: missing shard, truncated shard, config without MoE fields, unknown family, bad JSON', () => {
  // an index naming a missing shard
  let dir = fresh();
  writeCheckpoint(dir, { family: 'deepseek', shards: 3 });
  unlinkSync(join(dir, 'model-00002-of-00003.safetensors'));
  let ck = Checkpoint.open(dir);
  const info = ck.layers();
  assert.ok(info.some((l) => l.problem && /model-00002-of-00003\.safetensors: model\.safetensors\.index\.json names this shard/.test(l.problem)), JSON.stringify(info));
  const bad = info.find((l) => l.problem)!.layer;
  assert.throws(() => ck.loadLayer(bad), err('E_FORMAT', /model-00002-of-00003\.safetensors.*not in/));
  ck.close();

  // a shard shorter than its header says
  dir = fresh();
  writeCheckpoint(dir, { family: 'qwen', shards: 2 });
  const shard = join(dir, 'model-00002-of-00002.safetensors');
  truncateSync(shard, statSync(shard).size - 100);
  ck = Checkpoint.open(dir);
  const probs = ck.layers().filter((l) => l.problem);
  assert.ok(probs.length > 0);
  assert.match(probs[0]!.problem!, /model-00002-of-00002\.safetensors: tensor '.*' ends at byte \d+ but the file has \d+ bytes: the shard is shorter than its header says/);
  ck.close();

  // config.json without the MoE fields of its family
  dir = fresh();
  writeCheckpoint(dir, { family: 'deepseek' });
  const cfgPath = join(dir, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  delete cfg.n_routed_experts;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  assert.throws(() => Checkpoint.open(dir), err('E_FORMAT', /config\.json: model_type 'deepseek_v3' needs 'n_routed_experts' but the config has none \(MoE fields needed: hidden_size/));

  // unknown family: the model_type and the MoE-looking tensor names (capped)
  dir = fresh();
  writeCheckpoint(dir, { family: 'qwen', experts: 8, config: { model_type: 'olmoe', architectures: ['OlmoeForCausalLM'] } });
  assert.throws(() => Checkpoint.open(dir), err('E_FORMAT', /config\.json: model_type 'olmoe' \(OlmoeForCausalLM\) is not a MoE family read here \(deepseek_v3.*\); MoE-looking tensors: model\.layers\.0\.mlp\.gate\.weight, .*… \(\d+ in all\)/));
  // a dense model: no MoE tensors at all
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', architectures: ['LlamaForCausalLM'] }));
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.norm.weight': 'model-00001-of-00002.safetensors' } }));
  assert.throws(() => Checkpoint.open(dir), err('E_FORMAT', /model_type 'llama' .*MoE-looking tensors: none/));

  // bad JSON in config and index; no config; not a folder
  dir = fresh();
  writeCheckpoint(dir, { family: 'mixtral' });
  writeFileSync(join(dir, 'model.safetensors.index.json'), '{"weight_map": ');
  assert.throws(() => Checkpoint.open(dir), err('E_FORMAT', /model\.safetensors\.index\.json: not valid JSON/));
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../../etc/passwd.safetensors' } }));
  assert.throws(() => Checkpoint.open(dir), err('E_FORMAT', /weight_map\['a'\] = .* is not a \.safetensors file name/));
  writeFileSync(join(dir, 'config.json'), 'nope');
  assert.throws(() => Checkpoint.open(dir), err('E_FORMAT', /config\.json: not valid JSON/));
  unlinkSync(join(dir, 'config.json'));
  assert.throws(() => Checkpoint.open(dir), err('E_IO', /config\.json: cannot read the checkpoint's config/));
  assert.throws(() => Checkpoint.open(join(dir, 'nothing-here')), err('E_IO', /cannot read the checkpoint's config|cannot open/));
});

test('layout errors: a missing expert, wrong scale shape, wrong dtype, FP8 intermediate not a multiple of 128, other block size', () => {
  // expert 3's down projection missing from the index
  let dir = fresh();
  const fx = writeCheckpoint(dir, { family: 'deepseek', shards: 2 });
  const ip = join(dir, 'model.safetensors.index.json');
  const idx = JSON.parse(readFileSync(ip, 'utf8')) as { weight_map: Record<string, string> };
  delete idx.weight_map[`${fx.names(2, 3).down}.weight`];
  // expert 2's up scale with the wrong block shape, expert 1's up weight in BF16, expert 1's down scale (layer 1) as I32:
  // replacement tensors in an extra shard the index points at
  writeRawSafetensors(join(dir, 'extra.safetensors'), [
    { name: `${fx.names(2, 2).up}.weight_scale_inv`, dtype: 'F32', shape: [3, 2], bytes: f32Bytes([1, 1, 1, 1, 1, 1]) },
    { name: `${fx.names(2, 1).up}.weight`, dtype: 'BF16', shape: [256, 256], bytes: new Uint8Array(2 * 256 * 256) },
    { name: `${fx.names(1, 1).down}.weight_scale_inv`, dtype: 'I32', shape: [2, 2], bytes: new Uint8Array(16) },
  ]);
  idx.weight_map[`${fx.names(2, 2).up}.weight_scale_inv`] = 'extra.safetensors';
  idx.weight_map[`${fx.names(2, 1).up}.weight`] = 'extra.safetensors';
  idx.weight_map[`${fx.names(1, 1).down}.weight_scale_inv`] = 'extra.safetensors';
  writeFileSync(ip, JSON.stringify(idx));
  let ck = Checkpoint.open(dir);
  assert.match(ck.layerInfo(2).problem!, /layer 2: 1 of 4 experts have no .* missing experts 3/);
  assert.throws(() => ck.expertTensors(2, 2), err('E_SHAPE', /extra\.safetensors: 'model\.layers\.2\.mlp\.experts\.2\.up_proj\.weight_scale_inv': expected \[2, 2\] \(one scale per 128×128 block of \[256, 256\]\), got \[3, 2\]/));
  assert.throws(() => ck.expertTensors(2, 1), err('E_DTYPE', /extra\.safetensors: 'model\.layers\.2\.mlp\.experts\.1\.up_proj\.weight' is BF16 but the layer's gate projection is F8_E4M3/));
  assert.equal(ck.layerInfo(1).problem, undefined, 'layer 1 lists fine: only expert 0 is checked in depth');
  assert.throws(() => ck.loadLayer(1), err('E_DTYPE', /down_proj\.weight_scale_inv' is I32; FP8 block scales are read as F32, BF16, F16, F8_E8M0/));
  ck.close();

  // intermediate 192 in FP8: the gate/up scale blocks do not stack
  dir = fresh();
  writeCheckpoint(dir, { family: 'qwen', intermediate: 192, layers: 1 });
  ck = Checkpoint.open(dir);
  assert.throws(() => ck.loadLayer(0), err('E_SHAPE', /moe_intermediate_size 192 is not a multiple of 128/));
  ck.close();

  // weight_block_size other than 128×128
  dir = fresh();
  writeCheckpoint(dir, { family: 'qwen', layers: 1, config: { quantization_config: { quant_method: 'fp8', weight_block_size: [64, 64] } } });
  ck = Checkpoint.open(dir);
  assert.throws(() => ck.loadLayer(0), err('E_FORMAT', /weight_block_size is \[64, 64\]; the FP8 GEMMs here take 128×128/));
  ck.close();

  // config disagrees with the tensors: hidden 512 declared, 256 stored
  dir = fresh();
  writeCheckpoint(dir, { family: 'qwen', layers: 1, config: { moe_intermediate_size: 128 } });
  ck = Checkpoint.open(dir);
  assert.match(ck.layerInfo(0).problem!, /gate_proj\.weight': expected \[128, 256\] \(gate projection: hidden 256, moe_intermediate 128\), got \[256, 256\]/);
  ck.close();
});

test('a sparse shard of several GB: the layer\'s tensors sit past 4 GiB and are read by position; >4 GiB results read per expert', () => {
  const dir = fresh();
  const H = 256;
  const I = 128;
  const E = 2;
  const fx = writeCheckpoint(dir, { family: 'qwen', hidden: H, intermediate: I, experts: E, layers: 1, shards: 1 });
  // rewrite: the same expert tensors behind a 5 GiB hole
  const tensors = [];
  for (let e = 0; e < E; e++) {
    const n = fx.names(0, e);
    const d = fx.experts.get(0)![e]!;
    tensors.push({ name: `${n.gate}.weight`, dtype: 'F8_E4M3', shape: [I, H], bytes: d.gate });
    tensors.push({ name: `${n.gate}.weight_scale_inv`, dtype: 'F32', shape: [1, 2], bytes: f32Bytes(d.gateScale!) });
    tensors.push({ name: `${n.up}.weight`, dtype: 'F8_E4M3', shape: [I, H], bytes: d.up });
    tensors.push({ name: `${n.up}.weight_scale_inv`, dtype: 'F32', shape: [1, 2], bytes: f32Bytes(d.upScale!) });
    tensors.push({ name: `${n.down}.weight`, dtype: 'F8_E4M3', shape: [H, I], bytes: d.down });
    tensors.push({ name: `${n.down}.weight_scale_inv`, dtype: 'F32', shape: [2, 1], bytes: f32Bytes(d.downScale!) });
  }
  const file = join(dir, 'model.safetensors');
  writeSparseSafetensors(file, 5 * 2 ** 30, tensors);
  assert.ok(statSync(file).size > 5 * 2 ** 30);
  const ck = Checkpoint.open(dir);
  try {
    const L = ck.loadLayer(0);
    for (let e = 0; e < E; e++) {
      const x = expectExpert(fx, 0, e, I, H);
      assert.deepEqual(L.w13_weight.storage.subarray(e * 2 * I * H, (e + 1) * 2 * I * H), x.w13);
      assert.deepEqual(L.w2_weight_scale_inv.storage.subarray(e * 2, e * 2 + 2), x.s2);
    }
  } finally {
    ck.close();
  }

  // a DeepSeek-V3-sized layer (256 experts × [4096, 7168]): header only, data a hole; all experts would be 7 GiB
  const big = fresh();
  writeCheckpoint(big, { family: 'deepseek', layers: 2, experts: 2 });
  const cfgPath = join(big, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  Object.assign(cfg, { hidden_size: 7168, moe_intermediate_size: 2048, n_routed_experts: 256, n_group: 8, topk_group: 4, num_hidden_layers: 2 });
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const bigTensors = [];
  for (let e = 0; e < 256; e++)
    for (const [p, rows, cols] of [['gate_proj', 2048, 7168], ['up_proj', 2048, 7168], ['down_proj', 7168, 2048]] as const) {
      bigTensors.push({ name: `model.layers.1.mlp.experts.${e}.${p}.weight`, dtype: 'F8_E4M3', shape: [rows, cols], bytes: e === 255 && p === 'down_proj' ? fp8Bytes(rows * cols, 5) : new Uint8Array(0) });
      bigTensors.push({ name: `model.layers.1.mlp.experts.${e}.${p}.weight_scale_inv`, dtype: 'F32', shape: [rows / 128, cols / 128], bytes: new Uint8Array(0) });
    }
  // header-only entries: sizes declared, bytes left as a hole (the writer places each at its declared offset)
  writeSparseHeaderOnly(join(big, 'model-00003-of-00003.safetensors'), bigTensors);
  const ip = join(big, 'model.safetensors.index.json');
  const idx = JSON.parse(readFileSync(ip, 'utf8'));
  for (const t of bigTensors) idx.weight_map[t.name] = 'model-00003-of-00003.safetensors';
  writeFileSync(ip, JSON.stringify(idx));
  const ck2 = Checkpoint.open(big);
  try {
    assert.deepEqual(ck2.layerInfo(1).shapes.w13_weight, [256, 4096, 7168]);
    // all 256 experts: 7 GiB of w13 is past one array, so the FP8 weights are read per expert when used (never whole)
    const all = ck2.loadLayer(1);
    assert.ok(expertPagesOf(all.w13_weight) && expertPagesOf(all.w2_weight));
    assert.deepEqual(all.w13_weight.shape, [256, 4096, 7168]);
    assert.ok(all.notes.some((n) => /read from the shards one expert at a time/.test(n)));
    assert.deepEqual(expertSlice(all.w2_weight, 255).storage, fp8Bytes(7168 * 2048, 5));
    assert.throws(() => all.w13_weight.storage, err('E_SPEC', /w13_weight: \[256, 4096, 7168\].*7\.0 GiB.*--ep 8 --rank R/));
    // one expert far into the file (past 7 GiB): read by position
    const one = ck2.loadLayer(1, { experts: [255], unread: 'omit' });
    assert.deepEqual(one.w2_weight.storage, fp8Bytes(7168 * 2048, 5));
    assert.deepEqual([...one.expert_map!.storage].filter((v) => v >= 0), [0]);
  } finally {
    ck2.close();
  }
});

/** every tensor's declared size reserved (a hole), only tensors given bytes written */
function writeSparseHeaderOnly(path: string, tensors: { name: string; dtype: string; shape: number[]; bytes: Uint8Array }[]): void {
  const item: Record<string, number> = { F8_E4M3: 1, F32: 4 };
  const header: Record<string, unknown> = {};
  let off = 0;
  const at: number[] = [];
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * item[t.dtype]!;
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + n] };
    at.push(off);
    off += n;
  }
  const json = Buffer.from(JSON.stringify(header));
  const fd = openSync(path, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len, 0, 8, 0);
  writeSync(fd, json, 0, json.length, 8);
  ftruncateSync(fd, 8 + json.length + off);
  tensors.forEach((t, i) => {
    if (t.bytes.length) writeSync(fd, t.bytes, 0, t.bytes.length, 8 + json.length + at[i]!);
  });
  closeSync(fd);
}

/**
 * The layout transformers itself writes: tiny Qwen3-MoE, Mixtral and DeepSeek-V3 models built from configs and saved
 * with save_pretrained(max_shard_size="300KB") by transformers 5.17 on the GPU machine (scripts/hf_tiny_checkpoints.py).
 * The fixture keeps their config.json, index and shard headers; the data here is generated.
 */
test('checkpoints as transformers 5.17 saves them: config fields (num_local_experts, no topk_method), names, sharding', () => {
  const manifest = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'transformers-5.17-tiny-moe.json'), 'utf8')) as {
    transformers: string;
    models: Record<string, { config: Record<string, unknown>; weight_map: Record<string, string>; files: Record<string, Record<string, [string, number[]]>> }>;
  };
  assert.equal(manifest.transformers, '5.17.0');
  const expect: Record<string, { family: string; layers: number[]; bias: boolean; scoring: string }> = {
    qwen3_moe: { family: 'qwen-moe', layers: [1], bias: false, scoring: 'softmax' },
    mixtral: { family: 'mixtral', layers: [0, 1], bias: false, scoring: 'softmax' },
    deepseek_v3: { family: 'deepseek', layers: [1], bias: true, scoring: 'sigmoid' },
  };
  for (const [type, m] of Object.entries(manifest.models)) {
    const dir = fresh();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(m.config));
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: m.weight_map }));
    let seed = 1;
    for (const [file, header] of Object.entries(m.files)) {
      const item: Record<string, number> = { BF16: 2, F32: 4 };
      writeRawSafetensors(
        join(dir, file),
        Object.entries(header).map(([name, [dtype, shape]]) => {
          const n = shape.reduce((a, b) => a * b, 1) * item[dtype]!;
          // BF16 bytes of small values: the high byte in 0x3c…0x3f keeps every value finite
          const bytes = Uint8Array.from({ length: n }, (_, i) => (i % 2 ? 0x3c + ((i + seed) % 4) : (i * 31 + seed) & 0xff));
          seed++;
          return { name, dtype, shape, bytes };
        }),
      );
    }
    const ck = Checkpoint.open(dir);
    try {
      const want = expect[type]!;
      assert.equal(ck.config.family, want.family, type);
      assert.deepEqual(ck.layers().map((l) => [l.layer, l.experts, l.format, l.problem]), want.layers.map((l) => [l, 4, 'bf16', undefined]), type);
      assert.equal(ck.config.router.scoring, want.scoring);
      assert.equal(ck.config.router.usesCorrectionBias, want.bias, `${type}: DeepSeek-V3 selects with the bias even without topk_method`);
      if (want.bias) assert.equal(ck.routerBias(want.layers[0]!)!.length, 4);
      const L = ck.loadLayer(want.layers[0]!);
      assert.deepEqual(L.w13_weight.shape, [4, 256, 128]);
      assert.ok(L.w13_weight_scale_inv.storage.every((s) => Number.isFinite(s) && s > 0));
    } finally {
      ck.close();
    }
  }
});
