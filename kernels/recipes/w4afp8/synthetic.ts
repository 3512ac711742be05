/**
 * A seeded synthetic W4AFP8 layer from a spec (same seed, same tensors everywhere):
 * - hidden_states BF16 and the router as the FP8 recipes draw them (standard normal with a few ×8 outlier channels;
 *   Zipf-skewed distinct top-k, softmax weights), so the same preset and seed route the same way;
 * - weights: uniformly random int4 (every byte is a valid pair), written only for local experts that receive tokens
 *   (the untouched rest of the buffer costs no memory); group scales around a typical value (±50 %) that keeps the
 *   GEMM outputs O(1);
 * - static input scales as a calibration would give them: w13_input_scale per expert between 60 % and 100 % of
 *   amax(x)/448 (the largest expert covers this batch, as the max SGLang takes), w2_input_scale likewise around a
 *   typical activation range.
 * TP slices I (I_p = I / tp); EP keeps E / ep experts (spec.expertParallel, the linear split SGLang uses).
 */
import type { LayerSpec } from '../../spec';
import type { SyntheticLayer } from '../types';
import { Tensor } from '../../tensor';
import { MoeError } from '../../errors';
import { Rng, syntheticRouting, expertMapOf, MAX_RESIDENT_WEIGHT_BYTES, MAX_WEIGHT_TENSOR_BYTES } from '../../synthetic';
import { validateExpertMap } from '../../ops/permute';
import { encodeBf16, decodeBf16 } from '../../dtypes/bf16';
import { T } from '../tensors';
import { WT } from './tensors';
import { intermediatePerGpu } from './options';
import type { W4Inputs } from './inputs';

/** σ of a uniform int4 in [−8, 7] */
const INT4_STD = Math.sqrt((16 * 16 - 1) / 12);
/** a typical |silu(gate)·up| range of the synthetic layer (the per-expert w2 input scales spread below it) */
const ACT_RANGE = 12;

function fillBytes(dst: Uint8Array, seed: number): void {
  let x = seed | 0 || 0x2545f491;
  let i = 0;
  if (dst.byteOffset % 4 === 0) {
    const words = new Uint32Array(dst.buffer, dst.byteOffset, dst.length >>> 2);
    for (let w = 0; w < words.length; w++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[w] = x >>> 0;
    }
    i = words.length * 4;
  }
  for (; i < dst.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    dst[i] = x & 0xff;
  }
}

const advice = 'use expert parallelism (--ep 8, as DeepSeek-R1 W4AFP8 is served) or tensor parallelism (--tp 8), or fewer tokens';

function allocPacked(name: string, experts: number, perExpert: number): Uint8Array {
  if (experts * perExpert > MAX_WEIGHT_TENSOR_BYTES)
    throw new MoeError('E_SPEC', `${name}: ${experts} experts × ${(perExpert / 1e6).toFixed(1)} MB of packed int4 (${((experts * perExpert) / 2 ** 30).toFixed(1)} GiB) exceed the 4 GiB one weight tensor may take in the CPU engine; ${advice}`, name);
  return new Uint8Array(experts * perExpert);
}

