/**
 * Tensor summaries (kernels/summary.ts): the histogram passes for BF16 and FP8 against the element-by-element
 * definition, bit for bit (sum order included, −0 vs +0 included): padding zeros of either sign first, NaN/inf,
 * sums that round in float64, sampling steps and storage offsets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../kernels/tensor';
import { Rng } from '../../kernels/synthetic';
import { summarize } from '../../kernels/summary';
import { decodeBf16 } from '../../kernels/dtypes/bf16';
import { decodeE4M3 } from '../../kernels/dtypes/fp8e4m3';
import { expertPagedTensor } from '../../kernels/expertPages';

/** the definition: finite values in storage order, step by step */
function reference(codes: ArrayLike<number>, decode: (c: number) => number, from: number, n: number, step: number) {
  const s = { min: 0, max: 0, mean: 0, absMax: 0, nanCount: 0, infCount: 0 };
  let min = Infinity, max = -Infinity, sum = 0, cnt = 0;
  for (let i = 0; i < n; i += step) {
    const v = decode(codes[from + i]!);
    if (v !== v) s.nanCount++;
    else if (v === Infinity || v === -Infinity) s.infCount++;
    else {
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
      cnt++;
    }
  }
  if (cnt) Object.assign(s, { min, max, mean: sum / cnt, absMax: Math.max(Math.abs(min), Math.abs(max)) });
  // a sampled summary says so, and how many values it read
  if (step > 1) Object.assign(s, { sampled: { values: Math.ceil(n / step), how: 'even' } });
  return s;
}

type Gen = (rng: Rng, i: number) => number;
const CASES16: [string, Gen][] = [
  ['any code (NaN and inf included)', (r) => r.u32() & 0xffff],
  ['finite codes over every binade (sums that round)', (r) => { const c = r.u32() & 0xffff; return (c & 0x7f80) === 0x7f80 ? c ^ 0x4000 : c; }],
  ['padding zeros, −0 first, no negatives', (r, i) => (i === 3 ? 0x8000 : r.float() < 0.9 ? 0 : r.float() < 0.1 ? 0x8000 : 0x3f80 + (r.u32() & 0x7f))],
  ['padding zeros, +0 first, no positives', (r, i) => (i < 5 ? 0 : r.float() < 0.9 ? 0x8000 : r.float() < 0.1 ? 0 : 0xbf80 + (r.u32() & 0x7f))],
  ['only −0', () => 0x8000],
  ['only zeros of both signs, −0 first', (r, i) => (i === 0 ? 0x8000 : r.u32() & 0x8000)],
  ['padding with one inf', (r, i) => (i === 777 ? 0xff80 : r.float() < 0.95 ? 0 : 0x4000 + (r.u32() & 0x3fff))],
];
const CASES8: [string, Gen][] = [
  ['any code (NaN included)', (r) => r.u32() & 0xff],
  ['padding zeros, −0 first, no negatives', (r, i) => (i === 0 ? 0x80 : r.float() < 0.9 ? 0 : r.float() < 0.1 ? 0x80 : r.u32() & 0x7e)],
  ['padding zeros, +0 first, no positives', (r, i) => (i === 0 ? 0 : r.float() < 0.9 ? 0x80 : r.float() < 0.1 ? 0 : 0x80 | (r.u32() & 0x7e))],
  ['only NaN', () => 0xff],
];

