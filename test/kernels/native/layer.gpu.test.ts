/**
 * GPU tests of the CUDA addon (need a GPU with sm_89+; elsewhere each test skips and says why).
 * - golden e2e_small_{f32,ue8m0}: the whole layer on the GPU; quantized tensors and indices exact, outputs < 1e-2
 * - parity with the CPU backend on fresh random inputs, several recipes (exact where the CPU reference is exact)
 * - golden codec / layout tables: per-token quantization (DeepGEMM convention), SM90 and SM100 scale layouts
 * - device memory flat over repeated runs, bad shapes rejected before any launch, a kernel fault contained
 * - the masked (DeepEP low-latency) recipe: parity with the CPU backend (quantized tensors and scale layouts exact,
 *   GEMM outputs < 1e-2, rows past masked_m zero), golden masked_small_{f32,ue8m0} through the CUDA backend, the
 *   plan checks and the max_m guard of the addon, and the GEMM kernel the trace reports (mma.sync on SM100 specs)
 */
import { planFor, stagesOnlyPlan } from '../plans';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SafetensorsFile } from '../../../kernels/io/safetensors';
import { Tensor } from '../../../kernels/tensor';
import { MoeError } from '../../../kernels/errors';
import { CudaBackend } from '../../../kernels/backend/cuda';
import { CpuBackend } from '../../../kernels/backend/cpu';
import { syntheticInputs } from '../../../kernels/synthetic';
import { quantizeActivations, quantizeWeightBlocks } from '../../../kernels/ops/quantize';
import { maskedLayout, planPermutation } from '../../../kernels/ops/permute';
import { groupedGemmContiguous, groupedGemmMasked } from '../../../kernels/ops/gemm';
import { recipeById } from '../../../kernels/recipes/index';
import { MASKED_STAGES } from '../../../kernels/recipes/masked/stages';
import { archById } from '../../../kernels/arch/index';
import { runLayer } from '../../../kernels/pipeline';
import { nativeArgs } from '../../../kernels/native/layerArgs';
import { unpermuteReduce } from '../../../kernels/ops/unpermute';
import { expertMapOf } from '../../../kernels/synthetic';
import { DEFAULT_RECIPE, type LayerSpec } from '../../../kernels/spec';
import type { LayerInputs, BackendRun } from '../../../kernels/backend/types';
import { goldenFile } from '../../golden';
import { addonHere, gpuSkipReason, mismatchFraction, rawArray, relErrRows, TestCudaBackend } from './gpuHelpers';

const log = (s: string): void => {
  process.stdout.write(`# ${s}\n`);
};

function baseSpec(over: Partial<LayerSpec>): LayerSpec {
  return {
    name: 'custom',
    tokens: 64,
    hidden: 512,
    intermediate: 256,
    experts: 8,
    topk: 2,
    arch: 'sm90',
    recipe: { ...DEFAULT_RECIPE },
    activation: { kind: 'silu' },
    routerWeight: 'reduce',
    blockM: 128,
    source: { kind: 'synthetic', seed: 1, skew: 0.5 },
    ...over,
  };
}

function goldenInputs(path: string): { inputs: LayerInputs; g: Record<string, Tensor>; meta: Record<string, string> } {
  const f = SafetensorsFile.open(path);
  const g: Record<string, Tensor> = {};
  for (const n of f.names()) g[n] = f.read(n);
  const meta = f.metadata;
  f.close();
  const fp8 = (t: Tensor): Tensor<'f8e4m3fn'> => new Tensor('f8e4m3fn', t.shape, t.storage as Uint8Array, t.strides, t.offset);
  const inputs: LayerInputs = {
    hidden_states: g.x_bf16 as Tensor<'bf16'>,
    topk_ids: g.topk_ids_i32 as Tensor<'i32'>,
    topk_weights: g.topk_weights_f32 as Tensor<'f32'>,
    w13_weight: fp8(g.w13_fp8_u8!),
    w13_weight_scale_inv: g.w13_scale_inv_f32 as Tensor<'f32'>,
    w2_weight: fp8(g.w2_fp8_u8!),
    w2_weight_scale_inv: g.w2_scale_inv_f32 as Tensor<'f32'>,
  };
  return { inputs, g, meta };
}

/** rows of a permuted (M_sum, C) tensor in token·k + slot order, using inv_perm */
function rowsByPair(t: Tensor, invPerm: Tensor): Tensor {
  const C = t.shape[1]!;
  const P = invPerm.numel;
  const src = t.contiguous();
  const out = new (src.storage.constructor as new (n: number) => typeof src.storage)(P * C);
  const inv = rawArray(invPerm);
  for (let p = 0; p < P; p++) {
    const r = inv[p]!;
    for (let c = 0; c < C; c++) (out as Uint8Array)[p * C + c] = (src.storage as Uint8Array)[r * C + c]!;
  }
  return new Tensor(t.dtype, [P, C], out, undefined, 0, t.name);
}

const layoutBackends = new CudaBackend({ inputTransport: 'tensors' });
test.after(() => layoutBackends.dispose());

