/**
 * Seeded synthetic inputs for a LayerSpec: same seed, same tensors, on every machine.
 * - hidden_states: BF16, standard normal with a few outlier channels (×8), as LLM activations have — so the
 *   per-group scales visibly differ.
 * - router: Zipf(skew) popularity over a seeded permutation of the experts (skew 0 = uniform); each token draws
 *   top-k DISTINCT experts without replacement (Gumbel top-k); weights are a softmax over the chosen slots (sum 1),
 *   largest first.
 * - weights: FP8 codes generated directly (Gaussian-shaped code distribution through a 64K inverse-CDF table) plus
 *   128×128 block scales, only for the local experts that receive tokens. The full (E_l, 2N, K) buffer is allocated
 *   as shared memory, zero-filled lazily by the OS, so untouched experts cost no resident memory; there is never a
 *   float32 copy of a weight tensor. syntheticInputsLazy makes each weight tensor only when something reads it (a
 *   run of only the stages a picture needs never does). A layer whose w13 extent passes one array's 4 GiB (a whole
 *   DeepSeek-V3 layer on one rank), or, read by the CPU engine, passes PAGING.cpuTensorBytes (a fresh tensor's
 *   page faults cost more than making it), gets weights made one expert at a time instead (kernels/expertPages.ts):
 *   the same bytes per expert, one GEMM batch of experts resident at a time.
 */
import { Tensor } from './tensor';
import { MoeError } from './errors';
import type { LayerSpec } from './spec';
import type { LayerInputs } from './backend/types';
import { encodeBf16 } from './dtypes/bf16';
import { ceilScaleToUe8m0 } from './dtypes/ue8m0';
import { expertMapFor, validateExpertMap } from './ops/permute';
import { sharedBytes } from './ops/gemm';
import { lazyTensor } from './lazyTensor';
import { expertPagedTensor, syntheticWeightsPaged, type WeightReader } from './expertPages';
import { fillCodes, sampleCodes } from './syntheticCodes';
import { fillCodesParallel } from './syntheticCodesParallel';

