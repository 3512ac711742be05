/** Router dumps: safetensors and .npy folders, routing from ids or from logits, pickles refused with the fix. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRouterDump, resolveRouting, routeFromLogits, type RouterConfig } from '../../../kernels/routing';
import { writeSafetensors } from '../../../kernels/io/safetensors';
import { MoeError } from '../../../kernels/errors';
import { Tensor } from '../../../kernels/tensor';
import { encodeBf16 } from '../../../kernels/dtypes/bf16';

const dir = mkdtempSync(join(tmpdir(), 'dump-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const err = (code: string, re: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof MoeError, String(e));
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  assert.ok(!e.message.includes('\n'));
  return true;
};

const M = 6;
const H = 128;
const E = 8;
const hidden = (): Tensor<'bf16'> => new Tensor('bf16', [M, H], Uint16Array.from({ length: M * H }, (_, i) => encodeBf16(Math.sin(i))), undefined, 0, 'hidden_states');
const logitsValues = Float32Array.from({ length: M * E }, (_, i) => Math.cos(i * 1.7) * 3);
const cfg: RouterConfig = { scoring: 'softmax', topk: 2, normTopkProb: true, nGroup: 1, topkGroup: 1, routedScalingFactor: 1, usesCorrectionBias: false };

/** a minimal .npy v1 file (C order) */
function npy(path: string, descr: string, shape: number[], data: ArrayBufferView): void {
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = Math.ceil((10 + h.length + 1) / 64) * 64;
  h = h + ' '.repeat(total - 10 - h.length - 1) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(h.length, 8);
  writeFileSync(path, Buffer.concat([head, Buffer.from(h, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

test('safetensors dump with topk_ids + topk_weights: used as the run chose them; ids checked against the model', () => {
  const p = join(dir, 'ids.safetensors');
  const ids = Int32Array.from({ length: M * 2 }, (_, i) => (i * 3) % E);
  const w = Float32Array.from({ length: M * 2 }, () => 0.5);
  writeSafetensors(p, { hidden_states: hidden(), topk_ids: new Tensor('i32', [M, 2], ids), topk_weights: new Tensor('f32', [M, 2], w) });
  const d = loadRouterDump(p);
  assert.deepEqual(d.hidden_states.shape, [M, H]);
  const r = resolveRouting(d, E);
  assert.equal(r.from, 'dump');
  assert.deepEqual([...r.topk_ids.contiguous().storage], [...ids]);
  assert.throws(() => resolveRouting(d, 4), err('E_VALUE', /topk_ids\[1, 0\] = 6: expected an expert in 0…3/));
});

test('safetensors dump with router_logits only (BF16, 3-D): flattened, scored with the model config', () => {
  const p = join(dir, 'logits.safetensors');
  const bf = Uint16Array.from(logitsValues, encodeBf16);
  const x = hidden();
  writeSafetensors(p, { hidden_states: new Tensor('bf16', [2, M / 2, H], x.storage), router_logits: new Tensor('bf16', [2, M / 2, E], bf) });
  const d = loadRouterDump(p);
  assert.deepEqual(d.hidden_states.shape, [M, H], '(batch, seq, H) flattened');
  assert.deepEqual(d.router_logits!.shape, [M, E]);
  assert.equal(d.router_logits!.dtype, 'f32');
  const r = resolveRouting(d, E, cfg);
  assert.equal(r.from, 'logits');
  const want = routeFromLogits(d.router_logits!.storage, M, E, cfg);
  assert.deepEqual([...r.topk_ids.storage], [...want.topkIds]);
  assert.deepEqual([...r.topk_weights.storage], [...want.topkWeights]);
  assert.throws(() => resolveRouting(d, E), err('E_SPEC', /holds router_logits only; scoring them needs the model's router config/));
  assert.throws(() => resolveRouting(d, 16, cfg), err('E_SHAPE', /router_logits: 8 columns but the model has 16 routed experts/));
});

test('.npy folder (or one of its files): hidden_states BF16 saved as uint16, topk from int64/float32', () => {
  const d = join(dir, 'npydump');
  mkdirSync(d);
  npy(join(d, 'hidden_states.npy'), '<u2', [M, H], hidden().storage);
  npy(join(d, 'topk_ids.npy'), '<i8', [M, 2], BigInt64Array.from({ length: M * 2 }, (_, i) => BigInt(i % E)));
  npy(join(d, 'topk_weights.npy'), '<f4', [M, 2], new Float32Array(M * 2).fill(0.5));
  for (const path of [d, join(d, 'topk_ids.npy')]) {
    const dump = loadRouterDump(path);
    assert.equal(dump.hidden_states.dtype, 'bf16');
    assert.deepEqual([...dump.hidden_states.storage], [...hidden().storage]);
    assert.equal(dump.topk_ids!.dtype, 'i64');
    assert.equal(resolveRouting(dump, E).from, 'dump');
  }
});

test('pickles are refused with the reason and the conversion command; incomplete dumps name what is missing', () => {
  const pt = join(dir, 'layer3.pt');
  writeFileSync(pt, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0]));
  assert.throws(
    () => loadRouterDump(pt),
    err('E_FORMAT', /layer3\.pt: '\.pt' is a PyTorch\/pickle file; pickles can run code when loaded .* Convert it once: python -c "import torch, safetensors\.torch as st; d = torch\.load\('.*layer3\.pt', map_location='cpu'\); st\.save_file\(.*'.*layer3\.safetensors'\)"/),
  );
  const bin = join(dir, 'pytorch_model.bin');
  writeFileSync(bin, Buffer.from([0x80, 0x02, 0x7d]));
  assert.throws(() => loadRouterDump(bin), err('E_FORMAT', /pytorch_model\.bin: '\.bin' is a PyTorch\/pickle file/));
  // a torch.save zip renamed to .safetensors is recognised by its bytes
  const disguised = join(dir, 'disguised.safetensors');
  writeFileSync(disguised, Buffer.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4, 5, 6]));
  assert.throws(() => loadRouterDump(disguised), err('E_FORMAT', /this file is a zip archive, as torch\.save writes/));

  const onlyX = join(dir, 'onlyx.safetensors');
  writeSafetensors(onlyX, { hidden_states: hidden() });
  assert.throws(() => loadRouterDump(onlyX), err('E_FORMAT', /has hidden_states but neither topk_ids \+ topk_weights nor router_logits/));
  const noX = join(dir, 'nox.safetensors');
  writeSafetensors(noX, { router_logits: new Tensor('f32', [M, E], logitsValues) });
  assert.throws(() => loadRouterDump(noX), err('E_FORMAT', /no 'hidden_states'; a router dump holds/));
  const idsOnly = join(dir, 'idsonly.safetensors');
  writeSafetensors(idsOnly, { hidden_states: hidden(), topk_ids: new Tensor('i32', [M, 2], new Int32Array(M * 2)) });
  assert.throws(() => loadRouterDump(idsOnly), err('E_FORMAT', /has topk_ids without topk_weights/));
  const badM = join(dir, 'badm.safetensors');
  writeSafetensors(badM, { hidden_states: hidden(), router_logits: new Tensor('f32', [M - 1, E], logitsValues.subarray(0, (M - 1) * E)) });
  assert.throws(() => loadRouterDump(badM), err('E_SHAPE', /router_logits: expected \(6, ·\) — one row per token of hidden_states \[6, 128\] — got \[5, 8\]/));
  const i32x = join(dir, 'i32x.safetensors');
  writeSafetensors(i32x, { hidden_states: new Tensor('i32', [M, H], new Int32Array(M * H)), router_logits: new Tensor('f32', [M, E], logitsValues) });
  assert.throws(() => loadRouterDump(i32x), err('E_DTYPE', /hidden_states: expected bf16 or f32, got i32/));
  assert.throws(() => loadRouterDump(join(dir, 'nope.safetensors')), err('E_IO', /no such file/));
  const txt = join(dir, 'dump.txt');
  writeFileSync(txt, 'hello');
  assert.throws(() => loadRouterDump(txt), err('E_FORMAT', /a router dump is a \.safetensors file or \.npy files/));
});
