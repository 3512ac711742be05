/**
 * The TypeScript CPU backend: runs the eight stages with the reference ops (kernels/ops), timing each with
 * performance.now. The grouped GEMMs use worker threads; everything else runs on the calling thread. Cancellation
 * is checked between stages and inside the GEMMs; it surfaces as MoeError 'E_CANCELLED'.
 */
import { availableParallelism, cpus } from 'node:os';
import type { BackendRun, ComputeBackend, LayerInputs, RunOptions, StageTensors } from './types';
import type { LayerSpec } from '../spec';
import type { StageId } from '../trace';
import { Tensor } from '../tensor';
import { MoeError } from '../errors';
import { quantizeActivations, quantizeRowGroups } from '../ops/quantize';
import { transformScalesFor } from '../layout/transform';
import { planPermutation, permuteRows } from '../ops/permute';
import { groupedGemmContiguous, sharedBytes } from '../ops/gemm';
import { siluAndMul } from '../ops/activation';
import { unpermuteReduce } from '../ops/unpermute';
import { weightedInput } from '../ops/reference64';
import { decodeBf16 } from '../dtypes/bf16';

export interface CpuBackendOptions {
  /** GEMM worker threads (default: available parallelism) */
  threads?: number;
}

export class CpuBackend implements ComputeBackend {
  readonly name = 'cpu' as const;
  private readonly threads: number;

  constructor(opts: CpuBackendOptions = {}) {
    this.threads = Math.max(1, opts.threads ?? availableParallelism());
  }

  get device(): string {
    const model = cpus()[0]?.model?.trim() || 'unknown CPU';
    return `CPU (${model}, ${this.threads} GEMM thread${this.threads === 1 ? '' : 's'})`;
  }

