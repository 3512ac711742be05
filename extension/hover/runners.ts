/**
 * Runs the probe where the user's objects live — a Jupyter kernel (through the Jupyter extension's kernel API) or
 * a paused debug session (the adapter's `evaluate`) — with a time limit, and returns the ProbedTensor or undefined.
 * Written against structural stand-ins for the vscode / Jupyter types so it runs in tests against a fake kernel
 * backed by a real Python and a fake debug session; the vscode adapter (index.ts) passes the real objects.
 * Every failure (busy kernel, timeout, error output, malformed answer) is "no hover", reported to `log` only.
 */
import { MoeError } from '../../kernels/errors';
import { debugProbeExpression, findMarkedLine, notebookProbeCode, parseProbeJson, parsePythonStrRepr, toProbedTensor } from './probeCode';
import type { ProbedTensor } from './types';

export interface DisposableLike {
  dispose(): unknown;
}

/** vscode.CancellationToken, structurally */
export interface TokenLike {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: (e: unknown) => unknown): DisposableLike;
}

/** The Jupyter extension's Kernel (api.d.ts), structurally. */
export interface KernelLike {
  readonly status: string;
  readonly language: string;
  executeCode(code: string, token: TokenLike): AsyncIterable<{ items: { mime: string; data: Uint8Array }[] }>;
}

/** vscode.DebugSession, structurally (only what the probe needs). */
export interface DebugSessionLike {
  readonly type: string;
  customRequest(command: string, args?: unknown): Thenable<unknown>;
}

export interface ProbeOptions {
  /** give up after this long (the kernel or program keeps running; we just stop waiting) */
  timeoutMs: number;
  /** the hover's own token: VS Code cancels it when the mouse moves away */
  token?: TokenLike;
  log?: (message: string) => void;
}

/** A cancellation source whose token satisfies vscode.CancellationToken (so the Jupyter API accepts it). */
export function cancelSource(): { token: TokenLike; cancel(): void } {
  let cancelled = false;
  const listeners = new Set<(e: unknown) => unknown>();
  return {
    token: {
      get isCancellationRequested(): boolean {
        return cancelled;
      },
      onCancellationRequested(listener: (e: unknown) => unknown): DisposableLike {
        listeners.add(listener);
        return { dispose: () => listeners.delete(listener) };
      },
    },
    cancel(): void {
      if (cancelled) return;
      cancelled = true;
      for (const l of [...listeners]) l(undefined);
      listeners.clear();
    },
  };
}

export const STDOUT_MIME = 'application/x.notebook.stream.stdout';
export const ERROR_MIME = 'application/vnd.code.notebook.error';
const TEXT_MIMES = new Set([STDOUT_MIME, 'text/plain']);

/** Resolves to `fallback` after `ms` (the timer does not keep the process alive). */
function timeout<T>(ms: number, fallback: T): { promise: Promise<T>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
    timer.unref?.();
  });
  return { promise, clear: () => clearTimeout(timer) };
}

const TIMED_OUT = Symbol('timed out');

function readAnswer(text: string | undefined, expression: string, origin: ProbedTensor['origin'], log?: (m: string) => void): ProbedTensor | undefined {
  if (text === undefined) return undefined;
  try {
    const wire = parseProbeJson(text);
    return wire ? toProbedTensor(wire, expression, origin) : undefined;
  } catch (e) {
    log?.(e instanceof MoeError ? e.message : `hover probe: ${String(e)}`);
    return undefined;
  }
}

/** Notebook: the kernel must be an idle Python kernel (a busy one would queue the probe behind the running cell). */
export async function probeInKernel(kernel: KernelLike, probeSource: string, expression: string, opts: ProbeOptions): Promise<ProbedTensor | undefined> {
  if (kernel.status !== 'idle' || (kernel.language && kernel.language.toLowerCase() !== 'python')) return undefined;
  if (opts.token?.isCancellationRequested) return undefined;
  const source = cancelSource();
  const sub = opts.token?.onCancellationRequested(() => source.cancel());
  const limit = timeout<typeof TIMED_OUT>(opts.timeoutMs, TIMED_OUT);
  const decoder = new TextDecoder();
  let stdout = '';
  let failed = false;
  try {
    const it = kernel.executeCode(notebookProbeCode(probeSource, expression), source.token)[Symbol.asyncIterator]();
    for (;;) {
      const next = await Promise.race([it.next(), limit.promise]);
      if (next === TIMED_OUT) {
        opts.log?.(`hover probe: no answer from the kernel within ${opts.timeoutMs} ms for ${expression}`);
        source.cancel();
        void it.return?.();
        return undefined;
      }
      if (next.done) break;
      for (const item of next.value.items) {
        if (TEXT_MIMES.has(item.mime)) stdout += decoder.decode(item.data);
        else if (item.mime === ERROR_MIME) failed = true;
      }
    }
  } catch (e) {
    opts.log?.(`hover probe: kernel execution failed: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  } finally {
    limit.clear();
    sub?.dispose();
  }
  if (failed) {
    opts.log?.(`hover probe: the kernel reported an error for ${expression}`);
    return undefined;
  }
  if (source.token.isCancellationRequested) return undefined;
  return readAnswer(findMarkedLine(stdout), expression, 'notebook', opts.log);
}

/** Debugger: evaluates the single-expression probe in the given (paused) frame. */
export async function probeInDebugSession(
  session: DebugSessionLike,
  frameId: number,
  probeSource: string,
  expression: string,
  opts: ProbeOptions,
): Promise<ProbedTensor | undefined> {
  if (opts.token?.isCancellationRequested) return undefined;
  const limit = timeout<typeof TIMED_OUT>(opts.timeoutMs, TIMED_OUT);
  let response: unknown;
  try {
    response = await Promise.race([
      Promise.resolve(session.customRequest('evaluate', { expression: debugProbeExpression(probeSource, expression), frameId, context: 'hover' })),
      limit.promise,
    ]);
  } catch (e) {
    opts.log?.(`hover probe: evaluate failed: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  } finally {
    limit.clear();
  }
  if (response === TIMED_OUT) {
    opts.log?.(`hover probe: no answer from the debugger within ${opts.timeoutMs} ms for ${expression}`);
    return undefined;
  }
  const result = (response as { result?: unknown } | undefined)?.result;
  if (typeof result !== 'string') return undefined;
  // debugpy answers with the repr of the returned str; accept a bare JSON answer from adapters that do not quote
  const text = result.startsWith('{') || result === 'null' ? result : parsePythonStrRepr(result);
  if (text === undefined) opts.log?.(`hover probe: unreadable evaluate result (${result.length} chars) for ${expression}`);
  return readAnswer(text, expression, 'debug', opts.log);
}
