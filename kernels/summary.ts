/**
 * What the Trace says about a tensor: min/max/mean and NaN/inf counts (exact up to 64M elements, evenly sampled
 * above), its layout descriptor (the webview draws layouts from it and never re-derives them), and its values when
 * small enough to send inline.
 */
import type { TensorRef, TensorSummary } from './trace';
import type { Packing } from './layout/descriptor';
import { type Tensor, decoderFor } from './tensor';
import { describeLayout } from './layout/describe';
import { E4M3_DECODE } from './dtypes/fp8e4m3';
import { expertPagesOf, type ExpertPages } from './expertPages';

/**
 * Stage tensors are summarised exactly up to 64M elements. Weight tensors (validated free of NaN codes before the
 * run, hundreds of MB) are summarised from an even sample of 4M elements.
 */
export const SUMMARY_SAMPLE = 1 << 26;
export const WEIGHT_SAMPLE = 1 << 22;
export const SAMPLED_TENSORS: ReadonlySet<string> = new Set(['w13_weight', 'w2_weight']);

let bf16Table: Float32Array | undefined;
/** value of every BF16 bit pattern (256 KB, built once): the summary loop is then one load per element */
function bf16Values(): Float32Array {
  if (bf16Table) return bf16Table;
  const bits = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) bits[h] = h << 16;
  return (bf16Table = new Float32Array(bits.buffer));
}

interface Acc {
  min: number;
  max: number;
  sum: number;
  cnt: number;
  nan: number;
  inf: number;
}

function accValue(v: number, a: Acc): void {
  if (v - v !== 0) {
    if (v !== v) a.nan++;
    else a.inf++;
    return;
  }
  if (v < a.min) a.min = v;
  if (v > a.max) a.max = v;
  a.sum += v;
  a.cnt++;
}
/**
 * BF16 and FP8 stage tensors are mostly the zeros of padding rows (93% of them for Qwen3-30B-A3B at 128 tokens), and
 * a code takes only 2^16 or 2^8 values: one pass counts each code (a histogram; the zero code in a register, the
 * one bin a run of padding would otherwise hit back to back) and, for BF16, adds the non-zero values in order. min,
 * max, count and the NaN/inf counts then come from the histogram, exactly what accValue would give element by
 * element:
 * - the sum skips ±0, which never changes a float64 sum that starts at +0 (x + ±0 = x, and +0 + −0 = +0);
 * - FP8 values are multiples of 2^−9 below 2^9 in magnitude, so any sum of up to 2^35 of them is exact in float64:
 *   the histogram's sum is then the sequential sum bit for bit, and FP8 needs no sequential pass at all;
 * - BF16 NaN/inf codes would poison that sum: when the histogram has any, the element-by-element loop runs instead;
 * - min (max) is the first-seen of the smallest (largest) values, so where it is a zero and both +0 and −0 occur,
 *   the sign is that of the first zero in the sequence.
 */