for (const fmt of ['f32', 'ue8m0'] as const) {
  test(`golden e2e_small_${fmt}: the whole layer on the GPU matches DeepGEMM's run`, async (t) => {
    const skip = await gpuSkipReason();
    if (skip) return t.skip(skip);
    const { inputs, g } = goldenInputs(goldenFile(`e2e_small_${fmt}.safetensors`));
    const spec = baseSpec({ tokens: 37, hidden: 512, intermediate: 512, experts: 4, topk: 2, recipe: { ...DEFAULT_RECIPE, scaleFormat: fmt, quant: 'vllm' } });
    const r = await layoutBackends.run(inputs, spec, stagesOnlyPlan(), { repeats: 3 });
    const T = r.tensors;
    assert.deepEqual(rawArray(T.a1q!), rawArray(g.a1q_u8!), 'a1q exact');
    assert.deepEqual(rawArray(T.a1q_scale!), rawArray(g.a1_scale_f32!), 'a1q_scale exact');
    assert.deepEqual(rawArray(T.m_indices!), rawArray(g.m_indices_i32!), 'm_indices exact');
    const counts = [0, 0, 0, 0];
    for (const e of rawArray(T.m_indices!)) if (e >= 0) counts[e]!++;
    assert.deepEqual(counts, rawArray(g.expert_counts_i32!), 'expert counts exact');
    const inv = T.inv_perm!;
    const mm1 = relErrRows(rowsByPair(T.mm1_out!, inv), g.mm1_rows_bf16!);
    const mm2 = relErrRows(rowsByPair(T.mm2_out!, inv), g.mm2_rows_bf16!);
    const y = relErrRows(T.output!, g.y_bf16!);
    // act and a2q are "mostly exact": they are computed from our mm1, which differs from DeepGEMM's in the last
    // BF16 bit for a share of the elements (different accumulation order), so compare by error, not bits
    const actRel = relErrRows(rowsByPair(T.act_out!, inv), g.act_rows_bf16!);
    const act = mismatchFraction(rowsByPair(T.act_out!, inv), g.act_rows_bf16!);
    const a2q = mismatchFraction(rowsByPair(T.a2q!, inv), g.a2q_rows_u8!);
    const a2s = mismatchFraction(rowsByPair(T.a2q_scale!, inv), g.a2_scale_rows_f32!);
    log(`e2e_small_${fmt}: rel mm1 ${mm1.toExponential(2)}, act ${actRel.toExponential(2)}, mm2 ${mm2.toExponential(2)}, y ${y.toExponential(2)}; ` +
      `mismatches act ${(act * 100).toFixed(3)}%, a2q ${(a2q * 100).toFixed(3)}%, a2 scales ${(a2s * 100).toFixed(3)}%`);
    assert.ok(mm1 < 1e-2 && mm2 < 1e-2 && y < 1e-2, `relative errors mm1 ${mm1}, mm2 ${mm2}, y ${y}`);
    assert.ok(actRel < 1e-2, `act rel ${actRel}`);
    assert.ok(a2q < 0.05 && a2s < 0.01, `a2q (${a2q}) and a2 scales (${a2s}) mostly exact`);
  });
}

/**
 * GPU vs CPU on the same inputs: exact where the reference is exact, 1e-2 on GEMM outputs (valid rows only).
 * Downstream of act, an FP8 rounding flip in a2q (caused by a last-bit difference in mm1) moves whole quanta of
 * mm2 and y, so on small random layers the end-to-end y can drift past 1e-2 with both backends right (seen once:
 * 1.09e-2, EP2). GEMM2 and the reduce are therefore also checked stage-isolated — the CPU reference recomputed
 * from the GPU's own a2q/a2q_scale — at 1e-2, and the end-to-end chain at 3e-2.
 */
