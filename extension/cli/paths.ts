/**
 * The file flags of a command, checked together before any work starts (one check for every command):
 * - every input exists and is a regular file — a FIFO would block the open forever, a directory or a device is
 *   no layer file — and is checked with stat, which never opens it;
 * - every output's folder exists and accepts a new file (probed by creating and removing one: a permission check
 *   alone says nothing for root or for /proc), and an existing output is a regular file (never /dev/full, never a
 *   directory);
 * - no output is the same file as an input or as another output (same inode, or the same resolved path for a
 *   file that does not exist yet): writing it would destroy the input, or two results would overwrite each other.
 * Each error is one line naming the flag(s) and the path.
 */
import { closeSync, constants, openSync, realpathSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MoeError } from '../../kernels/errors';
import { resolveWriteTarget } from '../../kernels/io/atomicWrite';
import { fileKind } from '../../kernels/io/fileKind';
import { type Flags, str } from './args';

export interface FileFlags {
  /** flags naming files the command reads */
  inputs?: readonly string[];
  /** flags naming files the command writes */
  outputs?: readonly string[];
}

interface Named {
  flag: string;
  path: string;
  /** the file's identity when it exists */
  st?: Stats;
  /** the absolute path with symbolic links resolved (of the folder, for a file that does not exist) */
  real: string;
}

function errnoCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? 'error';
}

function realOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(resolve(path))), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

function checkInput(flag: string, path: string): Named {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    const code = errnoCode(e);
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'ENOTDIR' ? 'a part of the path is not a folder' : code === 'ELOOP' ? 'too many symbolic links' : code;
    throw new MoeError('E_IO', `--${flag} ${path}: ${why}`);
  }
  if (!st.isFile()) throw new MoeError('E_IO', `--${flag} ${path}: is ${fileKind(st)}, not a regular file; give a file`);
  return { flag, path, st, real: realOf(path) };
}

function checkOutput(flag: string, path: string): Named {
  if (path === '') throw new MoeError('E_SPEC', `--${flag}: the path is empty`);
  // an existing target must be a regular file (resolveWriteTarget refuses directories, FIFOs and devices)
  const target = resolveWriteTarget(path, `--${flag}`);
  const dir = dirname(target);
  let dst: Stats;
  try {
    dst = statSync(dir);
  } catch (e) {
    const code = errnoCode(e);
    throw new MoeError('E_IO', `--${flag} ${path}: the folder ${dir} ${code === 'ENOENT' ? 'does not exist' : `cannot be used (${code})`}; create it first or choose another path`);
  }
  if (!dst.isDirectory()) throw new MoeError('E_IO', `--${flag} ${path}: ${dir} is ${fileKind(dst)}, not a folder`);
  // the atomic writer creates a temporary file beside the target: try exactly that now, before the run
  const probe = join(dir, `.${basename(target)}.probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    closeSync(openSync(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
    unlinkSync(probe);
  } catch (e) {
    throw new MoeError('E_IO', `--${flag} ${path}: cannot create files in ${dir} (${errnoCode(e)}); choose a writable folder`);
  }
  let st: Stats | undefined;
  try {
    st = statSync(target);
  } catch {
    st = undefined;
  }
  return { flag, path, ...(st ? { st } : {}), real: realOf(target) };
}

function sameFile(a: Named, b: Named): boolean {
  if (a.st && b.st) return a.st.dev === b.st.dev && a.st.ino === b.st.ino;
  return a.real === b.real;
}

/**
 * Checks the command's file flags (see the module comment); flags that were not given are skipped.
 * Call it right after parsing, before any file is opened or any work starts.
 */
export function checkFileFlags(flags: Flags, io: FileFlags): void {
  const inputs: Named[] = [];
  for (const flag of io.inputs ?? []) {
    const p = str(flags, flag);
    if (p !== undefined) inputs.push(checkInput(flag, p));
  }
  const outputs: Named[] = [];
  for (const flag of io.outputs ?? []) {
    const p = str(flags, flag);
    if (p === undefined) continue;
    const o = checkOutput(flag, p);
    for (const other of [...inputs, ...outputs])
      if (sameFile(o, other))
        throw new MoeError(
          'E_SPEC',
          `--${o.flag} ${o.path} is the same file as --${other.flag} ${other.path}: ${inputs.includes(other) ? 'writing it would destroy the input' : 'one result would overwrite the other'}; choose another --${o.flag} path`,
        );
    outputs.push(o);
  }
}
