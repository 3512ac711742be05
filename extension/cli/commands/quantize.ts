/** moe-inspect quantize: per-token-group FP8 quantization of one tensor of a file → q (F8_E4M3) and scale (F32). */
import { SafetensorsFile, writeSafetensors } from '../../../kernels/io/safetensors';
import { quantizeActivations } from '../../../kernels/ops/quantize';
import { briefName, listNames, MoeError } from '../../../kernels/errors';
import type { Tensor } from '../../../kernels/tensor';
import { oneOf, parseFlags, required } from '../args';
import { checkFileFlags } from '../paths';

export function quantizeCommand(argv: string[], out: NodeJS.WritableStream): number {
  const flags = parseFlags(argv, { in: { type: 'string' }, tensor: { type: 'string' }, 'act-scale': { type: 'string' }, quant: { type: 'string' }, out: { type: 'string' } }, 'quantize');
  const inPath = required(flags, 'in', 'quantize');
  const outPath = required(flags, 'out', 'quantize');
  checkFileFlags(flags, { inputs: ['in'], outputs: ['out'] });
  const file = SafetensorsFile.open(inPath);
  try {
    const name = required(flags, 'tensor', 'quantize');
    if (!file.has(name)) throw new MoeError('E_SHAPE', `quantize: ${file.path} has no tensor '${briefName(name)}' (it has: ${listNames(file.names())})`, name);
    const x = file.read(name);
    if (x.dtype !== 'bf16' && x.dtype !== 'f32')
      throw new MoeError('E_DTYPE', `${name}: quantize takes BF16 or F32 activations, got ${x.dtype}`, name);
    if (x.rank !== 2) throw new MoeError('E_SHAPE', `${name}: expected a 2-D [M, K] tensor, got ${x.rank}-D [${x.shape.join(', ')}]`, name);
    const scaleFormat = oneOf(flags, 'act-scale', ['f32', 'ue8m0'] as const, 'f32');
    const convention = oneOf(flags, 'quant', ['vllm', 'deepgemm'] as const, 'vllm');
    const { q, scale } = quantizeActivations(x as Tensor<'bf16'> | Tensor<'f32'>, { convention, scaleFormat });
    writeSafetensors(outPath, { q, scale }, { source: `${file.path}:${name}`, convention, scale_format: scaleFormat });
    out.write(`quantized ${name} [${x.shape.join(', ')}] (${convention}, ${scaleFormat} scales) → q [${q.shape.join(', ')}] F8_E4M3, scale [${scale.shape.join(', ')}] F32 in ${outPath}\n`);
    return 0;
  } finally {
    file.close();
  }
}
