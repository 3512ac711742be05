/**
 * Atomic file replacement for every file the engine and the CLI write: the bytes go to a temporary file in the
 * target's own folder (same filesystem, so the rename cannot turn into a copy), are fsync'ed, and the temporary
 * file is renamed over the target. A reader — or a second writer racing for the same path — sees either the old
 * file or one whole new file, never a mix; a failed write (full disk, a kill) leaves the old file as it was and no
 * temporary file behind.
 *
 * Only regular files are ever replaced: an existing directory, FIFO or device (/dev/full, /dev/null) at the target
 * is refused, because renaming over a device node would silently destroy it (the CLI runs as root on CI boxes).
 * A symbolic link at the target is followed, so the file it points to is replaced and the link stays.
 */
import { closeSync, constants, fsyncSync, lstatSync, openSync, realpathSync, renameSync, statSync, unlinkSync, writeSync, chmodSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MoeError } from '../errors';
import { fileKind } from './fileKind';

/**
 * What to write: one buffer, a string (UTF-8), or buffers written in order (no concatenated copy) — a list, or any
 * iterable, so a writer can make each chunk only when the previous one is on its way to disk (each chunk is written
 * whole before the next is asked for).
 */
export type FileContents = string | Uint8Array | Iterable<Uint8Array>;

function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  // "ENOSPC: no space left on device, write" → "no space left on device (ENOSPC)"
  const m = /^([A-Z0-9]+): ([^,]+)/.exec(err.message ?? '');
  return m ? `${m[2]} (${m[1]})` : String(err.message ?? e);
}

/**
 * Where the bytes for `path` really go: the target of a symbolic link (chains resolved), else the path itself.
 * Throws when an existing target is not a regular file.
 */
export function resolveWriteTarget(path: string, what = path): string {
  let target = resolve(path);
  let st;
  try {
    st = lstatSync(target);
  } catch {
    return target; // a new file
  }
  if (st.isSymbolicLink()) {
    try {
      target = realpathSync(target);
      st = statSync(target);
    } catch {
      // a dangling link: write where it points
      return target;
    }
  }
  if (!st.isFile())
    throw new MoeError('E_IO', `${what}: ${path} is ${fileKind(st)}, not a regular file; moe-inspect writes only regular files (choose a file path)`);
  return target;
}

/** Replaces (or creates) `path` with `contents` atomically; see the module comment. Errors are one-line E_IO. */
export function writeFileAtomic(path: string, contents: FileContents, opts: { what?: string } = {}): void {
  const what = opts.what ?? path;
  const target = resolveWriteTarget(path, what);
  const dir = dirname(target);
  const tmp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    // O_EXCL: a temporary name is never shared with another writer (or planted as a link)
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o666);
  } catch (e) {
    throw new MoeError('E_IO', `${what}: cannot write in folder ${dir}: ${errnoText(e)}`);
  }
  let done = false;
  try {
    const chunks: Iterable<Uint8Array> = typeof contents === 'string' ? [Buffer.from(contents, 'utf8')] : contents instanceof Uint8Array ? [contents] : contents;
    for (const c of chunks) writeAll(fd, c);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    // an existing file keeps its permissions
    try {
      chmodSync(tmp, statSync(target).mode & 0o7777);
    } catch {
      /* a new file: the umask's default */
    }
    renameSync(tmp, target);
    done = true;
  } catch (e) {
    throw new MoeError('E_IO', `${what}: writing ${path} failed: ${errnoText(e)}; the previous file (if any) is unchanged`);
  } finally {
    if (fd >= 0) {
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    if (!done) {
      try {
        unlinkSync(tmp);
      } catch {
        /* not created or already gone */
      }
    }
  }
  syncDir(dir);
}

/** fsync the folder so the rename itself survives a crash (best effort: not every filesystem allows it) */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
    fsyncSync(fd);
  } catch {
    /* not supported here */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** writeSync writes at most ~2 GiB per call (and may write less): loop in chunks below Node's limit */
const WRITE_CHUNK = 1 << 30;
function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, Math.min(WRITE_CHUNK, bytes.length - done));
}
