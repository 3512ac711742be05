/**
 * What one inspector panel does with the webview's messages, free of 'vscode': it answers `tile` requests from
 * the run's tensors, forwards exports and re-runs to the host, and replays the Trace when the webview (re)loads.
 * panel.ts wires it to a real WebviewPanel; the unit tests wire it to arrays.
 */
import { MoeError } from '../kernels/errors';
import type { Arch, BackendChoice } from '../kernels/spec';
import {
  PROTOCOL_VERSION,
  isWebviewMessage,
  type ExportFormat,
  type HostMessage,
  type ViewId,
  type WebviewMessage,
} from '../webview/protocol';
import type { Engine, RunResultLike } from './engineTypes';
import type { Trace } from '../kernels/trace';

/** A tile larger than this is refused: the webview asks for what it shows, never a whole DeepSeek-size tensor. */
export const MAX_TILE_ELEMENTS = 1 << 20;

/**
 * How long a run's grouped GEMMs may be held, from its first partial trace, for the webview's first picture. On a
 * 2-core machine the GEMM worker threads otherwise starve the webview while it loads (measured: the panel stayed
 * blank until GEMM 1 ended); the cap bounds what a hidden or broken webview can cost.
 */
export const FIRST_PICTURE_HOLD_MS = 2500;

export interface PanelHost<R extends RunResultLike> {
  post(msg: HostMessage): void | Thenable<boolean> | Promise<unknown>;
  engine: Pick<Engine<R>, 'tile'>;
  /** the webview asked for an export: ask the user where and write the file; resolves to the path or undefined */
  exportView(view: ViewId, format: ExportFormat, svg: string | undefined, result: R | undefined): Promise<string | undefined>;
  rerun(change: { arch?: Arch; backend?: BackendChoice }): void;
  log(level: 'info' | 'warn' | 'error', message: string): void;
}

type Thenable<T> = PromiseLike<T>;

const isRange = (r: unknown): r is [number, number] =>
  Array.isArray(r) && r.length === 2 && r.every((v) => Number.isSafeInteger(v) && (v as number) >= 0) && r[0] <= r[1];

