/** i4x2: two signed int4 values in one byte, element 2i in the low nibble, 2i+1 in the high nibble. */
export function packInt4(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < -8 || v > 7) throw new RangeError(`int4 value out of range [-8, 7] at ${i}: ${v}`);
    out[i >> 1]! |= (v & 0xf) << ((i & 1) * 4);
  }
  return out;
}

export function unpackInt4(bytes: Uint8Array, count = bytes.length * 2): Int8Array {
  const out = new Int8Array(count);
  for (let i = 0; i < count; i++) {
    const nib = (bytes[i >> 1]! >> ((i & 1) * 4)) & 0xf;
    out[i] = nib >= 8 ? nib - 16 : nib;
  }
  return out;
}