test('BF16 and FP8 summaries equal the element-by-element definition bit for bit', () => {
  let seed = 1;
  for (const [dtype, cases, decode] of [['bf16', CASES16, decodeBf16], ['f8e4m3fn', CASES8, decodeE4M3]] as const)
    for (const [what, gen] of cases)
      // past 2^20 elements (BF16's histogram pass starts there; below, the element loop runs): one size, unsampled
      for (const n of [1, 2, 1000, 100003, (1 << 20) + 3])
        for (const offset of [0, 7]) {
          if (n > 1 << 20 && (dtype !== 'bf16' || offset !== 7)) continue;
          const rng = new Rng(seed++);
          const codes = dtype === 'bf16' ? new Uint16Array(offset + n) : new Uint8Array(offset + n);
          for (let i = 0; i < n; i++) codes[offset + i] = gen(rng, i);
          const t = new Tensor(dtype, [n], codes as never, undefined, offset, 'x');
          for (const sampleAbove of n > 1 << 20 ? [1 << 26] : [1 << 26, 999, 3]) {
            const step = n > sampleAbove ? Math.ceil(n / sampleAbove) : 1;
            assert.deepStrictEqual(summarize(t, sampleAbove), reference(codes, decode, offset, n, step), `${dtype} ${what}: n ${n}, offset ${offset}, step ${step}`);
          }
        }
});

test('a paged FP8 weight summary (one pass per expert into one accumulator) equals one pass over the experts in order', () => {
  const perExpert = 64 * 16;
  // per expert: −0 first then positives; +0 first then negatives; positives only; padding-like zeros of both signs
  const gens: Gen[] = [
    (r, i) => (i === 0 ? 0x80 : r.float() < 0.5 ? r.u32() & 0x7e : r.u32() & 0x80),
    (r, i) => (i === 0 ? 0 : r.float() < 0.5 ? 0x80 | (r.u32() & 0x7e) : r.u32() & 0x80),
    (r) => 1 + (r.u32() % 0x7e),
    (r) => (r.float() < 0.9 ? r.u32() & 0x80 : r.u32() & 0xff),
    (r, i) => (i === 0 ? 0 : r.float() < 0.5 ? r.u32() & 0x7e : r.u32() & 0x80),
  ];
  // which generator each expert uses: a later expert's first zero must not replace an earlier expert's zero min/max
  const scenarios = [[0, 4, 2], [4, 0, 2], [1, 1, 3], [2, 0, 4, 1], [3, 2, 1, 0, 4], [2, 2, 4, 0]];
  for (let order = 0; order < scenarios.length; order++) {
    const sc = scenarios[order]!;
    const E = sc.length + 1;
    const rng = new Rng(100 + order);
    const data = Array.from({ length: E }, (_, e) => Uint8Array.from({ length: perExpert }, (_, i) => gens[sc[e % sc.length]!]!(rng, i)));
    const active = (e: number): boolean => e !== (order % E);
    const t = expertPagedTensor([E, 64, 16], 'w', { perExpert, active, fill: (e, dst) => dst.set(data[e]!.subarray(0, dst.length)) });
    const codes: number[] = [];
    for (let e = 0; e < E; e++) if (active(e)) codes.push(...data[e]!);
    const want = reference(codes, decodeE4M3, 0, codes.length, 1);
    // the inactive expert: zeros, counted (summarizePaged's rule)
    const cnt = (codes.length - want.nanCount - want.infCount) + perExpert;
    let sum = 0;
    for (const c of codes) if (Number.isFinite(decodeE4M3(c))) sum += decodeE4M3(c);
    const min = Math.min(want.min, 0), max = Math.max(want.max, 0);
    assert.deepStrictEqual(summarize(t, 1 << 26), { min, max, mean: sum / cnt, absMax: Math.max(Math.abs(min), Math.abs(max)), nanCount: want.nanCount, infCount: 0 }, `order ${order}`);
    // unsampled, that is the same tensor held whole (the inactive expert's zeros in their place), value for value
    const whole = new Uint8Array(E * perExpert);
    for (let e = 0; e < E; e++) if (active(e)) whole.set(data[e]!, e * perExpert);
    assert.deepStrictEqual(summarize(t, 1 << 26), summarize(new Tensor('f8e4m3fn', [E, 64, 16], whole, undefined, 0, 'w'), 1 << 26), `order ${order}: whole`);
    // sampled without a way to sample an expert (a source that can only fill one whole), it takes each expert's first
    // values, and says so
    assert.equal(summarize(t, 100).sampled?.how, 'expert-prefix');
  }
});