async function compareRuns(gpu: BackendRun, cpu: BackendRun, what: string, inputs: LayerInputs, spec: LayerSpec): Promise<void> {
  const G = gpu.tensors;
  const C = cpu.tensors;
  for (const n of ['a1q', 'a1q_scale', 'm_indices', 'inv_perm'])
    assert.deepEqual(rawArray(G[n]!), rawArray(C[n]!), `${what}: ${n} exact`);
  if (C.a1q_scale_layout) {
    const gl = G.a1q_scale_layout!;
    const cl = C.a1q_scale_layout;
    assert.deepEqual(gl.shape, cl.shape, `${what}: a1q_scale_layout shape`);
    assert.deepEqual(gl.strides, cl.strides, `${what}: a1q_scale_layout strides`);
    assert.deepEqual(rawArray(gl), rawArray(cl), `${what}: a1q_scale_layout addressed slots exact`);
  }
  const valid = rawArray(G.m_indices!).map((e) => e >= 0);
  const ok = (r: number): boolean => valid[r]!;
  assert.deepEqual(rawArray(G.a1q_permuted!).filter((_, i) => ok(Math.floor(i / G.a1q_permuted!.shape[1]!))),
    rawArray(C.a1q_permuted!).filter((_, i) => ok(Math.floor(i / C.a1q_permuted!.shape[1]!))), `${what}: permuted rows exact`);
  const mm1 = relErrRows(G.mm1_out!, C.mm1_out!, ok);
  const mm2 = relErrRows(G.mm2_out!, C.mm2_out!, ok);
  const y = relErrRows(G.output!, C.output!);
  // act and a2q follow mm1, whose last BF16 bit differs between accumulation orders (wgmma vs the CPU's): so
  // they are compared by error, and their bit mismatches are reported
  const actRel = relErrRows(G.act_out!, C.act_out!, ok);
  const act = mismatchFraction(G.act_out!, C.act_out!, ok);
  const a2q = mismatchFraction(G.a2q!, C.a2q!, ok);
  log(`${what}: rel mm1 ${mm1.toExponential(2)}, act ${actRel.toExponential(2)}, mm2 ${mm2.toExponential(2)}, y ${y.toExponential(2)}; bit mismatches act ${(act * 100).toFixed(3)}%, a2q ${(a2q * 100).toFixed(3)}%`);
  const mm2Ref = await groupedGemmContiguous(G.a2q as Tensor<'f8e4m3fn'>, G.a2q_scale as Tensor<'f32'>, inputs.w2_weight, inputs.w2_weight_scale_inv, G.m_indices as Tensor<'i32'>);
  const yRef = unpermuteReduce(mm2Ref, G.inv_perm as Tensor<'i32'>, inputs.topk_weights, { unitWeights: spec.routerWeight !== 'reduce' });
  const mm2Iso = relErrRows(G.mm2_out!, mm2Ref, ok);
  const yIso = relErrRows(G.output!, yRef);
  log(`${what}: stage-isolated mm2 ${mm2Iso.toExponential(2)}, y ${yIso.toExponential(2)}`);
  assert.ok(mm1 < 1e-2, `${what}: mm1 rel ${mm1}`);
  assert.ok(mm2Iso < 1e-2, `${what}: mm2 (from the GPU's a2q) rel ${mm2Iso}`);
  assert.ok(yIso < 1e-2, `${what}: y (from the GPU's a2q) rel ${yIso}`);
  assert.ok(mm2 < 3e-2, `${what}: mm2 end-to-end rel ${mm2}`);
  assert.ok(y < 3e-2, `${what}: y end-to-end rel ${y}`);
  assert.ok(actRel < 1e-2, `${what}: act rel ${actRel}`);
  assert.ok(a2q < 0.05, `${what}: a2q bit mismatches ${a2q}`);
  for (const n of Object.keys(gpu.timesMs)) assert.ok(Number.isFinite(gpu.timesMs[n as keyof typeof gpu.timesMs]), `${n} timed`);
}

test('parity with the CPU backend on fresh random inputs, several recipes', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const seed = (Date.now() % 100000) + 7; // fresh inputs every run; printed so a failure can be replayed
  log(`parity seed ${seed}`);
  const cases: [string, Partial<LayerSpec>][] = [
    ['sm90 f32 vllm silu', {}],
    ['sm90 ue8m0 deepgemm silu, 300 tokens top-4', { tokens: 300, topk: 4, recipe: { ...DEFAULT_RECIPE, scaleFormat: 'ue8m0', quant: 'deepgemm' } }],
    ['sm100 ue8m0 swiglu(7) weight at activation', { arch: 'sm100', recipe: { ...DEFAULT_RECIPE, scaleFormat: 'ue8m0' }, activation: { kind: 'swiglu', clampLimit: 7 }, routerWeight: 'activation' }],
    ['EP2 rank 1, expert map', { experts: 16, expertParallel: { size: 2, rank: 1, strategy: 'linear' } }],
    ['top-1, weight on input, K 1024 N 384', { topk: 1, hidden: 1024, intermediate: 384, routerWeight: 'input', tokens: 129 }],
  ];
  const gpu = new CudaBackend();
  const cpu = new CpuBackend({ threads: 2 });
  try {
    for (const [what, over] of cases) {
      const spec = baseSpec({ ...over, source: { kind: 'synthetic', seed, skew: 0.8 } });
      const inputs = syntheticInputs(spec);
      const [g, c] = [await gpu.run(inputs, spec, stagesOnlyPlan(), { repeats: 2 }), await cpu.run(inputs, spec, planFor(spec, inputs))];
      await compareRuns(g, c, what, inputs, spec);
    }
  } finally {
    gpu.dispose();
  }
});

test('the mma.sync fallback GEMM (MOE_GEMM=mma, the sm_89/sm_100 path) matches the CPU backend too', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const saved = process.env.MOE_GEMM;
  process.env.MOE_GEMM = 'mma'; // read by the worker this backend forks
  const gpu = new CudaBackend();
  try {
    const spec = baseSpec({ tokens: 200, topk: 4, source: { kind: 'synthetic', seed: (Date.now() % 1000) + 1, skew: 0.3 } });
    const inputs = syntheticInputs(spec);
    await compareRuns(await gpu.run(inputs, spec, stagesOnlyPlan(), { repeats: 1 }), await new CpuBackend({ threads: 2 }).run(inputs, spec, planFor(spec, inputs)), 'mma.sync fallback', inputs, spec);
  } finally {
    gpu.dispose();
    if (saved === undefined) delete process.env.MOE_GEMM;
    else process.env.MOE_GEMM = saved;
  }
});

