/**
 * Runs the bundled CLI (`node dist/cli.js …`) as a user does: a child process, its exit code, stdout and stderr.
 * The bundle must be current (npm test builds it first): a stale one would test old code, so that is an error.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../golden';

export const CLI = join(REPO_ROOT, 'dist', 'cli.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  timedOut: boolean;
}

function newestSource(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestSource(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

let checked = false;
/** throws unless dist/cli.js exists and is newer than every .ts file under kernels/ and extension/ */
export function requireFreshBundle(): void {
  if (checked) return;
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  const built = statSync(CLI).mtimeMs;
  const src = Math.max(newestSource(join(REPO_ROOT, 'kernels')), newestSource(join(REPO_ROOT, 'extension')));
  if (src > built) throw new Error(`${CLI} is older than the sources: run \`npm run build\` first (npm test does)`);
  checked = true;
}

/** synchronous run; `timeoutMs` kills a hung command (a FIFO that blocks) so the test fails instead of hanging */
export function cliSync(args: readonly string[], opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): CliResult {
  requireFreshBundle();
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd ?? REPO_ROOT,
    timeout: opts.timeoutMs ?? 120_000,
    env: { ...process.env, ...opts.env },
  });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  return { code: r.status, signal: r.signal, out: r.stdout ?? '', err: r.stderr ?? '', timedOut };
}

/** asynchronous run (for several at once) */
export function cliAsync(args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  requireFreshBundle();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, ...opts.env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, out, err, timedOut: false }));
  });
}