function accTable16(st: Uint16Array, table: Float32Array, from: number, end: number, step: number, a: Acc): void {
  // below ~1M elements the 65536-bin histogram (256 KB to clear and scan) costs more than it saves
  if ((end - from) / step < 1 << 20) return accTable16Each(st, table, from, end, step, a);
  const hist = new Uint32Array(65536);
  let zeros = 0;
  // continues a's sum (summarizePaged accumulates several calls into one Acc)
  let sum = a.sum;
  let i = from;
  if (step === 1) {
    // padding runs 8 bytes at a time (two 32-bit words both 0: four +0 codes), from the first 4-byte-aligned element
    while (i < end && ((st.byteOffset + 2 * i) & 3) !== 0) {
      const c = st[i++]!;
      if (c === 0) zeros++;
      else {
        hist[c]++;
        sum += table[c]!;
      }
    }
    const words = new Int32Array(st.buffer, 0, st.buffer.byteLength >>> 2);
    for (let w = (st.byteOffset + 2 * i) >>> 2; i + 4 <= end; w += 2) {
      if ((words[w]! | words[w + 1]!) === 0) {
        zeros += 4;
        i += 4;
        continue;
      }
      for (const iEnd = i + 4; i < iEnd; i++) {
        const c = st[i]!;
        if (c === 0) zeros++;
        else {
          hist[c]++;
          sum += table[c]!;
        }
      }
    }
  }
  for (; i < end; i += step) {
    const c = st[i]!;
    if (c === 0) zeros++;
    else {
      hist[c]++;
      sum += table[c]!;
    }
  }
  hist[0] = zeros;
  // NaN/inf codes: exponent all ones
  for (let c = 0x7f80; c < 0x10000; c += 0x8000) for (let k = c; k < c + 0x80; k++) if (hist[k]) return accTable16Each(st, table, from, end, step, a);
  accHistogram(hist, table, a, () => firstZeroSign16(st, from, end, step));
  a.sum = sum;
}
function accTable16Each(st: Uint16Array, table: Float32Array, from: number, end: number, step: number, a: Acc): void {
  for (let i = from; i < end; i += step) accValue(table[st[i]!]!, a);
}
function accTable8(st: Uint8Array, table: Float32Array, from: number, end: number, step: number, a: Acc): void {
  const hist = new Uint32Array(256);
  let zeros = 0;
  let i = from;
  if (step === 1) {
    // padding runs 8 bytes at a time (two 32-bit words both 0: eight +0 codes), from the first 4-byte-aligned element
    while (i < end && ((st.byteOffset + i) & 3) !== 0) {
      const c = st[i++]!;
      if (c === 0) zeros++;
      else hist[c]++;
    }
    const words = new Int32Array(st.buffer, 0, st.buffer.byteLength >>> 2);
    for (let w = (st.byteOffset + i) >>> 2; i + 8 <= end; w += 2) {
      if ((words[w]! | words[w + 1]!) === 0) {
        zeros += 8;
        i += 8;
        continue;
      }
      for (const iEnd = i + 8; i < iEnd; i++) {
        const c = st[i]!;
        if (c === 0) zeros++;
        else hist[c]++;
      }
    }
  }
  for (; i < end; i += step) {
    const c = st[i]!;
    if (c === 0) zeros++;
    else hist[c]++;
  }
  hist[0] = zeros;
  accHistogram(hist, table, a, () => firstZeroSign8(st, from, end, step));
  // exact (see above), so equal to the sequential sum; in code order, so it does not depend on the element order
  let sum = a.sum;
  for (let c = 0; c < 256; c++) if (hist[c] && Number.isFinite(table[c]!)) sum += hist[c]! * table[c]!;
  a.sum = sum;
}
/** min/max/count/NaN/inf of the values a histogram of codes holds, added to a (a.sum is left to the caller) */
function accHistogram(hist: Uint32Array, table: Float32Array, a: Acc, firstZeroSign: () => number): void {
  const zero = (table.length >>> 1) as number; // the −0 code: sign bit alone
  const minBefore = a.min;
  const maxBefore = a.max;
  for (let c = 0; c < hist.length; c++) {
    const n = hist[c]!;
    if (!n) continue;
    const v = table[c]!;
    if (v - v !== 0) {
      if (v !== v) a.nan += n;
      else a.inf += n;
      continue;
    }
    if (v < a.min) a.min = v;
    if (v > a.max) a.max = v;
    a.cnt += n;
  }
  // ±0 compare equal: where this pass's zeros set the min (or max), the first of them in the sequence is the one kept
  if (hist[0] && hist[zero] && ((a.min === 0 && minBefore > 0) || (a.max === 0 && maxBefore < 0))) {
    const z = firstZeroSign() < 0 ? -0 : 0;
    if (a.min === 0 && minBefore > 0) a.min = z;
    if (a.max === 0 && maxBefore < 0) a.max = z;
  }
}
function firstZeroSign16(st: Uint16Array, from: number, end: number, step: number): number {
  for (let i = from; i < end; i += step) if ((st[i]! & 0x7fff) === 0) return st[i] ? -1 : 1;
  return 1;
}
function firstZeroSign8(st: Uint8Array, from: number, end: number, step: number): number {
  for (let i = from; i < end; i += step) if ((st[i]! & 0x7f) === 0) return st[i] ? -1 : 1;
  return 1;
}
function accF32(st: Float32Array, from: number, end: number, step: number, a: Acc): void {
  for (let i = from; i < end; i += step) accValue(st[i]!, a);
}
function accI32(st: Int32Array, from: number, end: number, step: number, a: Acc): void {
  for (let i = from; i < end; i += step) accValue(st[i]!, a);
}
function accU8(st: Uint8Array, from: number, end: number, step: number, a: Acc): void {
  for (let i = from; i < end; i += step) accValue(st[i]!, a);
}