test('golden per-token quantization (DeepGEMM convention) is bit-exact on the GPU', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const a = addonHere();
  const f = SafetensorsFile.open(goldenFile('fp8_golden.safetensors'));
  try {
    for (const [M, K, fmt] of [[7, 512, 'f32'], [33, 384, 'f32'], [7, 512, 'ue8m0'], [130, 1024, 'ue8m0']] as const) {
      const p = `ptq_m${M}_k${K}_${fmt}`;
      const x = f.read(`${p}_x_bf16`);
      for (const layout of ['row-major', 'mn-major'] as const) {
        const r = a.quantize({ x: x.storage as Uint16Array, M, K, quant: 'deepgemm', scaleFormat: fmt, scaleLayout: layout });
        assert.deepEqual([...r.q], rawArray(f.read(`${p}_q_u8`)), `${p} q (${layout})`);
        const want = rawArray(f.read(`${p}_sf_f32`));
        const G = K / 128;
        const got = layout === 'row-major' ? [...r.scales] : want.map((_, i) => r.scales[(i % G) * r.mnStride + Math.floor(i / G)]!);
        assert.deepEqual(got, want, `${p} scales (${layout})`);
      }
    }
  } finally {
    f.close();
  }
});

test('golden DeepGEMM scale layouts: SM90 MN-major and SM100 packed UE8M0', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const a = addonHere();
  const f = SafetensorsFile.open(goldenFile('dg_layouts.safetensors'));
  try {
    for (const [mn, k, groups] of [[5, 256, 1], [7, 512, 1], [130, 1024, 1], [33, 384, 3], [1, 7168, 1]] as const) {
      const p = `sf_mn${mn}_k${k}_g${groups}`;
      const G = Math.ceil(k / 128);
      const meta = JSON.parse(f.metadata[`${p}_f32_mnmajor`]!) as { stride: number[] };
      const sm90 = a.transformScales({ sf: f.read(`${p}_f32_in`).storage as Float32Array, B: groups, M: mn, G, arch: 90 });
      const want = f.read(`${p}_f32_mnmajor_storage`).storage as Float32Array;
      assert.equal(sm90.length, want.length, `${p}: storage extent`);
      const strides = meta.stride;
      const sB = groups > 1 ? strides[0]! : 0;
      const [sM, sG] = groups > 1 ? [strides[1]!, strides[2]!] : [strides[0]!, strides[1]!];
      for (let b = 0; b < groups; b++)
        for (let m = 0; m < mn; m++)
          for (let j = 0; j < G; j++) {
            const i = b * sB + m * sM + j * sG;
            assert.equal(sm90[i], want[i], `${p}: SM90 slot (${b}, ${m}, ${j})`);
          }
      const sm100 = a.transformScales({ sf: f.read(`${p}_ue8m0_in`).storage as Float32Array, B: groups, M: mn, G, arch: 100 });
      assert.deepEqual([...sm100], rawArray(f.read(`${p}_ue8m0_packed_storage`)), `${p}: SM100 packed storage exact`);
    }
  } finally {
    f.close();
  }
});

test('the masked (DeepEP low-latency) layout matches the CPU reference exactly, and maxM overflow is refused', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const a = addonHere();
  for (const over of [{}, { experts: 16, expertParallel: { size: 2, rank: 0, strategy: 'round_robin' as const } }] as Partial<LayerSpec>[]) {
    const spec = baseSpec({ tokens: 150, topk: 4, ...over, source: { kind: 'synthetic', seed: (Date.now() % 997) + 1, skew: 1.2 } });
    const inputs = syntheticInputs(spec);
    const map = expertMapOf(spec);
    const E = inputs.w13_weight.shape[0]!;
    const q = quantizeActivations(inputs.hidden_states, { convention: 'vllm', scaleFormat: 'f32' });
    const plan = planPermutation(inputs.topk_ids, map ? map.length : E, { ...(map ? { expertMap: map } : {}), blockM: 128 });
    const cpu = maskedLayout(q.q, q.scale, plan);
    const ids = inputs.topk_ids.contiguous().storage as Int32Array;
    const args = { q: q.q.storage as Uint8Array, scales: q.scale.storage as Float32Array, topk_ids: ids, ...(map ? { expert_map: map } : {}), M: spec.tokens, K: spec.hidden, E, eGlobal: spec.experts, topk: spec.topk };
    const gpu = a.maskedLayout(args);
    assert.deepEqual([...gpu.maskedM], [...cpu.maskedM], 'masked_m');
    assert.deepEqual([...gpu.invPerm], rawArray(cpu.invPerm), 'inv_perm');
    assert.deepEqual([...gpu.a], rawArray(cpu.a), 'rows');
    assert.deepEqual([...gpu.scale], [...(cpu.scale.storage as Float32Array)], 'scales (MN-major per expert)');
    const most = Math.max(...cpu.maskedM);
    assert.throws(() => a.maskedLayout({ ...args, maxM: most - 1 }), (e: unknown) => (e as { code?: string }).code === 'E_RANGE' && /raise maxM/.test(String(e)));
  }
});

