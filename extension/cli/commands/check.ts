/** moe-inspect check: the kernel guards for a layer file (any recipe); exits non-zero when a guard fails. */
import { runChecks } from '../../../kernels/checks';
import { loadLayer } from '../../../kernels/layerFile';
import { recipeById } from '../../../kernels/recipes/index';
import { ARCH_IDS } from '../../../kernels/arch/index';
import { oneOf, parseFlags, required, str } from '../args';
import { recipeFlags, recipeFromFlags } from '../layerArgs';
import { checkCheckpointCommand } from '../checkpointArgs';
import { checkFileFlags } from '../paths';

export function checkCommand(argv: string[], out: NodeJS.WritableStream): number {
  if (argv.some((a) => a === '--checkpoint' || a.startsWith('--checkpoint='))) return checkCheckpointCommand(argv, out);
  const flags = parseFlags(argv, { layer: { type: 'string' }, ...recipeFlags() }, 'check');
  const path = required(flags, 'layer', 'check');
  checkFileFlags(flags, { inputs: ['layer'] });
  const arch = oneOf(flags, 'arch', ARCH_IDS, ARCH_IDS[0]!);
  const forced = str(flags, 'dispatch') ?? str(flags, 'recipe');
  const loaded = loadLayer(path, forced ? { recipe: recipeById(forced).id } : {});
  const spec = loaded.recipe.specFromInputs(loaded.inputs, { name: path, arch, recipe: recipeFromFlags(flags, loaded.recipe), source: { kind: 'file', path } });
  const checks = runChecks(spec, loaded.inputs);
  const mark = { pass: 'PASS', info: 'INFO', warn: 'WARN', fail: 'FAIL' } as const;
  out.write(`${path}: ${loaded.recipe.label} on ${arch}\n`);
  for (const c of checks) out.write(`${mark[c.level]}  ${c.message}\n`);
  const failed = checks.filter((c) => c.level === 'fail').length;
  out.write(`\n${checks.length} checks: ${failed} failed, ${checks.filter((c) => c.level === 'warn').length} warnings\n`);
  return failed ? 1 : 0;
}