/** every step-th element from 0 of n, as `summarize` samples a tensor above `sampleAbove` elements (step 1: all) */
const sampleStep = (n: number, sampleAbove: number): number => (n > sampleAbove ? Math.ceil(n / sampleAbove) : 1);

/**
 * A weight tensor made per expert (kernels/expertPages.ts). When its source can sample an expert (synthetic codes:
 * the stream jumped to each sampled code), or the tensor is small enough to be summarised whole, this is the
 * summary of the same tensor held whole, value for value: the same elements (every step-th of the whole tensor,
 * gathered expert by expert in order) through the same histogram. Otherwise (weights read from a file or checkpoint
 * past one array) the first values of each active expert — an equal share of the sample, a multiple of 4 so that
 * each is a prefix of the expert's own codes — and the experts without tokens counted as zeros in the same share;
 * the summary says which (`sampled`). No whole expert is generated for a sample.
 */
function summarizePaged(t: Tensor, pages: ExpertPages, sampleAbove: number): TensorSummary {
  const E = t.shape[0]!;
  const per = pages.perExpert;
  const n = E * per;
  const acc: Acc = { min: Infinity, max: -Infinity, sum: 0, cnt: 0, nan: 0, inf: 0 };
  const step = sampleStep(n, sampleAbove);
  let sampled: TensorSummary['sampled'];
  if (pages.sample || step === 1) {
    const buf = new Uint8Array(Math.ceil(n / step));
    const whole = pages.sample ? undefined : new Uint8Array(per);
    let k = 0;
    for (let e = 0; e < E; e++) {
      // the whole tensor's sampled indices that fall in expert e, from its first one
      const first = Math.ceil((e * per) / step) * step - e * per;
      if (first >= per) continue;
      const count = Math.floor((per - 1 - first) / step) + 1;
      // an expert without tokens is zeros: buf is zero already
      if (pages.active(e)) {
        const dst = buf.subarray(k, k + count);
        if (pages.sample) pages.sample(e, first, step, dst);
        else {
          pages.fill(e, whole!);
          dst.set(whole!);
        }
      }
      k += count;
    }
    accTable8(buf, E4M3_DECODE, 0, k, 1, acc);
    if (step > 1) sampled = { values: k, how: 'even' };
  } else {
    let active = 0;
    for (let e = 0; e < E; e++) if (pages.active(e)) active++;
    const share = Math.max(4, Math.min(per - (per % 4), Math.floor(sampleAbove / Math.max(1, active) / 4) * 4));
    const buf = new Uint8Array(share);
    for (let e = 0; e < E; e++) {
      if (!pages.active(e)) continue;
      pages.fill(e, buf);
      accTable8(buf, E4M3_DECODE, 0, share, 1, acc);
    }
    if (active < E) {
      acc.min = Math.min(acc.min, 0);
      acc.max = Math.max(acc.max, 0);
      acc.cnt += (E - active) * share;
    }
    sampled = { values: E * share, how: 'expert-prefix' };
  }
  const s: TensorSummary = { min: 0, max: 0, mean: 0, absMax: 0, nanCount: acc.nan, infCount: acc.inf, ...(sampled ? { sampled } : {}) };
  if (acc.cnt) {
    s.min = acc.min;
    s.max = acc.max;
    s.mean = acc.sum / acc.cnt;
    s.absMax = Math.max(Math.abs(acc.min), Math.abs(acc.max));
  }
  return s;
}