test('128×128 weight block quantization matches the CPU reference bit for bit', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const a = addonHere();
  const [E, R, C] = [3, 300, 260]; // ragged edge blocks on purpose
  const w = new Float32Array(E * R * C);
  let s = 12345;
  for (let i = 0; i < w.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    w[i] = ((s / 4294967296) * 2 - 1) * (1 + (i % 977) / 50);
  }
  for (const fmt of ['f32', 'ue8m0'] as const) {
    const g = a.quantizeWeights({ w, E, R, C, quant: 'deepgemm', scaleFormat: fmt });
    const c = quantizeWeightBlocks(new Tensor('f32', [E, R, C], w), { scaleFormat: fmt });
    assert.deepEqual([...g.q], rawArray(c.q), `${fmt}: q`);
    assert.deepEqual([...g.scales], rawArray(c.scaleInv), `${fmt}: scales`);
  }
});

test('device memory stays flat over repeated runs; bad inputs are rejected before launch; a fault is contained', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const gpu = new TestCudaBackend();
  try {
    const spec = baseSpec({ tokens: 512, hidden: 1024, intermediate: 512, experts: 16, topk: 4, source: { kind: 'synthetic', seed: 3, skew: 1 } });
    const inputs = syntheticInputs(spec);
    await gpu.run(inputs, spec, stagesOnlyPlan(), { repeats: 1 });
    const before = await gpu.memInfo();
    for (let i = 0; i < 5; i++) await gpu.run(inputs, spec, stagesOnlyPlan(), { repeats: 1 });
    const after = await gpu.memInfo();
    const drift = before.free - after.free;
    log(`device memory: free ${(before.free / 2 ** 20).toFixed(1)} MiB before, ${(after.free / 2 ** 20).toFixed(1)} MiB after 5 runs (drift ${drift} bytes)`);
    assert.ok(Math.abs(drift) <= 2 * 2 ** 20, `free device memory drifted by ${drift} bytes`);

    // bad shapes and values: rejected with a named tensor, and the worker stays usable (nothing was launched)
    const bad = { ...inputs, topk_weights: new Tensor('f32', [spec.tokens, 3], new Float32Array(spec.tokens * 3)) };
    const ids = new Int32Array(spec.tokens * spec.topk).fill(1);
    ids[5] = 99;
    const badIds = { ...inputs, topk_ids: new Tensor('i32', [spec.tokens, spec.topk], ids) };
    const tr = new CudaBackend({ inputTransport: 'tensors' });
    try {
      await assert.rejects(tr.run(bad, spec, stagesOnlyPlan()), (e: unknown) => e instanceof MoeError && e.code === 'E_SHAPE' && /topk_weights/.test(e.message));
      await assert.rejects(tr.run(badIds, spec, stagesOnlyPlan()), (e: unknown) => e instanceof MoeError && e.code === 'E_VALUE' && /topk_ids/.test(e.message));
      const ok = await tr.run(inputs, spec, stagesOnlyPlan(), { repeats: 1 });
      assert.ok(ok.tensors.output, 'the worker still runs after rejecting bad input');
    } finally {
      tr.dispose();
    }

    // a trapping kernel: E_BACKEND with the CUDA text, the parent lives, the next run gets a fresh worker
    await assert.rejects(gpu.faultForTest(), (e: unknown) => e instanceof MoeError && e.code === 'E_BACKEND' && /CUDA error/.test(e.message));
    const again = await gpu.run(inputs, spec, stagesOnlyPlan(), { repeats: 1 });
    assert.ok(again.tensors.output);
  } finally {
    gpu.dispose();
  }
});

