/**
 * The CLI's commands: a command is a file in this folder and one line here. Usage lines that list choices take them
 * from the registries (architectures, recipes and their options, GPU models), so they never go stale.
 */
import { ARCH_IDS, GPU_MODELS } from '../../../kernels/arch/index';
import { RECIPES, recipeIds } from '../../../kernels/recipes/index';
import { runCommand } from './run';
import { quantizeCommand } from './quantize';
import { layoutCommand } from './layout';
import { checkCommand } from './check';
import { exportCommand } from './export';
import { transformCommand } from './transform';
import { importTraceCommand } from './importTrace';
import { gradCommand } from './grad';

export interface CliCommand {
  name: string;
  /** the usage text after `moe-inspect NAME` */
  usage: () => string;
  run(argv: string[], out: NodeJS.WritableStream): number | Promise<number>;
}

const alt = (xs: readonly string[]): string => xs.join('|');
const recipeOptions = (): string =>
  RECIPES.flatMap((r) => r.options.map((o) => `[--${o.flag} N (${r.id})]`)).join(' ');

export const COMMANDS: readonly CliCommand[] = [
  {
    name: 'run',
    usage: () =>
      `(--layer FILE.safetensors | --preset NAME --tokens M [--seed S] [--skew Z] [--ep N --rank R]
                   | --checkpoint DIR --layer-index L [--inputs DUMP.safetensors])
                  [--recipe ${alt(recipeIds())} | --dispatch contiguous|masked] ${recipeOptions()}
                  [--arch ${alt(ARCH_IDS)}] [--act-scale f32|ue8m0] [--quant vllm|deepgemm] [--backend auto|cpu|cuda]
                  [--gpu auto|${alt(GPU_MODELS.map((g) => g.id))}] [--out OUT.safetensors] [--trace TRACE.json]`,
    run: runCommand,
  },
  { name: 'quantize', usage: () => '--in FILE --tensor NAME [--act-scale f32|ue8m0] [--quant vllm|deepgemm] --out OUT', run: quantizeCommand },
  { name: 'layout', usage: () => `--in FILE --tensor NAME --arch ${alt(ARCH_IDS)} [--role activation|weight] [--mn MN --k K] --out OUT`, run: layoutCommand },
  { name: 'check', usage: () => `(--layer FILE [--dispatch contiguous|masked] | --checkpoint DIR [--weights]) [--arch ${alt(ARCH_IDS)}]`, run: checkCommand },
  { name: 'export', usage: () => '(--layer FILE | --preset NAME --tokens M …) --view VIEW --format svg|png|tikz --out FILE', run: exportCommand },
  { name: 'import-trace', usage: () => 'FILE(.json|.json.gz|.csv) [--json]   (a torch.profiler / Kineto trace or an ncu --csv export)', run: importTraceCommand },
  {
    name: 'transform',
    usage: () => `--recipe ${alt(RECIPES.filter((r) => r.transformLayer).map((r) => r.id)) || '(none yet)'} --layer IN.safetensors --out OUT.safetensors`,
    run: transformCommand,
  },
  { name: 'grad', usage: () => `--layer L.safetensors --out G.safetensors [--arch ${alt(ARCH_IDS)}] [--threads N] [--backend auto|cpu|cuda]  (torchao FP8 training step: output, grad_input, grad_weight)`, run: gradCommand },
];
