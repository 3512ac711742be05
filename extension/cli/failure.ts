/**
 * How a failed command ends: one line on stderr, never a stack trace unless asked for.
 * - MoeError: the engine's own message (exit 2).
 * - A system error the user caused (ENOENT, EISDIR, EACCES, ENOSPC, EROFS, …): the path, and the flag that named it
 *   when one did, with the system's reason (exit 2).
 * - A size the process cannot hold (V8's "Array buffer allocation failed", "Invalid typed array length", Node's
 *   ERR_OUT_OF_RANGE on a read/write length): what to change (exit 2).
 * - Anything else is a bug: a one-line summary and exit 70; MOE_DEBUG=1 adds the stack.
 */
import { resolve } from 'node:path';
import { MoeError } from '../../kernels/errors';

/** errno codes that describe the user's files or machine, not a bug */
const USER_ERRNO: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or folder',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EEXIST: 'already exists',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many symbolic links',
  EFBIG: 'file too large',
  EIO: 'input/output error',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
  EBUSY: 'resource busy',
  ETXTBSY: 'text file busy',
};

const SIZE_ERRORS = /Array buffer allocation failed|Invalid typed array length|Invalid array buffer length|Invalid array length|Invalid string length|Cannot create a string longer/;

/** the flag whose value is `path` (as given, or resolving to the same absolute path), e.g. "--out" */
function flagFor(path: string, argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    const [flag, value] = eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, argv[i + 1]];
    if (value !== undefined && (value === path || resolve(value) === resolve(path))) return flag;
  }
  return undefined;
}

export interface Failure {
  exitCode: number;
  /** one line, without the trailing newline */
  line: string;
  /** the stack, only when MOE_DEBUG=1 */
  debug?: string;
}

export function describeFailure(e: unknown, command: string, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Failure {
  const who = `moe-inspect ${command}`;
  const debug = env.MOE_DEBUG === '1' && e instanceof Error && e.stack ? { debug: e.stack } : {};
  if (e instanceof MoeError) return { exitCode: 2, line: `${who}: error [${e.code}] ${e.message.split('\n')[0]}`, ...debug };
  const err = e as NodeJS.ErrnoException | undefined;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  if (code && USER_ERRNO[code]) {
    const path = typeof err!.path === 'string' ? err!.path : undefined;
    const flag = path ? flagFor(path, argv) : undefined;
    const where = path ? `${flag ? `${flag} ` : ''}${path}: ` : '';
    return { exitCode: 2, line: `${who}: error [E_IO] ${where}${USER_ERRNO[code]} (${code}${err!.syscall ? `, ${err!.syscall}` : ''})`, ...debug };
  }
  const message = e instanceof Error ? e.message : String(e);
  if ((e instanceof RangeError && SIZE_ERRORS.test(message)) || code === 'ERR_OUT_OF_RANGE' || code === 'ERR_FS_FILE_TOO_LARGE' || code === 'ERR_BUFFER_TOO_LARGE')
    return {
      exitCode: 2,
      line: `${who}: error [E_RANGE] the run needs more memory, or a larger array, than this process can have (${message.split('\n')[0]}); use fewer tokens or expert parallelism (--ep N --rank R)`,
      ...debug,
    };
  const name = e instanceof Error ? e.name : typeof e;
  return {
    exitCode: 70,
    line: `${who}: internal error (a bug, please report it): ${name}: ${message.split('\n')[0]}${env.MOE_DEBUG === '1' ? '' : ' — run with MOE_DEBUG=1 for the stack'}`,
    ...debug,
  };
}
