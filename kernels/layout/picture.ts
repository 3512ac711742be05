/**
 * A text picture of how a small tensor sits in its storage: storage slots in lines, each labelled with the logical
 * coordinate it holds, '·' for padding slots nobody addresses. Used by `moe-inspect layout`.
 */
import type { Tensor } from '../tensor';

/** storage slot → logical row-major index, −1 for slots no logical element addresses */
export function storageMap(t: Tensor): Int32Array {
  const map = new Int32Array(t.storage.length).fill(-1);
  t.forEachIndex((s, l) => {
    map[s] = l;
  });
  return map;
}

function coordsOf(linear: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = linear % shape[d]!;
    linear = Math.floor(linear / shape[d]!);
  }
  return c;
}

/** Returns undefined when the storage is larger than maxSlots (the picture would not help). */
export function layoutPicture(t: Tensor, opts: { maxSlots?: number; packedPerWord?: number } = {}): string | undefined {
  const maxSlots = opts.maxSlots ?? 512;
  if (t.storage.length > maxSlots || t.numel === 0) return undefined;
  const map = storageMap(t);
  // one line per step of the smallest non-unit stride: a K-block column for MN-major, a row for row-major
  const steps = t.strides.filter((s, i) => s > 1 && t.shape[i]! > 1);
  const line = steps.length ? Math.min(...steps) : t.storage.length;
  const labels = Array.from(map, (l) => (l < 0 ? '·' : coordsOf(l, t.shape).join(',')));
  const w = Math.max(...labels.map((s) => s.length));
  const out: string[] = [];
  for (let s = 0; s < map.length; s += line) {
    const cells = labels.slice(s, s + line).map((x) => x.padStart(w));
    out.push(`${String(s).padStart(5)} │ ${cells.join(' ')}`);
  }
  const pads = map.reduce((a, l) => a + (l < 0 ? 1 : 0), 0);
  out.push(`storage slots: ${map.length} (${t.numel} addressed, ${pads} padding '·'); each line is ${line} consecutive slots; labels are logical coordinates`);
  if (opts.packedPerWord) {
    const k = opts.packedPerWord;
    const first = Array.from({ length: Math.min(4, map.length) }, (_, s) => s).filter((s) => map[s]! >= 0);
    for (const s of first) {
      const word = Number(t.storage[s]) >>> 0;
      const bytes = Array.from({ length: k }, (_, i) => (word >>> (8 * i)) & 0xff);
      const c = coordsOf(map[s]!, t.shape);
      const kb = c[c.length - 1]! * k;
      out.push(
        `word (${c.join(',')}) = 0x${word.toString(16).padStart(8, '0')} → ` +
          bytes.map((b, i) => `byte ${i}: 0x${b.toString(16).padStart(2, '0')} = 2^${b - 127} (K-block ${kb + i})`).join(', '),
      );
    }
  }
  return out.join('\n');
}