/** Message text for any thrown value: MoeErrors keep their code-bearing message, others their string form. */
export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export class PanelController<R extends RunResultLike> {
  private result: R | undefined;
  private ready = false;
  private pendingError: { message: string; code?: string } | undefined;
  /** the latest partial Trace of the run in progress; tiles wait for the finished run */
  private partial: Trace | undefined;
  /** the webview has drawn a trace of the run in progress */
  private drawn = false;
  private holdUntil = 0;
  private drawnWaiters: (() => void)[] = [];

  constructor(private readonly host: PanelHost<R>) {}

  get current(): R | undefined {
    return this.result;
  }

  /** A new run finished: show it now if the webview is listening, else when it says 'ready'. */
  setResult(result: R): void {
    this.result = result;
    this.partial = undefined;
    this.release();
    this.pendingError = undefined;
    if (this.ready) this.postTrace();
  }

  /** A run in progress finished a stage: draw what is done (replaces the picture shown until the run ends). */
  setPartial(trace: Trace, now = Date.now()): Promise<void> {
    if (!this.partial) {
      // the first partial of a run
      this.drawn = false;
      this.holdUntil = now + FIRST_PICTURE_HOLD_MS;
    }
    this.partial = trace;
    this.pendingError = undefined;
    if (this.ready) this.postPartial();
    // resolves once the webview has drawn this run (or the hold expires): the engine may then start a long GEMM
    if (this.drawn) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, this.holdUntil - Date.now()));
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.drawnWaiters.push(done);
    });
  }

  private release(): void {
    const waiters = this.drawnWaiters;
    this.drawnWaiters = [];
    for (const w of waiters) w();
  }

  /** The run in progress ended without a result (cancelled, failed): show the last finished run again, if any. */
  abandonPartial(): void {
    if (!this.partial) return;
    this.partial = undefined;
    this.release();
    if (this.ready && this.result) this.postTrace();
  }

  get running(): boolean {
    return this.partial !== undefined;
  }

  showError(message: string, code?: string): void {
    this.pendingError = { message, code };
    if (this.ready) void this.host.post({ type: 'error', message, ...(code ? { code } : {}) });
  }

  /** The webview document is being replaced (html reset): wait for its next 'ready'. */
  resetReady(): void {
    this.ready = false;
  }

  private postPartial(): void {
    if (this.partial) void this.host.post({ type: 'trace', version: PROTOCOL_VERSION, trace: this.partial, partial: true });
  }

  private postTrace(): void {
    if (this.result) void this.host.post({ type: 'trace', version: PROTOCOL_VERSION, trace: this.result.trace });
  }

  async handle(raw: unknown): Promise<void> {
    if (!isWebviewMessage(raw)) return;
    const msg = raw as WebviewMessage;
    switch (msg.type) {
      case 'ready':
        this.ready = true;
        if (this.partial) this.postPartial();
        else if (this.result) this.postTrace();
        else if (this.pendingError) void this.host.post({ type: 'error', ...this.pendingError });
        return;
      case 'tile':
        return this.serveTile(msg);
      case 'export':
        return this.serveExport(msg);
      case 'rerun':
        this.host.rerun({ ...(msg.arch ? { arch: msg.arch } : {}), ...(msg.backend ? { backend: msg.backend } : {}) });
        return;
      case 'log':
        this.host.log(msg.level, String(msg.message));
        return;
      case 'stage':
        return;
      case 'drawn':
        this.drawn = true;
        this.release();
        return;
      default:
        return;
    }
  }

  private serveTile(msg: Extract<WebviewMessage, { type: 'tile' }>): void {
    const fail = (message: string): void => void this.host.post({ type: 'tileError', requestId: msg.requestId, message });
    if (this.partial) {
      // the RunResult (and its tensors) exists only once the run ends; a previous run's tensors must not answer
      const name = String(msg.tensor);
      const stage = this.partial.pending?.find((p) => p.outputs.includes(name));
      return fail(
        stage
          ? `tile ${name}: not computed yet — stage '${stage.title}' has not run; the run is still going`
          : `tile ${name}: not available yet — tiles are served once the run finishes (${this.partial.stages.length} of ${this.partial.stages.length + (this.partial.pending?.length ?? 0)} stages done)`,
      );
    }
    if (!this.result) return fail(`tile ${String(msg.tensor)}: no run is loaded in this panel`);
    if (typeof msg.tensor !== 'string' || !isRange(msg.rows) || !isRange(msg.cols))
      return fail(
        `tile ${String(msg.tensor)}: expected rows and cols as [start, end) integer ranges, got rows ${JSON.stringify(msg.rows)}, cols ${JSON.stringify(msg.cols)}`,
      );
    const n = (msg.rows[1] - msg.rows[0]) * (msg.cols[1] - msg.cols[0]);
    if (n > MAX_TILE_ELEMENTS)
      return fail(`tile ${msg.tensor}: ${n} elements requested, at most ${MAX_TILE_ELEMENTS} per tile`);
    if (!(msg.tensor in this.result.trace.tensors))
      return fail(`tile ${msg.tensor}: no such tensor in this run (have ${Object.keys(this.result.trace.tensors).join(', ')})`);
    const mode = msg.mode === 'error' ? 'error' : 'value';
    try {
      const tile = this.host.engine.tile(this.result, msg.tensor, msg.rows, msg.cols, mode);
      void this.host.post({ type: 'tile', requestId: msg.requestId, tile });
    } catch (e) {
      fail(errorText(e));
    }
  }

  private async serveExport(msg: Extract<WebviewMessage, { type: 'export' }>): Promise<void> {
    const formats: readonly ExportFormat[] = ['svg', 'png', 'tikz'];
    if (!formats.includes(msg.format)) {
      this.host.log('error', `export: format must be svg, png or tikz, got ${String(msg.format)}`);
      return;
    }
    if ((msg.format === 'svg' || msg.format === 'png') && !msg.svg) {
      this.host.log('error', `export ${msg.view}: the webview sent no SVG markup for ${msg.format}`);
      return;
    }
    try {
      const path = await this.host.exportView(msg.view, msg.format, msg.svg, this.result);
      if (path) void this.host.post({ type: 'exportDone', requestId: msg.requestId, path });
    } catch (e) {
      this.host.log('error', `export ${msg.view} as ${msg.format} failed: ${errorText(e)}`);
      if (e instanceof MoeError) throw e;
    }
  }
}