/** min/max/mean/absMax over finite values plus NaN/inf counts (exact up to 64M elements, evenly sampled above) */
export function summarize(t: Tensor, sampleAbove = SUMMARY_SAMPLE): TensorSummary {
  const pages = expertPagesOf(t);
  if (pages) return summarizePaged(t, pages, sampleAbove);
  const n = t.numel;
  const s: TensorSummary = { min: 0, max: 0, mean: 0, absMax: 0, nanCount: 0, infCount: 0 };
  if (n === 0) return s;
  const step = sampleStep(n, sampleAbove);
  if (step > 1) s.sampled = { values: Math.ceil(n / step), how: 'even' };
  let min = Infinity, max = -Infinity, sum = 0, cnt = 0;
  const visit = (v: number): void => {
    if (v !== v) s.nanCount++;
    else if (v === Infinity || v === -Infinity) s.infCount++;
    else {
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
      cnt++;
    }
  };
  if (t.isContiguous() && t.dtype !== 'i64' && t.dtype !== 'ue8m0') {
    // the hot path (stage tensors of tens of millions of elements): one monomorphic loop per storage type
    const acc: Acc = { min, max, sum, cnt, nan: 0, inf: 0 };
    const st = t.storage;
    const from = t.offset;
    const end = t.offset + n;
    if (t.dtype === 'bf16') accTable16(st as Uint16Array, bf16Values(), from, end, step, acc);
    else if (t.dtype === 'f8e4m3fn') accTable8(st as Uint8Array, E4M3_DECODE, from, end, step, acc);
    else if (st instanceof Float32Array) accF32(st, from, end, step, acc);
    else if (st instanceof Int32Array) accI32(st, from, end, step, acc);
    else accU8(st as Uint8Array, from, end, step, acc);
    ({ min, max, sum, cnt } = acc);
    s.nanCount = acc.nan;
    s.infCount = acc.inf;
  } else {
    const dec = t.dtype === 'i64' || t.dtype === 'i32' ? (v: number) => v : decoderFor(t.dtype);
    let i = 0;
    t.forEachIndex((si) => {
      if (i++ % step !== 0) return;
      const raw = t.storage[si]!;
      visit(dec(typeof raw === 'bigint' ? Number(raw) : raw));
    });
  }
  if (cnt) {
    s.min = min;
    s.max = max;
    s.mean = sum / cnt;
    s.absMax = Math.max(Math.abs(min), Math.abs(max));
  }
  return s;
}

/** a tensor as the Trace carries it: its layout descriptor, a summary, and its values when it is small */
export function tensorRef(name: string, t: Tensor, inlineLimit: number, packing?: Packing): TensorRef {
  const layout = describeLayout(t, packing ? { packing } : undefined);
  const ref: TensorRef = { name, dtype: t.dtype, shape: [...t.shape], layout, summary: summarize(t, SAMPLED_TENSORS.has(name) ? WEIGHT_SAMPLE : SUMMARY_SAMPLE) };
  if (t.numel <= inlineLimit) {
    const dec = t.dtype === 'i32' || t.dtype === 'i64' ? (v: number) => v : decoderFor(t.dtype);
    const vals: number[] = [];
    t.forEachIndex((si) => {
      const raw = t.storage[si]!;
      vals.push(dec(typeof raw === 'bigint' ? Number(raw) : raw));
    });
    ref.inline = vals;
  }
  return ref;
}