/** xoshiro128** (Blackman & Vigna): small state, good statistics, 32-bit integer ops only. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  constructor(seed: number) {
    // splitmix32 spreads any seed (0 included) over the four state words
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next() | 1;
  }
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }
  /** uniform in [0, 1) */
  float(): number {
    return this.u32() / 4294967296;
  }
  /** standard normal (Box–Muller) */
  normal(): number {
    const u = 1 - this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** Block scales around `typical` (±50%); UE8M0 recipes get the power of two at or above. */
function fillScales(dst: Float32Array, from: number, n: number, rng: Rng, typical: number, ue8m0: boolean): void {
  for (let i = 0; i < n; i++) {
    const s = Math.fround(typical * (0.5 + rng.float()));
    dst[from + i] = ue8m0 ? ceilScaleToUe8m0(s).scale : s;
  }
}

/** BF16 (M, K) activations: standard normal with ~1% outlier channels (×8), as LLM activations have. */
export function syntheticHiddenStates(M: number, K: number, rng: Rng): Uint16Array {
  const channelGain = new Float32Array(K);
  for (let k = 0; k < K; k++) channelGain[k] = rng.float() < 0.01 ? 8 : 1;
  const x = new Uint16Array(M * K);
  for (let i = 0; i < M * K; i++) x[i] = encodeBf16(rng.normal() * channelGain[i % K]!);
  return x;
}

export interface SyntheticRouting {
  topkIds: Int32Array;
  topkWeights: Float32Array;
}

/** Router: Zipf popularity over a seeded expert order; distinct experts per token; softmax weights summing to 1. */
export function syntheticRouting(tokens: number, experts: number, topk: number, skew: number, rng: Rng): SyntheticRouting {
  if (topk > experts) throw new MoeError('E_SPEC', `topk (${topk}) cannot exceed the number of experts (${experts})`);
  if (!(skew >= 0) || !Number.isFinite(skew)) throw new MoeError('E_SPEC', `router skew must be a finite number ≥ 0, got ${skew}`);
  const order = Array.from({ length: experts }, (_, i) => i);
  for (let i = experts - 1; i > 0; i--) {
    const j = Math.floor(rng.float() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const logP = new Float64Array(experts);
  for (let r = 0; r < experts; r++) logP[order[r]!] = -skew * Math.log(r + 1);
  const ids = new Int32Array(tokens * topk);
  const w = new Float32Array(tokens * topk);
  const keys = new Float64Array(experts);
  const idx = Array.from({ length: experts }, (_, i) => i);
  const logits = new Float64Array(topk);
  for (let t = 0; t < tokens; t++) {
    // Gumbel top-k = sampling k distinct experts without replacement in proportion to p
    for (let e = 0; e < experts; e++) keys[e] = logP[e]! - Math.log(-Math.log(1 - rng.float() * (1 - 1e-12)));
    idx.sort((a, b) => keys[b]! - keys[a]!);
    for (let s = 0; s < topk; s++) logits[s] = rng.normal();
    logits.sort().reverse();
    let sum = 0;
    for (let s = 0; s < topk; s++) sum += Math.exp(logits[s]! - logits[0]!);
    for (let s = 0; s < topk; s++) {
      ids[t * topk + s] = idx[s]!;
      w[t * topk + s] = Math.exp(logits[s]! - logits[0]!) / sum;
    }
  }
  return { topkIds: ids, topkWeights: w };
}

/** The expert map a spec implies: none without expert parallelism. */
export function expertMapOf(spec: LayerSpec): Int32Array | undefined {
  return spec.expertParallel && spec.expertParallel.size > 1 ? expertMapFor(spec.experts, spec.expertParallel) : undefined;
}

/** Resident FP8 weight bytes above which a synthetic layer is refused rather than left to exhaust the machine. */
export const MAX_RESIDENT_WEIGHT_BYTES = 12e9;
/** One weight tensor's extent (all local experts, active or not). */
export const MAX_WEIGHT_TENSOR_BYTES = 2 ** 32 - 1;

/**
 * Allocates one (E_local, rows, K) FP8 weight buffer. Only active experts' pages are ever written (untouched pages
 * cost no memory), but the whole extent must fit one typed array — Node 20 caps that at 4 GiB — and the active part
 * must fit the machine: both limits become an error that says what to change instead of a RangeError.
 */
function allocWeights(name: string, experts: number, perExpert: number, activeExperts: number, spec: LayerSpec): Uint8Array {
  const advice = 'use expert parallelism (e.g. --ep 8, as DeepSeek-V3 is served) or fewer tokens/experts';
  if (activeExperts * perExpert * 1.5 > MAX_RESIDENT_WEIGHT_BYTES)
    throw new MoeError(
      'E_SPEC',
      `${name}: ${activeExperts} active experts × ${(perExpert / 1e6).toFixed(0)} MB of FP8 weights (with w2: ${((activeExperts * perExpert * 1.5) / 1e9).toFixed(1)} GB) exceed the ${MAX_RESIDENT_WEIGHT_BYTES / 1e9} GB a synthetic ${spec.name} layer may use here; ${advice}`,
      name,
    );
  // 4 GiB: Node 20's typed-array limit; the CPU GEMM's shared buffers are only tested below it on any Node
  if (experts * perExpert > MAX_WEIGHT_TENSOR_BYTES)
    throw new MoeError(
      'E_SPEC',
      `${name}: [${experts}, ${perExpert / spec.hidden}, ${spec.hidden}] FP8 weights (${((experts * perExpert) / 2 ** 30).toFixed(1)} GiB) exceed the 4 GiB one weight tensor may take in the CPU engine; ${advice}`,
      name,
    );
  return sharedBytes(experts * perExpert);
}

/**
 * The layer's synthetic inputs, weights written. `reader`: the backend that reads the weights ('cpu': large ones are
 * made per GEMM batch of experts, kernels/expertPages.ts); by default they are whole tensors up to one array's
 * 4 GiB, as the CUDA addon, a file writer or any reader of `storage` takes them.
 */
export function syntheticInputs(spec: LayerSpec, reader: WeightReader = 'cuda'): LayerInputs {
  const d = syntheticInputsDeferred(spec, reader);
  d.fillWeights();
  return d.inputs;
}

/**
 * What writes synthetic FP8 weights, as an object so that a test can spy on it (a scales-only export must never
 * call it): allocate one (E_local, rows, K) buffer, and write one expert's codes.
 */
export const weightWriter = {
  alloc: allocWeights,
  fillExpert: (dst: Uint8Array, seed: number): void => fillCodes(dst, seed),
};

/** Everything of a synthetic layer but the FP8 weight codes, and how to write those (per tensor, per expert). */
interface SyntheticParts {
  /** hidden states, routing, block scales (and the expert map): final values */
  small: Omit<LayerInputs, 'w13_weight' | 'w2_weight'>;
  El: number;
  active: Uint8Array;
  activeCount: number;
  /** per local expert, the seed of its w13 and w2 codes (0 for experts without tokens) */
  seeds13: Uint32Array;
  seeds2: Uint32Array;
}

function syntheticParts(spec: LayerSpec): SyntheticParts {
  if (spec.source.kind !== 'synthetic') throw new MoeError('E_SPEC', `syntheticInputs: the spec's data source is '${spec.source.kind}', not 'synthetic'`);
  const { tokens: M, hidden: K, intermediate: N, experts: E, topk } = spec;
  for (const [what, v] of [['tokens', M], ['hidden', K], ['intermediate', N], ['experts', E], ['topk', topk]] as const)
    if (!Number.isInteger(v) || v < (what === 'tokens' ? 0 : 1)) throw new MoeError('E_SPEC', `spec.${what} must be a ${what === 'tokens' ? 'non-negative' : 'positive'} integer, got ${v}`);
  const { seed, skew } = spec.source;
  const rng = new Rng(seed);

  const x = syntheticHiddenStates(M, K, rng);

  const routing = syntheticRouting(M, E, topk, skew, rng);
  const map = expertMapOf(spec);
  const El = map ? validateExpertMap(map, E) : E;
  const active = new Uint8Array(El);
  for (const g of routing.topkIds) {
    const l = map ? map[g]! : g;
    if (l >= 0) active[l] = 1;
  }

  const ue8m0 = spec.recipe.scaleFormat === 'ue8m0';
  const Kb = Math.ceil(K / 128);
  const Nb13 = Math.ceil((2 * N) / 128);
  const Nb2 = Math.ceil(N / 128);
  const activeCount = active.reduce((a, v) => a + v, 0);
  const s13 = new Float32Array(El * Nb13 * Kb);
  const s2 = new Float32Array(El * Kb * Nb2);
  // typical scale: weights with std ≈ 0.02 / √(K/2048) keep the GEMM outputs O(1); codes have σ = 112
  const t13 = (0.02 * Math.sqrt(2048 / K)) / 112;
  const t2 = (0.02 * Math.sqrt(2048 / N)) / 112;
  fillScales(s13, 0, s13.length, rng, t13, ue8m0);
  fillScales(s2, 0, s2.length, rng, t2, ue8m0);
  // the code seeds draw from the same generator after everything above, in expert order (w13 then w2 of each
  // active expert): drawn here, so writing the codes late, per tensor or not at all changes no value
  const seeds13 = new Uint32Array(El);
  const seeds2 = new Uint32Array(El);
  for (let e = 0; e < El; e++) {
    if (!active[e]) continue;
    seeds13[e] = rng.u32();
    seeds2[e] = rng.u32();
  }
  const small: SyntheticParts['small'] = {
    hidden_states: new Tensor('bf16', [M, K], x, undefined, 0, 'hidden_states'),
    topk_ids: new Tensor('i32', [M, topk], routing.topkIds, undefined, 0, 'topk_ids'),
    topk_weights: new Tensor('f32', [M, topk], routing.topkWeights, undefined, 0, 'topk_weights'),
    w13_weight_scale_inv: new Tensor('f32', [El, Nb13, Kb], s13, undefined, 0, 'w13_weight_scale_inv'),
    w2_weight_scale_inv: new Tensor('f32', [El, Kb, Nb2], s2, undefined, 0, 'w2_weight_scale_inv'),
    ...(map ? { expert_map: new Tensor('i32', [E], map, undefined, 0, 'expert_map') } : {}),
  };
  return { small, El, active, activeCount, seeds13, seeds2 };
}

/** the inputs record in its usual key order (summaries, traces and files list tensors in this order) */
function assemble(p: SyntheticParts, w13: Tensor<'f8e4m3fn'>, w2: Tensor<'f8e4m3fn'>): LayerInputs {
  const { hidden_states, topk_ids, topk_weights, w13_weight_scale_inv, w2_weight_scale_inv, expert_map } = p.small;
  return { hidden_states, topk_ids, topk_weights, w13_weight: w13, w13_weight_scale_inv, w2_weight: w2, w2_weight_scale_inv, ...(expert_map ? { expert_map } : {}) };
}

/**
 * Weights made per expert (kernels/expertPages.ts syntheticWeightsPaged: past one array, or large and read by the CPU
 * engine): each expert's codes from its own seed — the bytes the one-array path writes at that expert's offset (both
 * fill whole 4-byte words from offset 0, so both take fillCodes' word path).
 */
function pagedLayer(p: SyntheticParts, spec: LayerSpec, reader: WeightReader): boolean {
  return syntheticWeightsPaged(p.El, spec.intermediate, spec.hidden, reader);
}

function pagedWeights(name: 'w13_weight' | 'w2_weight', shape: [number, number, number], p: SyntheticParts, seeds: Uint32Array): Tensor<'f8e4m3fn'> {
  return expertPagedTensor(shape, name, {
    perExpert: shape[1] * shape[2],
    active: (e) => p.active[e] === 1,
    // a shorter dst gets the stream's prefix (equal to the whole fill's first bytes when its length is a multiple of 4)
    fill: (e, dst) => {
      if (p.active[e]) weightWriter.fillExpert(dst, seeds[e]!);
      else dst.fill(0);
    },
    // a GEMM batch of experts: their codes on the worker threads (kernels/syntheticCodesParallel.ts, same bytes)
    fillMany: async (fills) => {
      for (const f of fills) if (!p.active[f.e]) f.dst.fill(0);
      await fillCodesParallel(fills.filter((f) => p.active[f.e]).map((f) => ({ dst: f.dst, seed: seeds[f.e]! })));
    },
    // a summary's even sample: the stream jumped to each sampled code (kernels/syntheticCodes.ts), nothing else made
    sample: (e, from, step, dst) => {
      if (p.active[e]) sampleCodes(dst, seeds[e]!, shape[1] * shape[2], from, step);
      else dst.fill(0);
    },
  });
}

function pagedInputs(p: SyntheticParts, spec: LayerSpec): LayerInputs {
  const { hidden: K, intermediate: N } = spec;
  return assemble(p, pagedWeights('w13_weight', [p.El, 2 * N, K], p, p.seeds13), pagedWeights('w2_weight', [p.El, K, N], p, p.seeds2));
}

/**
 * The same inputs as syntheticInputs, with the FP8 weight codes (hundreds of MB: the slow part) written only when
 * `fillWeights` is called; until then w13_weight / w2_weight are zero-filled (shapes, scales and routing are final).
 * The pipeline runs the activation stages meanwhile, so the panel's first picture does not wait for the weights.
 * `paged`: the weights are made per expert when read (nothing to defer; fillWeights does nothing).
 */
export function syntheticInputsDeferred(
  spec: LayerSpec,
  reader: WeightReader = 'cuda',
): { inputs: LayerInputs; paged: boolean; fillWeights: () => void; fillWeightsAsync: () => Promise<void> } {
  const p = syntheticParts(spec);
  if (pagedLayer(p, spec, reader)) return { inputs: pagedInputs(p, spec), paged: true, fillWeights: () => undefined, fillWeightsAsync: async () => undefined };
  const { hidden: K, intermediate: N } = spec;
  const w13 = weightWriter.alloc('w13_weight', p.El, 2 * N * K, p.activeCount, spec);
  const w2 = weightWriter.alloc('w2_weight', p.El, K * N, p.activeCount, spec);
  let next = 0;
  const fillExpert = (e: number): void => {
    if (!p.active[e]) return;
    weightWriter.fillExpert(w13.subarray(e * 2 * N * K, (e + 1) * 2 * N * K), p.seeds13[e]!);
    weightWriter.fillExpert(w2.subarray(e * K * N, (e + 1) * K * N), p.seeds2[e]!);
  };
  const fillWeights = (): void => {
    while (next < p.El) fillExpert(next++);
  };
  /** one expert at a time, yielding between experts so the event loop (an extension host) stays responsive */
  const fillWeightsAsync = async (): Promise<void> => {
    while (next < p.El) {
      fillExpert(next++);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
  const inputs = assemble(p, new Tensor('f8e4m3fn', [p.El, 2 * N, K], w13, undefined, 0, 'w13_weight'), new Tensor('f8e4m3fn', [p.El, K, N], w2, undefined, 0, 'w2_weight'));
  return { inputs, paged: false, fillWeights, fillWeightsAsync };
}

/**
 * The same inputs, bit for bit, with w13_weight and w2_weight as lazy tensors (kernels/lazyTensor.ts): each is
 * allocated and written, on its own, only when something reads its values — a stage that runs (GEMM 1 reads w13,
 * GEMM 2 w2), a summary or a tile. Their shapes are known at once, so guards and plans do not create them.
 */
export function syntheticInputsLazy(spec: LayerSpec, reader: WeightReader = 'cuda'): LayerInputs {
  const p = syntheticParts(spec);
  if (pagedLayer(p, spec, reader)) return pagedInputs(p, spec);
  const { hidden: K, intermediate: N } = spec;
  const weights = (name: 'w13_weight' | 'w2_weight', shape: [number, number, number], seeds: Uint32Array): Tensor<'f8e4m3fn'> =>
    lazyTensor('f8e4m3fn', shape, name, () => {
      const per = shape[1] * shape[2];
      const buf = weightWriter.alloc(name, p.El, per, p.activeCount, spec);
      for (let e = 0; e < p.El; e++) if (p.active[e]) weightWriter.fillExpert(buf.subarray(e * per, (e + 1) * per), seeds[e]!);
      return new Tensor('f8e4m3fn', shape, buf, undefined, 0, name);
    });
  return assemble(p, weights('w13_weight', [p.El, 2 * N, K], p.seeds13), weights('w2_weight', [p.El, K, N], p.seeds2));
}
