/**
 * moe-inspect: the engine without VS Code. Every failure a user can cause is printed as one line (exit 2; see
 * cli/failure.ts); a failed guard in `check` or `run` exits 1; a bug exits 70 (its stack under MOE_DEBUG=1).
 */
import { describeFailure } from './cli/failure';
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
    const f = describeFailure(e, command ?? '', rest);
    err.write(`${f.line}\n${f.debug ? `${f.debug}\n` : ''}`);
    return f.exitCode;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      const f = describeFailure(e, process.argv[2] ?? '', process.argv.slice(3));
      process.stderr.write(`${f.line}\n${f.debug ? `${f.debug}\n` : ''}`);
      process.exitCode = f.exitCode;
    },
  );
}
