/**
 * Test helpers for the VSIX: build one with `npm run package`'s script into a folder of the caller's, and read its
 * entries (a VSIX is a zip: the central directory lists every file; stored or deflated data is read with zlib).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { REPO_ROOT } from '../golden';

/** The VSIX's file name for this checkout's package.json (scripts/package.mjs names it so). */
export function vsixFileName(): string {
  const m = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
  return `${m.name}-linux-x64-${m.version}.vsix`;
}

/**
 * Runs scripts/package.mjs (the bundles in dist/ must be built) writing the VSIX into `outDir`; returns its path.
 * Throws with the script's output when it fails.
 */
export function packageVsix(outDir: string, extraArgs: string[] = []): string {
  const out = join(outDir, vsixFileName());
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'package.mjs'), `--out=${out}`, ...extraArgs], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    // the CUDA addon requirement and source maps are the caller's choice, not the environment's
    env: { ...process.env, MOE_VSIX_SOURCEMAPS: '', MOE_VSIX_REQUIRE_ADDON: '' },
    timeout: 180_000,
  });
  if (r.status !== 0) throw new Error(`scripts/package.mjs failed (exit ${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return out;
}

export interface ZipEntry {
  name: string;
  compressedSize: number;
  size: number;
  method: number;
  localHeaderOffset: number;
}

/** Every entry of a zip file, from its central directory (no zip64: a VSIX past 4 GiB is refused long before). */
export function zipEntries(zip: Buffer): ZipEntry[] {
  // the end-of-central-directory record: signature 0x06054b50 within the last 64 KiB + 22 bytes
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--)
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw new Error('not a zip file: no end-of-central-directory record');
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let k = 0; k < count; k++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error(`zip central directory entry ${k} has a bad signature`);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    entries.push({
      method: zip.readUInt16LE(p + 10),
      compressedSize: zip.readUInt32LE(p + 20),
      size: zip.readUInt32LE(p + 24),
      localHeaderOffset: zip.readUInt32LE(p + 42),
      name: zip.toString('utf8', p + 46, p + 46 + nameLen),
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** One entry's bytes (stored or deflated). */
export function zipRead(zip: Buffer, e: ZipEntry): Buffer {
  const h = e.localHeaderOffset;
  if (zip.readUInt32LE(h) !== 0x04034b50) throw new Error(`zip entry ${e.name}: bad local header`);
  const start = h + 30 + zip.readUInt16LE(h + 26) + zip.readUInt16LE(h + 28);
  const data = zip.subarray(start, start + e.compressedSize);
  if (e.method === 0) return Buffer.from(data);
  if (e.method === 8) return inflateRawSync(data);
  throw new Error(`zip entry ${e.name}: compression method ${e.method} is not stored or deflate`);
}