test('the CLI exits after a CUDA run (run in its own process; with --trace, the trace holds the GPU stage tensors)', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const { spawnSync } = await import('node:child_process');
  const { existsSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { REPO_ROOT } = await import('../../golden');
  const cli = join(REPO_ROOT, 'dist', 'cli.js');
  if (!existsSync(cli)) return t.skip('dist/cli.js not built (npm run build)');
  const r = spawnSync(process.execPath, [cli, 'run', '--preset', 'qwen3-30b-a3b', '--tokens', '64', '--backend', 'cuda'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.signal, null, `the CLI did not exit by itself (killed by ${r.signal})`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /backend: cuda on NVIDIA/);
  // --trace and --out: the stage tensors come back from the GPU for them
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'moe-cli-cuda-'));
  try {
    const args = ['run', '--preset', 'qwen3-30b-a3b', '--tokens', '64', '--backend', 'cuda', '--trace', join(dir, 't.json'), '--out', join(dir, 'o.safetensors')];
    const w = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(w.status, 0, w.stderr);
    const trace = JSON.parse(readFileSync(join(dir, 't.json'), 'utf8')) as { backend: { name: string }; tensors: Record<string, { shape: number[] }> };
    assert.equal(trace.backend.name, 'cuda');
    for (const n of ['a1q', 'mm1_out', 'output']) assert.ok(trace.tensors[n], `the trace summarises ${n}`);
    const out = SafetensorsFile.open(join(dir, 'o.safetensors'));
    for (const n of ['hidden_states', 'mm1_out', 'output']) assert.ok(out.names().includes(n), `--out holds ${n}`);
    out.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- the masked (DeepEP low-latency) recipe ------------------------------------------------------------------
const MASKED_PLAN = stagesOnlyPlan(MASKED_STAGES);

function maskedSpec(over: Partial<LayerSpec>, maxM: number): LayerSpec {
  const s = baseSpec(over);
  return { ...s, recipe: { ...s.recipe, ...(over.recipe ?? {}), id: 'masked', options: { maxM } } };
}

/** rows of an (E, maxM, C) tensor as (E·maxM, C), and which of them are valid */
const rows2d = (t: Tensor): Tensor => t.reshape([t.shape[0]! * t.shape[1]!, t.shape[2]!]);
const validRow = (counts: ArrayLike<number>, maxM: number) => (r: number): boolean => r % maxM < counts[Math.floor(r / maxM)]!;

/** every element of the rows past masked_m is exactly zero (raw bits: +0 only) */
function staleRowsZero(t: Tensor, counts: ArrayLike<number>, maxM: number): boolean {
  const v = rawArray(t);
  const C = t.shape[2]!;
  for (let r = 0; r < t.shape[0]! * maxM; r++) if (r % maxM >= counts[Math.floor(r / maxM)]!) for (let c = 0; c < C; c++) if (v[r * C + c] !== 0) return false;
  return true;
}

async function compareMasked(gpu: BackendRun, cpu: BackendRun, what: string, inputs: Record<string, Tensor>, maxM: number): Promise<void> {
  const G = gpu.tensors;
  const C = cpu.tensors;
  const counts = rawArray(inputs.masked_m!);
  const ok = validRow(counts, maxM);
  // quantization and the kernel layouts are exact everywhere (rows past masked_m are zero on both)
  for (const n of ['a1q', 'a1q_scale']) assert.deepEqual(rawArray(G[n]!), rawArray(C[n]!), `${what}: ${n} exact`);
  for (const n of ['a1q_scale_layout', 'a2q_scale_layout']) {
    const g = G[n]!;
    const c = C[n];
    assert.ok(c, `${what}: the CPU produced ${n}`);
    assert.deepEqual([g.dtype, g.shape, g.strides], [c.dtype, c.shape, c.strides], `${what}: ${n} dtype, shape and strides`);
  }
  assert.deepEqual(rawArray(G.a1q_scale_layout!), rawArray(C.a1q_scale_layout!), `${what}: a1q_scale_layout addressed slots exact`);
  for (const n of ['mm1_out', 'act_out', 'a2q', 'a2q_scale', 'output']) assert.ok(staleRowsZero(G[n]!, counts, maxM), `${what}: ${n} is zero past masked_m`);
  const mm1 = relErrRows(rows2d(G.mm1_out!), rows2d(C.mm1_out!), ok);
  const actRel = relErrRows(rows2d(G.act_out!), rows2d(C.act_out!), ok);
  const act = mismatchFraction(rows2d(G.act_out!), rows2d(C.act_out!), ok);
  const a2q = mismatchFraction(rows2d(G.a2q!), rows2d(C.a2q!), ok);
  const y = relErrRows(rows2d(G.output!), rows2d(C.output!), ok);
  // GEMM2 stage-isolated: the CPU reference from the GPU's own a2q and scales
  const yRef = await groupedGemmMasked(G.a2q as Tensor<'f8e4m3fn'>, G.a2q_scale as Tensor<'f32'>, inputs.w2_weight as Tensor<'f8e4m3fn'>, inputs.w2_weight_scale_inv as Tensor<'f32'>, Int32Array.from(counts));
  const yIso = relErrRows(rows2d(G.output!), rows2d(yRef), ok);
  log(`${what}: rel mm1 ${mm1.toExponential(2)}, act ${actRel.toExponential(2)}, y ${y.toExponential(2)} (stage-isolated ${yIso.toExponential(2)}); bit mismatches act ${(act * 100).toFixed(3)}%, a2q ${(a2q * 100).toFixed(3)}%; GEMM ${gpu.gemmKernel}`);
  assert.ok(mm1 < 1e-2, `${what}: mm1 rel ${mm1}`);
  assert.ok(actRel < 1e-2, `${what}: act rel ${actRel}`);
  assert.ok(a2q < 0.05, `${what}: a2q bit mismatches ${a2q}`);
  assert.ok(yIso < 1e-2, `${what}: output (from the GPU's a2q) rel ${yIso}`);
  assert.ok(y < 3e-2, `${what}: output end-to-end rel ${y}`);
  assert.deepEqual(Object.keys(gpu.timesMs), MASKED_STAGES.map((s) => s.id), `${what}: a time per stage of the plan, in its order`);
  for (const ms of Object.values(gpu.timesMs)) assert.ok(Number.isFinite(ms) && ms >= 0);
}

test('masked recipe: parity with the CPU backend (quantization and layouts exact, GEMMs < 1e-2, rows past masked_m zero)', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const seed = (Date.now() % 100000) + 11;
  log(`masked parity seed ${seed}`);
  const cases: [string, Partial<LayerSpec>, number, number[] | undefined, string | undefined][] = [
    // edge counts on purpose: empty, one row, a tile minus/plus one, full (maxM 128 = two 64-row wgmma tiles)
    ['masked sm90 f32 vllm, edge counts', {}, 128, [0, 1, 63, 64, 65, 127, 128, 37], undefined],
    ['masked sm90 ue8m0 deepgemm swiglu(7), routed counts', { tokens: 150, topk: 4, recipe: { ...DEFAULT_RECIPE, scaleFormat: 'ue8m0', quant: 'deepgemm' }, activation: { kind: 'swiglu', clampLimit: 7 } }, 192, undefined, undefined],
    ['masked sm100 ue8m0 (packed scales, mma.sync fallback)', { arch: 'sm100', recipe: { ...DEFAULT_RECIPE, scaleFormat: 'ue8m0' } }, 256, [0, 1, 127, 128, 129, 255, 256, 3], undefined],
    ['masked sm90 f32, MOE_GEMM=mma (mma.sync on Hopper)', { hidden: 1024, intermediate: 384 }, 128, [5, 0, 128, 64, 127, 1, 100, 77], 'mma'],
  ];
  const cpu = new CpuBackend({ threads: 2 });
  for (const [what, over, maxM, counts, gemmEnv] of cases) {
    const spec = maskedSpec({ ...over, source: { kind: 'synthetic', seed, skew: 0.8 } }, maxM);
    const inputs = { ...recipeById('masked').synthetic(spec, { defer: false, backend: 'cuda' }).inputs };
    // counts chosen by hand: the rows they make valid hold the buffer's stale (random, finite) data
    if (counts) inputs.masked_m = new Tensor('i32', [counts.length], Int32Array.from(counts), undefined, 0, 'masked_m');
    const saved = process.env.MOE_GEMM;
    if (gemmEnv) process.env.MOE_GEMM = gemmEnv;
    const gpu = new CudaBackend({ inputTransport: 'tensors' });
    try {
      const g = await gpu.run(inputs, spec, MASKED_PLAN, { repeats: 2 });
      const c = await cpu.run(inputs, spec, planFor(spec, inputs));
      await compareMasked(g, c, what, inputs, maxM);
      assert.equal(g.gemmKernel, spec.arch === 'sm100' || gemmEnv === 'mma' ? 'mma.sync' : archById('sm90').gemm.addonKernelId, `${what}: the GEMM that ran`);
    } finally {
      gpu.dispose();
      if (saved === undefined) delete process.env.MOE_GEMM;
      else process.env.MOE_GEMM = saved;
    }
  }
});

for (const fmt of ['f32', 'ue8m0'] as const) {
  test(`golden masked_small_${fmt}: the masked layer through the CUDA backend matches DeepGEMM's masked GEMM`, async (t) => {
    const skip = await gpuSkipReason();
    if (skip) return t.skip(skip);
    const f = SafetensorsFile.open(goldenFile(`masked_small_${fmt}.safetensors`));
    const g: Record<string, Tensor> = {};
    for (const n of f.names()) g[n] = f.read(n);
    f.close();
    const recipe = recipeById('masked');
    const inputs = recipe.inputsFromTensors({
      hidden_states: g.x_bf16,
      masked_m: g.masked_m_i32,
      w13_weight: new Tensor('f8e4m3fn', g.w13_fp8_u8!.shape, g.w13_fp8_u8!.storage as Uint8Array),
      w13_weight_scale_inv: g.w13_scale_inv_f32,
      w2_weight: new Tensor('f8e4m3fn', g.w2_fp8_u8!.shape, g.w2_fp8_u8!.storage as Uint8Array),
      w2_weight_scale_inv: g.w2_scale_inv_f32,
    });
    const spec = recipe.specFromInputs(inputs, { recipe: { ...DEFAULT_RECIPE, id: 'masked', scaleFormat: fmt, quant: 'vllm' } });
    const r = await runLayer(spec, { backend: 'cuda', inputs });
    const maxM = g.x_bf16!.shape[1]!;
    const counts = rawArray(g.masked_m_i32!);
    const ok = validRow(counts, maxM);
    const T = r.tensors;
    assert.equal(r.trace.backend.name, 'cuda');
    // the masked layout runs the TMA kernel's masked variant as contiguous does (rows past masked_m zeroed after it)
    assert.equal(r.trace.gemm.ran, archById('sm90').gemm.addonKernel, 'the SM90 production kernel ran on the masked layout');
    assert.equal(mismatchFraction(rows2d(T.get('a1q')!), rows2d(g.a1q_u8!), ok), 0, 'a1q exact on valid rows');
    assert.equal(mismatchFraction(rows2d(T.get('a1q_scale')!), rows2d(g.a1_scale_f32!), ok), 0, 'a1q_scale exact on valid rows');
    const mm1 = relErrRows(rows2d(T.get('mm1_out')!), rows2d(g.mm1_bf16!), ok);
    const y = relErrRows(rows2d(T.get('output')!), rows2d(g.y_bf16!), ok);
    const mm1Bits = mismatchFraction(rows2d(T.get('mm1_out')!), rows2d(g.mm1_bf16!), ok);
    // the CPU reference on the same golden inputs, for comparison
    const c = await runLayer(spec, { backend: 'cpu', inputs });
    const mm1Cpu = relErrRows(rows2d(c.tensors.get('mm1_out')!), rows2d(g.mm1_bf16!), ok);
    const yCpu = relErrRows(rows2d(c.tensors.get('output')!), rows2d(g.y_bf16!), ok);
    log(`masked_small_${fmt} (masked_m ${counts.join(',')}, max_m ${maxM}): GPU rel mm1 ${mm1.toExponential(2)} (bit mismatches ${(mm1Bits * 100).toFixed(3)}%), y ${y.toExponential(2)}; CPU rel mm1 ${mm1Cpu.toExponential(2)}, y ${yCpu.toExponential(2)}`);
    assert.ok(mm1 < 1e-2 && y < 1e-2, `relative errors mm1 ${mm1}, y ${y}`);
    assert.deepEqual(r.trace.stages.map((s) => s.id), MASKED_STAGES.map((s) => s.id));
    assert.ok(r.trace.stages.every((s) => s.backend === 'cuda' && s.timeMs > 0), 'every stage timed on the GPU');
  });
}

test('the addon runs the plan it is given: a prefix runs alone, a stage without its producer and an unknown id are refused, max_m is guarded', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const spec = maskedSpec({ tokens: 40, source: { kind: 'synthetic', seed: 9, skew: 0.5 } }, 64);
  const inputs = recipeById('masked').synthetic(spec, { defer: false, backend: 'cuda' }).inputs;
  const gpu = new CudaBackend({ inputTransport: 'tensors' });
  try {
    const r = await gpu.run(inputs, spec, stagesOnlyPlan(MASKED_STAGES.slice(0, 2)), { repeats: 1 });
    assert.deepEqual(Object.keys(r.timesMs), ['quantize', 'transform_scales']);
    assert.deepEqual(Object.keys(r.tensors).sort(), ['a1q', 'a1q_scale', 'a1q_scale_layout']);
  } finally {
    gpu.dispose();
  }
  const a = addonHere();
  const { cfg, tensors } = nativeArgs(inputs, spec, ['quantize', 'gemm1'], 1);
  const code = (c: string, re: RegExp) => (e: unknown) => (e as { code?: string }).code === c && re.test(String(e));
  assert.throws(() => a.runLayer(cfg, tensors), code('E_SPEC', /'gemm1' reads what 'transform_scales' writes/));
  assert.throws(() => a.runLayer({ ...cfg, stages: ['quantize', 'permute'] }, tensors), code('E_SPEC', /masked recipe has no stage 'permute'/));
  // max_m = 96 with the 64-row wgmma tiles: one tile would span two experts (DeepGEMM wrote over the next expert's rows)
  if (cfg.recipe !== 'masked') throw new Error('masked config expected');
  const x96 = new Uint16Array(cfg.E * 96 * cfg.K);
  assert.throws(() => a.runLayer({ ...cfg, maxM: 96, stages: MASKED_STAGES.map((s) => s.id) }, { ...tensors, hidden_states: x96 }),
    code('E_SHAPE', /max_m = 96 is not a multiple of the 64-row tile of the addon's (sm90-tma|wgmma) masked GEMM.*max_m = 128/));
});

test('the trace reports the GEMM that ran: mma.sync on an SM100 spec (with its caveat), wgmma on SM90, mma.sync under MOE_GEMM=mma', async (t) => {
  const skip = await gpuSkipReason();
  if (skip) return t.skip(skip);
  const sm100 = maskedSpec({ arch: 'sm100', tokens: 60, recipe: { ...DEFAULT_RECIPE, scaleFormat: 'ue8m0' } }, 128);
  const r100 = await runLayer(sm100, { backend: 'cuda' });
  assert.match(r100.trace.gemm.ran, /^mma\.sync/);
  assert.match(r100.trace.gemm.caveat ?? '', /mma\.sync fallback, not a Blackwell tcgen05 kernel/);
  assert.equal(r100.tensors.get('a1q_scale_layout')!.dtype, 'i32', 'SM100: packed UE8M0 activation scales');
  const sm90 = baseSpec({ tokens: 50 });
  const r90 = await runLayer(sm90, { backend: 'cuda' });
  assert.equal(r90.trace.gemm.ran, archById('sm90').gemm.addonKernel);
  assert.equal(r90.trace.gemm.caveat, undefined);
  const saved = process.env.MOE_GEMM;
  process.env.MOE_GEMM = 'mma';
  try {
    const rm = await runLayer(sm90, { backend: 'cuda' });
    assert.match(rm.trace.gemm.ran, /^mma\.sync/);
    assert.match(rm.trace.gemm.caveat ?? '', /ran the addon's mma\.sync m16n8k32 e4m3 stand-in, not TMA \+ warp-specialised wgmma/);
    log(`trace.gemm: sm100 '${r100.trace.gemm.ran}'; sm90 '${r90.trace.gemm.ran}'; sm90 MOE_GEMM=mma '${rm.trace.gemm.ran}'`);
  } finally {
    if (saved === undefined) delete process.env.MOE_GEMM;
    else process.env.MOE_GEMM = saved;
  }
});
