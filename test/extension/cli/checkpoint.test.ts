/**
 * moe-inspect end to end on small generated checkpoints: run --checkpoint (synthetic routing, a router dump with
 * logits, expert parallelism), check --checkpoint, import-trace, and the one-line errors.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../cliInProcess';
import { checkpointFromFlags } from '../../../extension/cli/checkpointArgs';
import { SafetensorsFile, writeSafetensors } from '../../../kernels/io/safetensors';
import { shutdownGemmWorkers } from '../../../kernels/ops/gemm';
import { Tensor } from '../../../kernels/tensor';
import { encodeBf16 } from '../../../kernels/dtypes/bf16';
import { writeCheckpoint } from '../../kernels/io/checkpoint/fixtures';

after(() => shutdownGemmWorkers());
const dir = mkdtempSync(join(tmpdir(), 'moe-cli-ckpt-'));
after(() => rmSync(dir, { recursive: true, force: true }));



const oneLineError = (r: { code: number; err: string }, re: RegExp): void => {
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, re);
  assert.equal(r.err.trim().split('\n').length, 1, r.err);
  assert.ok(!/\n\s+at /.test(r.err), 'no stack trace');
};

// DeepSeek-V3-shaped (sigmoid, 2 groups of 4, bias, scaling 2.5), FP8: layers 1 and 2 are MoE
const ds = join(dir, 'ds');
writeCheckpoint(ds, { family: 'deepseek', experts: 8, topk: 2, layers: 3, shards: 2 });

test('run --checkpoint: synthetic routing for the checkpoint\'s shapes, same tensors as a --layer run of the same inputs', async () => {
  const out = join(dir, 'ck-out.safetensors');
  const r = await cli('run', '--checkpoint', ds, '--layer-index', '2', '--tokens', '24', '--backend', 'cpu', '--out', out);
  assert.ok(r.code === 0 || r.code === 1, r.err);
  assert.equal(r.err.includes('error'), false, r.err);
  assert.match(r.out, /ds layer 2: M=24 K=256 N=256 E=8 top-2/);
  assert.match(r.out, /note: routing: synthetic \(24 tokens, seed 0\)/);
  assert.match(r.out, /note: read \d of 8 experts of layer 2 \(.*B\) from /);
  assert.match(r.out, /Grouped GEMM 1/);

  // the same inputs through a vLLM-names layer file give bit-identical stage tensors
  const choice = checkpointFromFlags({ checkpoint: ds, 'layer-index': '2', tokens: '24' }, 'run');
  assert.equal(choice.spec.source.kind, 'checkpoint');
  const layerFile = join(dir, 'same-inputs.safetensors');
  const tensors: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(choice.inputs!)) if (v) tensors[k] = v as Tensor;
  writeSafetensors(layerFile, tensors);
  const out2 = join(dir, 'layer-out.safetensors');
  const r2 = await cli('run', '--layer', layerFile, '--backend', 'cpu', '--out', out2);
  assert.ok(r2.code === 0 || r2.code === 1, r2.err);
  const a = SafetensorsFile.open(out);
  const b = SafetensorsFile.open(out2);
  try {
    assert.deepEqual(a.names().sort(), b.names().sort());
    for (const n of ['output', 'mm1_out', 'a2q']) assert.deepEqual(a.read(n).storage, b.read(n).storage, n);
  } finally {
    a.close();
    b.close();
  }
});

test('run --checkpoint --inputs DUMP with router_logits: scored as the config says (sigmoid, groups, bias from the checkpoint)', async () => {
  const M = 16;
  const dump = join(dir, 'dump-logits.safetensors');
  writeSafetensors(dump, {
    hidden_states: new Tensor('bf16', [M, 256], Uint16Array.from({ length: M * 256 }, (_, i) => encodeBf16(Math.sin(i * 0.37)))),
    router_logits: new Tensor('f32', [M, 8], Float32Array.from({ length: M * 8 }, (_, i) => Math.cos(i * 1.3))),
  });
  const r = await cli('run', '--checkpoint', ds, '--layer-index', '1', '--inputs', dump, '--backend', 'cpu');
  assert.ok(r.code === 0 || r.code === 1, r.err);
  assert.match(r.out, /note: routing: router_logits from .* scored with sigmoid top-2 \(1 of 2 groups\)/);
  const choice = checkpointFromFlags({ checkpoint: ds, 'layer-index': '1', inputs: dump }, 'run');
  // every token's experts lie in one group of 4 (topk_group 1), weights sum to routed_scaling_factor 2.5
  const ids = choice.inputs!.topk_ids.contiguous();
  const w = choice.inputs!.topk_weights!.storage as Float32Array;
  for (let t = 0; t < M; t++) {
    assert.equal(Math.floor(ids.raw(t, 0) / 4), Math.floor(ids.raw(t, 1) / 4), `token ${t}: experts of one group`);
    assert.ok(Math.abs(w[2 * t]! + w[2 * t + 1]! - 2.5) < 1e-5);
  }
  // tokens/seed make no sense with a dump
  oneLineError(await cli('run', '--checkpoint', ds, '--layer-index', '1', '--inputs', dump, '--tokens', '5'), /--tokens is for synthetic inputs/);
});

test('run --checkpoint --ep 2 --rank 1: the rank\'s experts get places (expert_map as vLLM\'s linear map)', async () => {
  const choice = checkpointFromFlags({ checkpoint: ds, 'layer-index': '1', tokens: '32', ep: '2', rank: '1' }, 'run');
  assert.deepEqual(choice.inputs!.w13_weight.shape, [4, 512, 256]);
  assert.deepEqual([...choice.inputs!.expert_map!.storage], [-1, -1, -1, -1, 0, 1, 2, 3]);
  assert.equal(choice.spec.expertParallel?.size, 2);
  const r = await cli('run', '--checkpoint', ds, '--layer-index', '1', '--tokens', '32', '--ep', '2', '--rank', '1', '--backend', 'cpu');
  assert.ok(r.code === 0 || r.code === 1, r.err);
  assert.match(r.out, /EP2 rank 1/);
});

test('scale_fmt "ue8m0" in the config (DeepSeek-V3.1) means UE8M0 activation scales unless --act-scale says otherwise', () => {
  const v31 = join(dir, 'v31');
  writeCheckpoint(v31, { family: 'deepseek', experts: 4, layers: 2, config: { quantization_config: { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [128, 128], scale_fmt: 'ue8m0' } } });
  const a = checkpointFromFlags({ checkpoint: v31, 'layer-index': '1', tokens: '8' }, 'run');
  assert.equal(a.spec.recipe.scaleFormat, 'ue8m0');
  assert.ok(a.notes.some((n) => /scale_fmt is "ue8m0"/.test(n)));
  assert.equal(checkpointFromFlags({ checkpoint: v31, 'layer-index': '1', tokens: '8', 'act-scale': 'f32' }, 'run').spec.recipe.scaleFormat, 'f32');
});

test('run --checkpoint errors: no --layer-index lists the MoE layers; dense layer; both --layer and --checkpoint; pickle dump; wrong hidden', async () => {
  oneLineError(await cli('run', '--checkpoint', ds), /--checkpoint needs --layer-index L \(MoE layers 1…2; 1: 8 experts F8_E4M3; 2: 8 experts F8_E4M3/);
  oneLineError(await cli('run', '--checkpoint', ds, '--layer-index', '0'), /layer 0 is not a MoE layer of this DeepSeek-V3\/R1 .*MoE layers: 1…2/);
  oneLineError(await cli('run', '--checkpoint', ds, '--layer-index', '1', '--preset', 'qwen3-30b-a3b'), /--checkpoint and --preset both give the layer/);
  const pt = join(dir, 'dump.pt');
  writeFileSync(pt, Buffer.from([0x50, 0x4b, 3, 4]));
  oneLineError(await cli('run', '--checkpoint', ds, '--layer-index', '1', '--inputs', pt), /dump\.pt: '\.pt' is a PyTorch\/pickle file; .*Convert it once: python -c "import torch, safetensors\.torch as st;/);
  const other = join(dir, 'other-model.safetensors');
  writeSafetensors(other, { hidden_states: new Tensor('f32', [2, 128], new Float32Array(256)), router_logits: new Tensor('f32', [2, 8], new Float32Array(16)) });
  oneLineError(await cli('run', '--checkpoint', ds, '--layer-index', '1', '--inputs', other), /hidden_states has 128 columns but ds has hidden_size 256: a dump of another model\?/);
  oneLineError(await cli('run', '--checkpoint', join(dir, 'nowhere'), '--layer-index', '1'), /nowhere.*config\.json: cannot read/);
});

test('check --checkpoint: one line per MoE layer; a NaN scale or an FP8 NaN code fails its layer', async () => {
  const ok = await cli('check', '--checkpoint', ds);
  assert.equal(ok.code, 0, ok.out + ok.err);
  assert.match(ok.out, /DeepSeek-V3\/R1 \(model_type deepseek_v3\), 2 MoE layers of 3, 8 experts top-2, hidden 256, moe_intermediate 256, fp8 128×128/);
  assert.match(ok.out, /PASS {2}layer 1: 8 experts, F8_E4M3 \+ F32 scales, w13 \[8, 512, 256\], w2 \[8, 256, 256\]; scales finite and positive/);
  assert.match(ok.out, /PASS {2}layer 2: /);
  assert.match(ok.out, /2 MoE layers checked: 0 failed/);

  // corrupt one scale (NaN) of layer 2 and one weight byte (0x7F) of layer 1 in place
  const bad = join(dir, 'bad');
  const fx = writeCheckpoint(bad, { family: 'deepseek', experts: 8, topk: 2, layers: 3, shards: 1 });
  const file = join(bad, 'model.safetensors');
  const bytes = readFileSync(file);
  const hlen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + hlen).toString());
  const scale = header[`${fx.names(2, 5).down}.weight_scale_inv`].data_offsets[0];
  bytes.writeFloatLE(NaN, 8 + hlen + scale + 4);
  const w = header[`${fx.names(1, 3).up}.weight`].data_offsets[0];
  bytes[8 + hlen + w + 300] = 0x7f;
  writeFileSync(file, bytes);
  const r = await cli('check', '--checkpoint', bad);
  assert.equal(r.code, 1);
  assert.match(r.out, /FAIL {2}layer 2 expert 5 down: model\.layers\.2\.mlp\.experts\.5\.down_proj\.weight_scale_inv\[0, 1\] = NaN: block scales must be finite and positive/);
  assert.match(r.out, /PASS {2}layer 1: /, 'weights are not scanned without --weights');
  const rw = await cli('check', '--checkpoint', bad, '--weights');
  assert.match(rw.out, /FAIL {2}layer 1 expert 3: model\.layers\.1\.mlp\.experts\.3\.up_proj\.weight\[1, 44\] is an FP8 NaN code 0x7f/);
  // SM100: the F32 scales here are not powers of two
  const sm100 = await cli('check', '--checkpoint', ds, '--arch', 'sm100');
  assert.equal(sm100.code, 1);
  assert.match(sm100.out, /is not a power of two: SM100 packs UE8M0 exponents only/);
});

test('import-trace prints the stage table (or JSON); a file that is not a trace is a one-line error', async () => {
  const trace = join(dir, 'trace.json');
  const k = (name: string, ts: number, dur: number): unknown => ({ ph: 'X', cat: 'kernel', name, pid: 0, tid: 7, ts, dur, args: { device: 0, stream: 7 } });
  writeFileSync(
    trace,
    JSON.stringify({
      traceEvents: [
        k('void vllm::per_token_group_quant_8bit_kernel<c10::BFloat16, c10::Float8_e4m3fn, false, false, float>(...)', 0, 20),
        k('void deep_gemm::sm90_fp8_gemm_1d2d_impl<(deep_gemm::GemmType)1>(...)', 30, 400),
        k('void vllm::act_and_mul_kernel<c10::BFloat16, &vllm::silu_kernel<c10::BFloat16>, true>(...)', 440, 30),
        k('void vllm::per_token_group_quant_8bit_kernel<c10::BFloat16, c10::Float8_e4m3fn, false, false, float>(...)', 480, 10),
        k('void deep_gemm::sm90_fp8_gemm_1d2d_impl<(deep_gemm::GemmType)1>(...)', 495, 250),
        k('mystery_kernel', 750, 5),
      ],
    }),
  );
  const r = await cli('import-trace', trace);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /chrome-trace, 6 GPU launches on 1 device streams/);
  assert.match(r.out, /gemm1\s+1\s+400\.0 µs/);
  assert.match(r.out, /gemm2\s+1\s+250\.0 µs/);
  assert.match(r.out, /requantize\s+1\s+10\.0 µs/);
  assert.match(r.out, /unmatched kernels \(1 launches, not mapped to a stage\):\n.*\n.*\nmystery_kernel\s+1\s+5\.0 µs/);
  const j = await cli('import-trace', trace, '--json');
  const parsed = JSON.parse(j.out);
  assert.equal(parsed.stages.length, 5);
  assert.equal(parsed.kernels.length, 6);
  const txt = join(dir, 'readme.txt');
  writeFileSync(txt, 'not a trace');
  oneLineError(await cli('import-trace', txt), /import-trace: error \[E_FORMAT\] .*readme\.txt: not a Chrome trace JSON/);
  oneLineError(await cli('import-trace'), /give one file/);
  oneLineError(await cli('import-trace', trace, '--csv'), /import-trace: Unknown option '--csv'/);
});