export function syntheticW4(spec: LayerSpec): SyntheticLayer {
  if (spec.source.kind !== 'synthetic') throw new MoeError('E_SPEC', `synthetic W4AFP8 layer: the spec's data source is '${spec.source.kind}', not 'synthetic'`);
  const { tokens: M, hidden: H, experts: E, topk } = spec;
  const Ip = intermediatePerGpu(spec);
  for (const [what, v] of [['tokens', M], ['hidden', H], ['intermediate per GPU', Ip], ['experts', E], ['topk', topk]] as const)
    if (!Number.isInteger(v) || v < (what === 'tokens' ? 0 : 1)) throw new MoeError('E_SPEC', `spec ${what} must be a ${what === 'tokens' ? 'non-negative' : 'positive'} integer, got ${v}`);
  if (H % 128 !== 0 || Ip % 128 !== 0) throw new MoeError('E_SPEC', `synthetic W4AFP8 layer: H = ${H} and I_p = ${Ip} must be multiples of 128 (int4 scale groups)`);
  const { seed, skew } = spec.source;
  const rng = new Rng(seed);

  const gain = new Float32Array(H);
  for (let c = 0; c < H; c++) gain[c] = rng.float() < 0.01 ? 8 : 1;
  const x = new Uint16Array(M * H);
  let amax = 0;
  for (let i = 0; i < M * H; i++) {
    x[i] = encodeBf16(rng.normal() * gain[i % H]!);
    amax = Math.max(amax, Math.abs(decodeBf16(x[i]!)));
  }
  const routing = syntheticRouting(M, E, topk, skew, rng);
  const map = expertMapOf(spec);
  const El = map ? validateExpertMap(map, E) : E;
  const active = new Uint8Array(El);
  for (const g of routing.topkIds) {
    const l = map ? map[g]! : g;
    if (l >= 0) active[l] = 1;
  }
  const activeCount = active.reduce((a, v) => a + v, 0);
  const per13 = 2 * Ip * (H / 2);
  const per2 = H * (Ip / 2);
  if (activeCount * (per13 + per2) > MAX_RESIDENT_WEIGHT_BYTES / 2)
    throw new MoeError(
      'E_SPEC',
      `w13_weight: ${activeCount} active experts × ${((per13 + per2) / 1e6).toFixed(1)} MB of packed int4 (${((activeCount * (per13 + per2)) / 1e9).toFixed(1)} GB) are more than a synthetic ${spec.name} layer may use here; ${advice}`,
      T.w13_weight,
    );
  const w13 = allocPacked(T.w13_weight, El, per13);
  const w2 = allocPacked(T.w2_weight, El, per2);

  const G13 = H / 128;
  const G2 = Ip / 128;
  const s13 = new Float32Array(El * 2 * Ip * G13);
  const s2 = new Float32Array(El * H * G2);
  const t13 = (0.02 * Math.sqrt(2048 / H)) / INT4_STD;
  const t2 = (0.02 * Math.sqrt(2048 / Ip)) / INT4_STD;
  for (let i = 0; i < s13.length; i++) s13[i] = Math.fround(t13 * (0.5 + rng.float()));
  for (let i = 0; i < s2.length; i++) s2[i] = Math.fround(t2 * (0.5 + rng.float()));

  // static input scales: per expert a fraction of the range, the largest one covering it (rounded up to BF16)
  const in13 = new Uint16Array(El * 2);
  const in2 = new Uint16Array(El);
  const bfUp = (v: number): number => {
    const b = encodeBf16(v);
    return decodeBf16(b) >= v ? b : b + 1;
  };
  const r1 = Math.max(amax, 1e-3) / 448;
  const r2 = ACT_RANGE / 448;
  for (let i = 0; i < in13.length; i++) in13[i] = encodeBf16(r1 * (0.6 + 0.4 * rng.float()));
  for (let i = 0; i < in2.length; i++) in2[i] = encodeBf16(r2 * (0.6 + 0.4 * rng.float()));
  if (El > 0) {
    in13[Math.floor(rng.float() * in13.length)] = bfUp(r1);
    in2[Math.floor(rng.float() * in2.length)] = bfUp(r2);
  }

  // the codes draw from the generator after everything above, in expert order: deferring them changes no value
  let next = 0;
  const fillExpert = (e: number): void => {
    if (!active[e]) return;
    fillBytes(w13.subarray(e * per13, (e + 1) * per13), rng.u32());
    fillBytes(w2.subarray(e * per2, (e + 1) * per2), rng.u32());
  };
  const fillWeights = (): void => {
    while (next < El) fillExpert(next++);
  };
  const fillWeightsAsync = async (): Promise<void> => {
    while (next < El) {
      fillExpert(next++);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
  const inputs: W4Inputs = {
    hidden_states: new Tensor('bf16', [M, H], x, undefined, 0, T.hidden_states),
    topk_ids: new Tensor('i32', [M, topk], routing.topkIds, undefined, 0, T.topk_ids),
    topk_weights: new Tensor('f32', [M, topk], routing.topkWeights, undefined, 0, T.topk_weights),
    w13_weight: new Tensor('i4x2', [El, 2 * Ip, H / 2], w13, undefined, 0, T.w13_weight),
    w13_weight_scale_inv: new Tensor('f32', [El, 2 * Ip, G13], s13, undefined, 0, T.w13_weight_scale_inv),
    w2_weight: new Tensor('i4x2', [El, H, Ip / 2], w2, undefined, 0, T.w2_weight),
    w2_weight_scale_inv: new Tensor('f32', [El, H, G2], s2, undefined, 0, T.w2_weight_scale_inv),
    w13_input_scale: new Tensor('bf16', [El, 2], in13, undefined, 0, WT.w13_input_scale),
    w2_input_scale: new Tensor('bf16', [El], in2, undefined, 0, WT.w2_input_scale),
    ...(map ? { expert_map: new Tensor('i32', [E], map, undefined, 0, T.expert_map) } : {}),
  };
  return { inputs: inputs as unknown as Record<string, Tensor>, fillWeights, fillWeightsAsync, deferred: new Set([T.w13_weight, T.w2_weight]) };
}

/** the synthetic layer with its weights written (tests, the CLI) */
export function syntheticW4Inputs(spec: LayerSpec): W4Inputs {
  const s = syntheticW4(spec);
  s.fillWeights!();
  return s.inputs as unknown as W4Inputs;
}
