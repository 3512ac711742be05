/**
 * moe-inspect transform: a layer file's tensors re-laid out the way a recipe's kernels load them (MegaMoE's
 * gate/up interleave, W4AFP8's scale interleave, …), written under the input's names. The recipe's
 * `transformLayer` does the work; this command reads, checks and writes.
 */
import { SafetensorsFile, writeSafetensors } from '../../../kernels/io/safetensors';
import { MoeError } from '../../../kernels/errors';
import type { Tensor } from '../../../kernels/tensor';
import { RECIPES, recipeById } from '../../../kernels/recipes/index';
import { ARCH_IDS } from '../../../kernels/arch/index';
import { oneOf, parseFlags, required } from '../args';
import { checkFileFlags } from '../paths';

export function transformCommand(argv: string[], out: NodeJS.WritableStream): number {
  const flags = parseFlags(argv, { recipe: { type: 'string' }, layer: { type: 'string' }, out: { type: 'string' }, arch: { type: 'string' } }, 'transform');
  const id = required(flags, 'recipe', 'transform');
  const recipe = recipeById(id);
  if (!recipe.transformLayer) {
    const some = RECIPES.filter((r) => r.transformLayer).map((r) => r.id);
    throw new MoeError('E_SPEC', `transform: the ${id} recipe's kernels take the layer as it is stored (recipes with a transform: ${some.join(', ') || 'none'})`);
  }
  // never replace the input, never read a FIFO or a folder: checked before anything is read
  checkFileFlags(flags, { inputs: ['layer'], outputs: ['out'] });
  const inPath = required(flags, 'layer', 'transform');
  const outPath = required(flags, 'out', 'transform');
  const arch = oneOf(flags, 'arch', ARCH_IDS, ARCH_IDS[0]!);
  const file = SafetensorsFile.open(inPath);
  let raw: Record<string, Tensor>;
  try {
    raw = Object.fromEntries(file.names().map((n) => [n, file.read(n).withName(n)]));
  } finally {
    file.close();
  }
  const res = recipe.transformLayer(raw, { arch });
  writeSafetensors(outPath, res.tensors, { recipe: recipe.id, ...(res.metadata ?? {}) });
  for (const n of res.notes) out.write(`${n}\n`);
  out.write(`${Object.keys(res.tensors).length} tensors → ${outPath}\n`);
  return 0;
}
