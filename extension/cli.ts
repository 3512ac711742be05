/**
 * moe-inspect: the engine without VS Code. Every failure a user can cause is a MoeError printed as one line
 * (exit 2); a failed guard in `check` or `run` exits 1.
 */
import { MoeError } from '../kernels/errors';
import { COMMANDS } from './cli/commands/index';

export const usage = (): string =>
  `moe-inspect — run and inspect an FP8 MoE layer (MoE Layout Inspector's engine)\n\n${COMMANDS.map((c) => `  moe-inspect ${c.name} ${c.usage()}`).join('\n')}\n`;

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      out.write(usage());
      return command === undefined ? 2 : 0;
    }
    const cmd = COMMANDS.find((c) => c.name === command);
    if (!cmd) {
      err.write(`moe-inspect: unknown command '${command}'\n\n${usage()}`);
      return 2;
    }
    return await cmd.run(rest, out);
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
