/** Argument parsing for moe-inspect, on node:util parseArgs, with errors that say which flag and what it takes. */
import { parseArgs } from 'node:util';
import { MoeError } from '../../kernels/errors';

export type Flags = Record<string, string | boolean | undefined>;

export interface FlagSpec {
  [name: string]: { type: 'string' | 'boolean'; short?: string };
}

export function parseFlags(argv: string[], spec: FlagSpec, command: string): Flags {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: spec, allowPositionals: true, strict: true });
    if (positionals.length) throw new MoeError('E_SPEC', `${command}: unexpected argument '${positionals[0]}'`);
    return values as Flags;
  } catch (e) {
    if (e instanceof MoeError) throw e;
    throw new MoeError('E_SPEC', `${command}: ${(e as Error).message.split('\n')[0]}`);
  }
}

export function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function required(flags: Flags, name: string, command: string): string {
  const v = str(flags, name);
  if (v === undefined) throw new MoeError('E_SPEC', `${command}: --${name} is required`);
  return v;
}

export function oneOf<T extends string>(flags: Flags, name: string, allowed: readonly T[], fallback: T): T {
  const v = str(flags, name);
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw new MoeError('E_SPEC', `--${name}: expected one of ${allowed.join(' | ')}, got '${v}'`);
  return v as T;
}

export function int(flags: Flags, name: string, fallback: number | undefined, min = 0): number | undefined {
  const v = str(flags, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new MoeError('E_SPEC', `--${name}: expected an integer ≥ ${min}, got '${v}'`);
  return n;
}

export function num(flags: Flags, name: string, fallback: number): number {
  const v = str(flags, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new MoeError('E_SPEC', `--${name}: expected a number, got '${v}'`);
  return n;
}
