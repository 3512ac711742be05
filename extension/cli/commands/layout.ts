/**
 * moe-inspect layout: transforms a scale tensor into the layout the kernel wants on the chosen architecture and
 * writes its whole storage buffer (padding included) as `storage`, with shape/stride/offset in the metadata.
 */
import { SafetensorsFile, writeSafetensors } from '../../../kernels/io/safetensors';
import { describeLayout, layoutPicture } from '../../../kernels/layout/index';
import { ARCH_IDS, transformScalesFor } from '../../../kernels/arch/index';
import { briefName, listNames, MoeError } from '../../../kernels/errors';
import { Tensor } from '../../../kernels/tensor';
import { int, oneOf, parseFlags, required } from '../args';
import { checkFileFlags } from '../paths';

export function layoutCommand(argv: string[], out: NodeJS.WritableStream): number {
  const flags = parseFlags(
    argv,
    { in: { type: 'string' }, tensor: { type: 'string' }, arch: { type: 'string' }, role: { type: 'string' }, mn: { type: 'string' }, k: { type: 'string' }, out: { type: 'string' } },
    'layout',
  );
  const inPath = required(flags, 'in', 'layout');
  const outPath = required(flags, 'out', 'layout');
  checkFileFlags(flags, { inputs: ['in'], outputs: ['out'] });
  const file = SafetensorsFile.open(inPath);
  try {
    const name = required(flags, 'tensor', 'layout');
    if (!file.has(name)) throw new MoeError('E_SHAPE', `layout: ${file.path} has no tensor '${briefName(name)}' (it has: ${listNames(file.names())})`, name);
    const sf = file.read(name).withName(name);
    if (sf.dtype !== 'f32' && sf.dtype !== 'i32') throw new MoeError('E_DTYPE', `${name}: scale factors must be F32 (or packed I32), got ${sf.dtype}`, name);
    if (sf.rank !== 2 && sf.rank !== 3) throw new MoeError('E_SHAPE', `${name}: expected [MN, K/128] or [G, MN, K/128], got [${sf.shape.join(', ')}]`, name);
    const arch = oneOf(flags, 'arch', ARCH_IDS, ARCH_IDS[0]!);
    const role = oneOf(flags, 'role', ['activation', 'weight'] as const, 'activation');
    const groups = sf.rank === 3 ? sf.shape[0] : undefined;
    const rows = sf.shape[sf.rank - 2]!;
    const cols = sf.shape[sf.rank - 1]! * (sf.dtype === 'i32' ? 4 : 1);
    const mn = int(flags, 'mn', role === 'weight' ? rows * 128 : rows, 1)!;
    const k = int(flags, 'k', cols * 128, 1)!;
    const res = transformScalesFor(arch, sf as Tensor<'f32'>, { kind: role, mn, k, ...(groups !== undefined ? { groups } : {}) });
    const t = res.tensor;
    const packing = t.dtype === 'i32' ? { perWord: 4, alongDim: t.rank - 1, byteOrder: 'little' as const, logicalExtent: Math.ceil(k / 128) } : undefined;
    const desc = describeLayout(t, packing ? { packing } : {});
    const storage = new Tensor(t.dtype, [t.storage.length], t.storage);
    writeSafetensors(outPath, { storage }, {
      shape: JSON.stringify(t.shape),
      stride: JSON.stringify(t.strides),
      offset: JSON.stringify(t.offset),
      dtype: t.dtype,
      arch,
      note: res.note,
    });
    out.write(`${name} on ${arch}: ${desc.summary}\n${res.relayout ? 'the kernel would re-lay these out on every call: ' : ''}${res.note}\n`);
    out.write(`shape [${t.shape.join(', ')}], strides [${t.strides.join(', ')}], offset ${t.offset}, ${t.storage.length} storage elements → ${outPath}\n`);
    const pic = layoutPicture(t, packing ? { packedPerWord: 4 } : {});
    if (pic) out.write(`\n${pic}\n`);
    return 0;
  } finally {
    file.close();
  }
}
