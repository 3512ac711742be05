/** writeFileAtomic: whole-file replacement through a temporary file in the same folder; only regular files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../kernels/io/atomicWrite';
import { MoeError } from '../../../kernels/errors';

const dir = mkdtempSync(join(tmpdir(), 'atomic-test-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const ioError = (re: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof MoeError, `expected MoeError, got ${String(e)}`);
  assert.equal(e.code, 'E_IO');
  assert.match(e.message, re);
  assert.doesNotMatch(e.message, /\n/);
  return true;
};

/** no `.name.*.tmp` left beside the target */
function noTemps(folder: string): void {
  assert.deepEqual(readdirSync(folder).filter((f) => f.endsWith('.tmp')), []);
}

test('writes a string, a buffer and a list of buffers; replaces an existing file and keeps its permissions', () => {
  const p = join(dir, 'a.txt');
  writeFileAtomic(p, 'héllo');
  assert.equal(readFileSync(p, 'utf8'), 'héllo');
  chmodSync(p, 0o640);
  writeFileAtomic(p, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...readFileSync(p)], [1, 2, 3]);
  assert.equal(statSync(p).mode & 0o777, 0o640);
  writeFileAtomic(p, [new Uint8Array([9]), new Uint8Array(0), new Uint8Array([8, 7])]);
  assert.deepEqual([...readFileSync(p)], [9, 8, 7]);
  noTemps(dir);
});

test('a symbolic link is followed: its target is replaced, the link stays', () => {
  const target = join(dir, 'target.bin');
  const link = join(dir, 'link.bin');
  writeFileSync(target, 'old');
  symlinkSync(target, link);
  writeFileAtomic(link, 'new');
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(readFileSync(target, 'utf8'), 'new');
});

test('directories, devices and missing folders are refused in one line; /dev/full stays a device', () => {
  const sub = join(dir, 'sub');
  mkdirSync(sub);
  assert.throws(() => writeFileAtomic(sub, 'x', { what: '--out' }), ioError(/--out: .*sub is a directory, not a regular file/));
  assert.throws(() => writeFileAtomic('/dev/full', 'x', { what: '--trace' }), ioError(/--trace: \/dev\/full is a character device/));
  assert.ok(statSync('/dev/full').isCharacterDevice());
  assert.throws(() => writeFileAtomic('/dev/null', 'x'), ioError(/character device/));
  assert.throws(() => writeFileAtomic(join(dir, 'no', 'such', 'f.bin'), 'x'), ioError(/cannot write in folder .*no\/such.*no such file or directory \(ENOENT\)/));
});

test('a write that fails midway leaves the previous file intact and no temporary file', () => {
  const p = join(dir, 'keep.bin');
  writeFileSync(p, 'previous');
  // the second chunk is not a buffer: writeSync throws after the first chunk went to the temporary file
  assert.throws(() => writeFileAtomic(p, [new Uint8Array([1, 2]), { length: 1 } as unknown as Uint8Array]), ioError(/keep\.bin failed.*previous file .* unchanged/));
  assert.equal(readFileSync(p, 'utf8'), 'previous');
  noTemps(dir);
});

test('a second writer finishing in the middle of a first write: readers only ever see whole files', () => {
  const p = join(dir, 'race.bin');
  writeFileSync(p, 'old-old-old');
  const seen: string[] = [];
  /** chunks whose iteration runs a whole competing write (and a read) between the first and the second chunk */
  class Interleaved extends Array<Uint8Array> {
    override *[Symbol.iterator](): ArrayIterator<Uint8Array> {
      yield Buffer.from('AAAA');
      seen.push(readFileSync(p, 'utf8')); // mid-write: still the old file
      writeFileAtomic(p, 'BBBBBBBBBBBBBBBB');
      seen.push(readFileSync(p, 'utf8')); // the competing writer's whole file
      yield Buffer.from('AAAA');
    }
  }
  writeFileAtomic(p, new Interleaved());
  assert.deepEqual(seen, ['old-old-old', 'BBBBBBBBBBBBBBBB']);
  assert.equal(readFileSync(p, 'utf8'), 'AAAAAAAA', 'the last rename wins, whole');
  noTemps(dir);
});
