// Which GPU architectures a CUDA binary (the addon, build/Release/moe_native.node) carries: the fat binaries nvcc
// embeds (magic 0xBA55ED50) list one entry per -gencode target, SASS (an ELF cubin for one sm_XX) or PTX (JIT-compiled
// by the driver for newer chips). Read from the entry headers, so no CUDA tool (cuobjdump) is needed.
// Header layout (little endian): fat binary { u32 magic, u16 version, u16 headerSize, u64 size }, then entries
// { u16 kind (1 PTX, 2 ELF), u16 version, u32 headerSize, u64 payloadSize, …, u32 sm at byte 28 }.

const MAGIC = Buffer.from([0x50, 0xed, 0x55, 0xba]);

/** @param {Buffer} bin @returns {{ sass: number[], ptx: number[] }} the sm numbers (90 = sm_90/sm_90a), sorted, once each */
export function fatbinArchitectures(bin) {
  const sass = new Set();
  const ptx = new Set();
  for (let i = bin.indexOf(MAGIC); i >= 0 && i + 16 <= bin.length; i = bin.indexOf(MAGIC, i + 4)) {
    const end = Math.min(bin.length, i + bin.readUInt16LE(i + 6) + Number(bin.readBigUInt64LE(i + 8)));
    for (let p = i + bin.readUInt16LE(i + 6); p + 32 <= end; ) {
      const kind = bin.readUInt16LE(p);
      const sm = bin.readUInt32LE(p + 28);
      if (kind === 1) ptx.add(sm);
      else if (kind === 2) sass.add(sm);
      const next = p + bin.readUInt32LE(p + 4) + Number(bin.readBigUInt64LE(p + 8));
      if (next <= p) break;
      p = next;
    }
  }
  const sorted = (s) => [...s].sort((a, b) => a - b);
  return { sass: sorted(sass), ptx: sorted(ptx) };
}