  async run(inputs: LayerInputs, spec: LayerSpec, opts: RunOptions = {}): Promise<BackendRun> {
    const { signal, onProgress } = opts;
    const tensors: StageTensors = {};
    const timesMs = {} as Record<StageId, number>;
    const notes: string[] = [];
    const [M, K] = inputs.hidden_states.shape as [number, number];
    const N = inputs.w2_weight.shape[2]!;
    const quant = { convention: spec.recipe.quant, scaleFormat: spec.recipe.scaleFormat };
    const gemmOpts = { threads: this.threads, ...(signal ? { signal } : {}) };
    let step = 0;
    let lastDone: StageId | undefined;
    const stage = async <T>(id: StageId, message: string, fn: () => T | Promise<T>): Promise<T> => {
      // the previous stage's tensors are in `tensors` by now: report it before this one starts
      if (lastDone) await opts.onStageDone?.(lastDone, tensors, timesMs);
      lastDone = id;
      if (signal?.aborted) throw new MoeError('E_CANCELLED', `run cancelled before stage '${id}'`);
      onProgress?.(id, step / 8, message);
      const t0 = performance.now();
      const r = await fn();
      timesMs[id] = performance.now() - t0;
      step++;
      return r;
    };

    // 1. quantize activations per token group of 128
    const q = await stage('quantize', 'quantizing activations', () =>
      quantizeActivations(spec.routerWeight === 'input' ? weightedInput(inputs) : inputs.hidden_states, quant),
    );
    tensors.a1q = q.q.withName('a1q');
    tensors.a1q_scale = q.scale.withName('a1q_scale');

    // 2. the scale layout the kernel reads (SM90 MN-major TMA-aligned f32, SM100 packed UE8M0)
    await stage('transform_scales', 'transforming scale layout', () => {
      try {
        const tr = transformScalesFor(spec.arch, q.scale, { kind: 'activation', mn: M, k: K });
        tensors.a1q_scale_layout = tr.tensor.withName('a1q_scale_layout');
        notes.push(`a1q_scale: ${tr.note}`);
      } catch (e) {
        // the layout cannot be produced (e.g. non-power-of-two scales on SM100): the checks report it, the
        // CPU path computes with the row-major scales regardless
        if (!(e instanceof MoeError)) throw e;
        notes.push(`a1q_scale: no ${spec.arch} kernel layout: ${e.message}`);
      }
    });

    // 3. permute into 128-row-aligned expert segments
    const perm = await stage('permute', 'permuting tokens', () => {
      const map = inputs.expert_map?.contiguous().storage;
      const plan = planPermutation(inputs.topk_ids, map ? map.length : inputs.w13_weight.shape[0]!, {
        ...(map ? { expertMap: map as Int32Array } : {}),
        blockM: spec.blockM,
      });
      return { plan, ...permuteRows(q.q, q.scale, plan) };
    });
    const { plan } = perm;
    tensors.m_indices = plan.mIndices;
    tensors.inv_perm = plan.invPerm;
    tensors.a1q_permuted = perm.a1.withName('a1q_permuted');
    tensors.a1q_scale_permuted = perm.a1Scale.withName('a1q_scale_permuted');

    // 4. GEMM1: K → 2N
    const mm1 = await stage('gemm1', 'grouped GEMM 1', () =>
      groupedGemmContiguous(perm.a1, perm.a1Scale, inputs.w13_weight, inputs.w13_weight_scale_inv, plan.mIndices, gemmOpts),
    );
    tensors.mm1_out = mm1.withName('mm1_out');

    // 5. SiLU-and-mul (or clamped SwiGLU), routing weight here for MegaMoE
    const act = await stage('activation', 'SiLU and mul', () => {
      let rowScale: Float32Array | undefined;
      if (spec.routerWeight === 'activation') {
        rowScale = new Float32Array(plan.mSum);
        const w = inputs.topk_weights.contiguous().storage;
        for (let r = 0; r < plan.mSum; r++) if (plan.rowPair[r]! >= 0) rowScale[r] = w[plan.rowPair[r]!]!;
      }
      return siluAndMul(mm1, {
        kind: spec.activation.kind,
        ...(spec.activation.clampLimit !== undefined ? { clampLimit: spec.activation.clampLimit } : {}),
        rowMask: plan.mIndices.storage,
        ...(rowScale ? { rowScale } : {}),
      });
    });
    tensors.act_out = act;

    // 6. re-quantize (padding rows skipped: zero data, zero scales)
    const rq = await stage('requantize', 're-quantizing', () => {
      const S = plan.mSum;
      const G = Math.ceil(N / 128);
      const a2 = sharedBytes(S * N);
      const s2 = new Float32Array(S * G);
      const row = new Float32Array(N);
      for (let r = 0; r < S; r++) {
        if (plan.mIndices.storage[r]! < 0) continue;
        for (let n = 0; n < N; n++) row[n] = decodeBf16(act.storage[r * N + n]!);
        quantizeRowGroups(row, 0, N, a2, r * N, s2, r * G, 1, quant);
      }
      const a2q = new Tensor('f8e4m3fn', [S, N], a2, undefined, 0, 'a2q');
      const a2s = new Tensor('f32', [S, G], s2, undefined, 0, 'a2q_scale');
      try {
        const tr = transformScalesFor(spec.arch, a2s, { kind: 'activation', mn: S, k: N });
        tensors.a2q_scale_layout = tr.tensor.withName('a2q_scale_layout');
        notes.push('a2q_scale: the fused SiLU+quant kernel writes it in the kernel layout directly (no re-layout at GEMM2)');
      } catch (e) {
        if (!(e instanceof MoeError)) throw e;
        notes.push(`a2q_scale: no ${spec.arch} kernel layout: ${e.message}`);
      }
      return { a2q, a2s };
    });
    tensors.a2q = rq.a2q;
    tensors.a2q_scale = rq.a2s;

    // 7. GEMM2: N → K
    const mm2 = await stage('gemm2', 'grouped GEMM 2', () =>
      groupedGemmContiguous(rq.a2q, rq.a2s, inputs.w2_weight, inputs.w2_weight_scale_inv, plan.mIndices, gemmOpts),
    );
    tensors.mm2_out = mm2.withName('mm2_out');

    // 8. unpermute and weighted reduce
    const y = await stage('unpermute', 'unpermute and reduce', () =>
      unpermuteReduce(mm2, plan.invPerm, inputs.topk_weights, { unitWeights: spec.routerWeight !== 'reduce' }),
    );
    tensors.output = y;
    onProgress?.('unpermute', 1, 'done');
    return { tensors, timesMs, device: this.device, notes };
  }
}
