/**
 * Header text checks that JSON.parse does not make: bytes that are not UTF-8, objects nested past a bound (a
 * 200 000-deep header must be one clear error, not a stack overflow in whatever walks the result), and duplicate
 * keys (JSON.parse silently keeps the last one, so two readers of one file could disagree on a tensor's offsets).
 * The scan is one iterative pass over the text (no recursion, so no depth can overflow it); syntax errors are left
 * to JSON.parse, which runs after it.
 */

/** Index of the first byte that is not part of well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF), or −1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0; // overlong
      if (c === 0xed) hi = 0x9f; // UTF-16 surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90; // overlong
      if (c === 0xf4) hi = 0x8f; // past U+10FFFF
    } else return i;
    const c1 = b[i + 1];
    if (c1 === undefined || c1 < lo || c1 > hi) return i;
    for (let k = 2; k <= need; k++) {
      const ck = b[i + k];
      if (ck === undefined || ck < 0x80 || ck > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

export type JsonScanProblem = { kind: 'depth'; depth: number; at: number } | { kind: 'duplicate'; key: string; path: string[]; at: number };

interface Frame {
  isObject: boolean;
  keys?: Set<string>;
  expectKey: boolean;
  lastKey?: string;
  /** the key (or "[i]") this container sits under */
  name: string;
}

/**
 * Finds the first nesting past `maxDepth` (objects and arrays both count; the top-level value is depth 1) or the
 * first duplicate key in any object. Returns undefined when neither occurs (the text may still be invalid JSON).
 */
export function scanJson(text: string, maxDepth: number): JsonScanProblem | undefined {
  const stack: Frame[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const parent = stack[stack.length - 1];
      const name = parent ? (parent.isObject ? (parent.lastKey ?? '?') : '[…]') : '';
      stack.push({ isObject: c === 0x7b, expectKey: c === 0x7b, name, ...(c === 0x7b ? { keys: new Set<string>() } : {}) });
      if (stack.length > maxDepth) return { kind: 'depth', depth: stack.length, at: i };
      i++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      i++;
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.isObject) top.expectKey = true;
      i++;
    } else if (c === 0x22 /* " */) {
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) j += 2;
        else if (d === 0x22) break;
        else j++;
      }
      const top = stack[stack.length - 1];
      if (top?.isObject && top.expectKey) {
        let key: string;
        try {
          key = JSON.parse(text.slice(i, j + 1)) as string;
        } catch {
          return undefined; // a broken string: JSON.parse reports it
        }
        if (top.keys!.has(key)) return { kind: 'duplicate', key, path: stack.slice(1).map((f) => f.name), at: i };
        top.keys!.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = j + 1;
    } else i++;
  }
  return undefined;
}
