/**
 * moe-inspect: the engine without VS Code. Every failure a user can cause is a MoeError printed as one line
 * (exit 2); a failed guard in `check` or `run` exits 1.
 */
import { MoeError } from '../kernels/errors';
import { runCommand } from './cli/commands/run';
import { quantizeCommand } from './cli/commands/quantize';
import { layoutCommand } from './cli/commands/layout';
import { checkCommand } from './cli/commands/check';
import { exportCommand } from './cli/commands/export';

export const USAGE = `moe-inspect — run and inspect an FP8 MoE layer (MoE Layout Inspector's engine)

  moe-inspect run (--layer FILE.safetensors | --preset NAME --tokens M [--seed S] [--skew Z] [--ep N --rank R])
                  [--arch sm90|sm100] [--act-scale f32|ue8m0] [--quant vllm|deepgemm] [--backend auto|cpu|cuda]
                  [--gpu H100|H200|B200|H100-measured|H200-measured] [--out OUT.safetensors] [--trace TRACE.json]
  moe-inspect quantize --in FILE --tensor NAME [--act-scale f32|ue8m0] [--quant vllm|deepgemm] --out OUT
  moe-inspect layout --in FILE --tensor NAME --arch sm90|sm100 [--role activation|weight] [--mn MN --k K] --out OUT
  moe-inspect check --layer FILE [--arch sm90|sm100]
  moe-inspect export (--layer FILE | --preset NAME --tokens M …) --view scales|permutation|timing
                  --format svg|png|tikz --out FILE
`;

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await runCommand(rest, out);
      case 'quantize':
        return quantizeCommand(rest, out);
      case 'layout':
        return layoutCommand(rest, out);
      case 'check':
        return checkCommand(rest, out);
      case 'export':
        return await exportCommand(rest, out);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        err.write(`moe-inspect: unknown command '${command}'\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof MoeError) {
      err.write(`moe-inspect ${command}: error [${e.code}] ${e.message}\n`);
      return 2;
    }
    err.write(`moe-inspect ${command}: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return 70;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`${String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
