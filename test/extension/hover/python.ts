/**
 * A real Python for the hover tests: finds interpreters that have NumPy and keeps one process per session that
 * executes requests in a persistent namespace, the way a Jupyter kernel or a paused frame would:
 * - 'exec'   runs setup code (as a module body) in the namespace;
 * - 'single' runs code like an interactive cell (expression results go through sys.displayhook, as in IPython);
 * - 'eval'   evaluates an expression with the namespace as globals and a separate locals dict (a function frame);
 * - 'ref'    evaluates an expression in a *copy* of the namespace with json available (independent reference
 *            values for assertions, without touching the namespace the probe runs in);
 * - 'snapshot' returns the namespace's keys, sys.modules' keys and builtins._ without changing anything.
 * stdout/stderr of each request are captured and returned; the result travels on the process's real stdout.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPO_ROOT } from '../../golden';

export const PROBE_SOURCE = readFileSync(resolve(REPO_ROOT, 'extension/hover/probe.py'), 'utf8');

const DRIVER = String.raw`
import sys, json, io, builtins
_out = sys.stdout
_err = sys.stderr
ns = {'__name__': '__main__', '__builtins__': builtins}
loc = {}
for line in sys.stdin:
    req = json.loads(line)
    mode = req['mode']
    bo, be = io.StringIO(), io.StringIO()
    sys.stdout, sys.stderr = bo, be
    error = None
    value = None
    try:
        if mode == 'exec':
            exec(compile(req['code'], '<setup>', 'exec'), ns)
        elif mode == 'locals':
            exec(compile(req['code'], '<frame>', 'exec'), ns, loc)
        elif mode == 'single':
            exec(compile(req['code'], '<cell>', 'single'), ns)
        elif mode == 'eval':
            value = repr(eval(req['code'], ns, loc))
        elif mode == 'ref':
            g = dict(ns)
            g['json'] = json
            value = eval(req['code'], g, dict(loc))
        elif mode == 'snapshot':
            value = json.dumps({'globals': sorted(ns), 'locals': sorted(loc), 'modules': sorted(sys.modules),
                                'underscore': repr(type(builtins.__dict__.get('_'))) + str(id(builtins.__dict__.get('_')))})
    except BaseException as e:
        error = type(e).__name__ + ': ' + str(e)
    finally:
        sys.stdout, sys.stderr = _out, _err
    _out.write(json.dumps({'id': req['id'], 'stdout': bo.getvalue(), 'stderr': be.getvalue(), 'error': error, 'value': value}) + '\n')
    _out.flush()
`;

export interface PyReply {
  stdout: string;
  stderr: string;
  error: string | null;
  value: string | null;
}

export type PyMode = 'exec' | 'locals' | 'single' | 'eval' | 'ref' | 'snapshot';

/** Interpreters with NumPy, distinct by sys.executable: `python3` first, then Debian's. */
export function findPythons(): string[] {
  const seen = new Set<string>();
  const found: string[] = [];
  for (const cand of [process.env.MOE_TEST_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c)) {
    const r = spawnSync(cand, ['-c', 'import sys, numpy; print(sys.executable)'], { encoding: 'utf8', timeout: 20000 });
    const exe = r.status === 0 ? r.stdout.trim() : '';
    if (exe && !seen.has(exe)) {
      seen.add(exe);
      found.push(cand);
    }
  }
  return found;
}

export function hasTorch(python: string): boolean {
  return spawnSync(python, ['-c', 'import torch'], { timeout: 60000 }).status === 0;
}

export class PythonSession {
  private readonly proc: ChildProcessWithoutNullStreams;
  private buffer = '';
  private nextId = 1;
  private readonly waiting = new Map<number, (r: PyReply) => void>();

  constructor(readonly python: string) {
    this.proc = spawn(python, ['-u', '-c', DRIVER], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        const msg = JSON.parse(line) as PyReply & { id: number };
        this.waiting.get(msg.id)?.(msg);
        this.waiting.delete(msg.id);
      }
    });
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(`[python] ${d.toString()}`));
  }

  request(mode: PyMode, code = ''): Promise<PyReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, resolve);
      this.proc.stdin.write(JSON.stringify({ id, mode, code }) + '\n', (e) => e && reject(e));
    });
  }

  /** runs setup code and fails loudly if it raised */
  async exec(code: string, mode: 'exec' | 'locals' = 'exec'): Promise<void> {
    const r = await this.request(mode, code);
    if (r.error) throw new Error(`python setup failed: ${r.error}\n${code}`);
  }

  /** JSON value of a reference expression evaluated in a copy of the namespace */
  async ref<T>(expr: string): Promise<T> {
    const r = await this.request('ref', `json.dumps(${expr})`);
    if (r.error || r.value === null) throw new Error(`python reference failed: ${r.error}\n${expr}`);
    return JSON.parse(r.value) as T;
  }

  close(): void {
    this.proc.stdin.end();
    this.proc.kill();
  }
}
