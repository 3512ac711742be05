/**
 * Seeded synthetic inputs of the torchao FP8 training recipe from a LayerSpec (tokens = M, hidden = K,
 * intermediate = N, experts = E; with --ep, the experts of this rank): group sizes from the project's Zipf router
 * (each token picks one expert; skew 0 = uniform over a seeded expert order), BF16 activations with a few outlier
 * channels (×8) so the 1×128 scales visibly differ, small BF16 gradients and BF16 weights. Same seed, same tensors.
 * Values come from 64K-entry BF16 tables of normal samples indexed by a fast xorshift stream: a layer of hundreds of
 * millions of weights is written in a second or two.
 */
import { Tensor } from '../../tensor';
import { MoeError, shapeStr } from '../../errors';
import type { LayerSpec } from '../../spec';
import { Rng, expertMapOf, MAX_RESIDENT_WEIGHT_BYTES } from '../../synthetic';
import { encodeBf16 } from '../../dtypes/bf16';
import type { TorchaoInputs } from './inputs';
import { TT } from './tensors';

/** bytes per weight element a CPU run keeps resident: BF16 weight, two FP8 copies, float32 wgrad D, BF16 grad_weight */
export const RESIDENT_BYTES_PER_WEIGHT = 2 + 1 + 1 + 4 + 2;

/** the experts this spec's grouped GEMM sees: all of them, or this rank's under expert parallelism */
export function localExperts(spec: LayerSpec): number {
  const map = expertMapOf(spec);
  return map ? map.filter((v) => v >= 0).length : spec.experts;
}

/** tokens per expert: M tokens, each to one expert drawn with Zipf(skew) popularity over a seeded expert order */
export function syntheticGroupSizes(tokens: number, experts: number, skew: number, rng: Rng): Int32Array {
  if (!(skew >= 0) || !Number.isFinite(skew)) throw new MoeError('E_SPEC', `router skew must be a finite number ≥ 0, got ${skew}`);
  const order = Array.from({ length: experts }, (_, i) => i);
  for (let i = experts - 1; i > 0; i--) {
    const j = Math.floor(rng.float() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const cum = new Float64Array(experts);
  let total = 0;
  for (let r = 0; r < experts; r++) {
    total += Math.exp(-skew * Math.log(r + 1));
    cum[r] = total;
  }
  const sizes = new Int32Array(experts);
  for (let t = 0; t < tokens; t++) {
    const u = rng.float() * total;
    let lo = 0;
    let hi = experts - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    sizes[order[lo]!]!++;
  }
  return sizes;
}

/** 64K BF16 codes of σ·N(0, 1) samples */
function bf16NormalTable(sigma: number, rng: Rng): Uint16Array {
  const t = new Uint16Array(65536);
  for (let i = 0; i < t.length; i++) t[i] = encodeBf16(sigma * rng.normal());
  return t;
}

/** fills dst from `tables` (one per column: tableOf(col)) with a xorshift32 stream */
function fillBf16(dst: Uint16Array, cols: number, tableOf: (col: number) => Uint16Array, seed: number): void {
  let x = seed | 0 || 0x2545f491;
  for (let i = 0; i < dst.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    dst[i] = tableOf(i % cols)[x & 0xffff]!;
  }
}

/** BF16 tensors for given group sizes and shapes (the worked example and the tests use this with their own sizes) */
export function torchaoInputsFor(sizes: ArrayLike<number>, K: number, N: number, seed: number): TorchaoInputs {
  const E = sizes.length;
  let M = 0;
  for (let e = 0; e < E; e++) M += sizes[e]!;
  const bytes = E * N * K * RESIDENT_BYTES_PER_WEIGHT;
  if (bytes > MAX_RESIDENT_WEIGHT_BYTES)
    throw new MoeError(
      'E_SPEC',
      `weight ${shapeStr([E, N, K])}: a CPU run of the torchao training recipe keeps ~${(bytes / 1e9).toFixed(1)} GB resident (BF16 weight, its forward and dgrad FP8 copies, the float32 wgrad) — over the ${MAX_RESIDENT_WEIGHT_BYTES / 1e9} GB limit; use expert parallelism (--ep N) or fewer experts`,
      TT.weight,
    );
  const rng = new Rng(seed);
  const unit = bf16NormalTable(1, rng);
  const outlier = bf16NormalTable(8, rng);
  const isOutlier = new Uint8Array(K);
  for (let c = 0; c < K; c++) isOutlier[c] = rng.float() < 0.01 ? 1 : 0;
  const grad = bf16NormalTable(2 ** -10, rng);
  const wTable = bf16NormalTable(0.02, rng);
  const x = new Uint16Array(M * K);
  fillBf16(x, K, (c) => (isOutlier[c] ? outlier : unit), rng.u32());
  const g = new Uint16Array(M * N);
  fillBf16(g, N, () => grad, rng.u32());
  const w = new Uint16Array(E * N * K);
  fillBf16(w, K, () => wTable, rng.u32());
  return {
    input: new Tensor('bf16', [M, K], x, undefined, 0, TT.input),
    grad_output: new Tensor('bf16', [M, N], g, undefined, 0, TT.grad_output),
    weight: new Tensor('bf16', [E, N, K], w, undefined, 0, TT.weight),
    group_sizes: new Tensor('i32', [E], Int32Array.from(sizes), undefined, 0, TT.group_sizes),
  };
}

export function syntheticTorchao(spec: LayerSpec): TorchaoInputs {
  const seed = spec.source.kind === 'synthetic' ? spec.source.seed : 0;
  const skew = spec.source.kind === 'synthetic' ? spec.source.skew : 0;
  const E = localExperts(spec);
  const sizes = syntheticGroupSizes(spec.tokens, E, skew, new Rng(seed ^ 0x70a0));
  return torchaoInputsFor(sizes, spec.hidden, spec.intermediate, seed);
}

/** docs/layouts-and-stages.md §8's worked example: two experts with 100 and 30 tokens, K = N = 256 */
export const WORKED_EXAMPLE = { sizes: [100, 30], K: 256, N: 256 } as const;

export function workedExampleInputs(seed = 8): TorchaoInputs {
  return torchaoInputsFor(WORKED_EXAMPLE.sizes, WORKED_EXAMPLE.K, WORKED_EXAMPLE.N, seed);
}
