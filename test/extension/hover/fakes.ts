/**
 * Stand-ins for the Jupyter kernel and the debug session that run the probe in a real Python (python.ts): the
 * kernel executes code like an interactive cell and returns stdout/stderr/error as the Jupyter kernel API's output
 * items; the debug session answers `evaluate` with the repr of the value, as debugpy does.
 */
import { ERROR_MIME, STDOUT_MIME, type DebugSessionLike, type KernelLike, type TokenLike } from '../../../extension/hover/runners';
import type { PythonSession } from './python';

const enc = new TextEncoder();

export class PythonKernel implements KernelLike {
  status = 'idle';
  language = 'python';
  executed: string[] = [];
  constructor(private readonly py: PythonSession) {}

  async *executeCode(code: string, _token: TokenLike): AsyncIterable<{ items: { mime: string; data: Uint8Array }[] }> {
    this.executed.push(code);
    const r = await this.py.request('single', code);
    if (r.stdout) yield { items: [{ mime: STDOUT_MIME, data: enc.encode(r.stdout) }] };
    if (r.stderr) yield { items: [{ mime: 'application/x.notebook.stream.stderr', data: enc.encode(r.stderr) }] };
    if (r.error) yield { items: [{ mime: ERROR_MIME, data: enc.encode(JSON.stringify({ name: 'Error', message: r.error })) }] };
  }
}

/** never answers until cancelled: a kernel stuck on something */
export class SilentKernel implements KernelLike {
  status = 'idle';
  language = 'python';
  cancelled = false;
  executeCode(_code: string, token: TokenLike): AsyncIterable<{ items: { mime: string; data: Uint8Array }[] }> {
    token.onCancellationRequested(() => (this.cancelled = true));
    return {
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<{ items: { mime: string; data: Uint8Array }[] }>>(() => undefined) }),
    };
  }
}

export class PythonDebugSession implements DebugSessionLike {
  readonly type = 'debugpy';
  requests: { command: string; args: Record<string, unknown> }[] = [];
  constructor(private readonly py: PythonSession) {}

  async customRequest(command: string, args?: unknown): Promise<unknown> {
    const a = (args ?? {}) as Record<string, unknown>;
    this.requests.push({ command, args: a });
    if (command === 'stackTrace') return { stackFrames: [{ id: 7 }] };
    if (command !== 'evaluate') throw new Error(`unexpected request ${command}`);
    const r = await this.py.request('eval', String(a.expression));
    if (r.error) throw new Error(r.error);
    return { result: r.value, variablesReference: 0 };
  }
}
