/**
 * What one inspector panel does with the webview's messages, free of 'vscode': every message is checked against the
 * protocol and the registries (kernels/protocol.ts) before anything acts on it; `tile` and `export` requests are
 * answered — with the tile, the saved path, or the reason they failed; re-runs, panel buttons and log lines go to the
 * host; and the Trace (with a second run to compare, and an imported profile) is replayed when the webview (re)loads. panel.ts wires it to a real WebviewPanel; the unit tests to arrays.
 */
import { MoeError } from '../kernels/errors';
import type { Arch, BackendChoice } from '../kernels/spec';
import {
  Channel,
  PROTOCOL_VERSION,
  checkWebviewEnvelope,
  type ArchChoice,
  type Envelope,
  type ExportFormat,
  type HostBody,
  type HostEvent,
  type LogLevel,
  type PanelCommand,
  type ViewId,
  type WebviewBody,
  type WebviewCheckContext,
  type WebviewRequest,
} from '../kernels/protocol';
import type { Engine, RunResultLike } from './engineTypes';
import type { StageId, Trace } from '../kernels/trace';
import type { ImportedTimings } from '../kernels/profile/onStages';

/**
 * How long a run's grouped GEMMs may be held, from its first partial trace, for the webview's first picture. On a
 * 2-core machine the GEMM worker threads otherwise starve the webview while it loads (measured: the panel stayed
 * blank until GEMM 1 ended); the cap bounds what a hidden or broken webview can cost.
 */
export const FIRST_PICTURE_HOLD_MS = 2500;

export interface PanelHost<R extends RunResultLike> {
  post(msg: Envelope<HostBody>): void | PromiseLike<boolean> | Promise<unknown>;
  engine: Pick<Engine<R>, 'tile'>;
  /** the webview asked for an export: ask the user where and write the file; resolves to the path, or undefined when cancelled */
  exportView(view: ViewId, format: ExportFormat, svg: string | undefined, result: R | undefined, tensor: string | undefined): Promise<string | undefined>;
  rerun(change: { arch?: Arch; backend?: BackendChoice }): void;
  /** a panel button: the same as running the command from the palette */
  command(command: PanelCommand): void;
  log(level: LogLevel, message: string): void;
  /** the registries webview messages are checked against (view ids, architecture ids) */
  registries: WebviewCheckContext;
  /** the architectures the webview may offer a re-run on */
  archs: readonly ArchChoice[];
}

/** Message text for any thrown value: MoeErrors keep their code-bearing message, others their string form. */
export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const errorCode = (e: unknown): string | undefined => (e instanceof MoeError ? e.code : undefined);

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
  private readonly channel: Channel<HostBody, WebviewBody>;
  /** a second run drawn beside this panel's (MoE: Compare With…) */
  private compare: Trace | undefined;
  /** an imported profiler trace on this run's stages (MoE: Import Profiler Trace…) */
  private profile: ImportedTimings | null = null;

  constructor(private readonly host: PanelHost<R>) {
    this.channel = new Channel<HostBody, WebviewBody>((e) => void host.post(e));
  }

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

  /** A second run to show beside this one (undefined: none); redrawn at once when a run is shown. */
  setCompare(trace: Trace | undefined): void {
    this.compare = trace;
    if (this.ready && !this.partial) this.postTrace();
  }

  get comparing(): Trace | undefined {
    return this.compare;
  }

  /** Imported kernel times on this run's stages (null: none); the webview keeps them until replaced. */
  setProfile(profile: ImportedTimings | null): void {
    this.profile = profile;
    if (this.ready) this.send({ type: 'profile', profile });
  }

  get running(): boolean {
    return this.partial !== undefined;
  }

  showError(message: string, code?: string): void {
    this.pendingError = { message, ...(code ? { code } : {}) };
    if (this.ready) this.send({ type: 'error', ...this.pendingError });
  }

  /** The engine's progress, for the panel's progress bar. */
  progress(stage: StageId | 'setup', fraction: number, message: string): void {
    if (this.ready) this.send({ type: 'progress', stage, fraction: Math.max(0, Math.min(1, fraction)), message });
  }

  /** The Export Layout Diagram command: the webview exports the view it shows (and hears back how it went). */
  requestExport(format: ExportFormat): void {
    this.send({ type: 'exportRequest', format });
  }

  /** The webview document is being replaced (html reset): wait for its next 'ready'. */
  resetReady(): void {
    this.ready = false;
  }

  private send(body: HostEvent): void {
    this.channel.notify(body);
  }

  private traceEvent(trace: Trace, partial: boolean): HostEvent {
    return { type: 'trace', version: PROTOCOL_VERSION, trace, ...(this.compare && !partial ? { compare: this.compare } : {}), ...(partial ? { partial: true } : {}), archs: [...this.host.archs] };
  }

  private postPartial(): void {
    if (this.partial) this.send(this.traceEvent(this.partial, true));
  }

  private postTrace(): void {
    if (this.result) this.send(this.traceEvent(this.result.trace, false));
  }

  /** One message from the webview: checked, then acted on; a refused request is answered with the reason. */
  async handle(raw: unknown): Promise<void> {
    const checked = checkWebviewEnvelope(raw, this.host.registries);
    if (!checked.ok) {
      this.host.log('warn', `refused a webview message: ${checked.reason}`);
      if (checked.replyTo !== undefined) this.channel.replyError(checked.replyTo, { message: checked.reason, code: 'E_PROTOCOL' });
      return;
    }
    const { id, body } = checked.env;
    const msg = body!;
    switch (msg.type) {
      case 'ready':
        this.ready = true;
        if (this.partial) this.postPartial();
        else if (this.result) this.postTrace();
        else if (this.pendingError) this.send({ type: 'error', ...this.pendingError });
        if (this.profile) this.send({ type: 'profile', profile: this.profile });
        return;
      case 'drawn':
        this.drawn = true;
        this.release();
        return;
      case 'rerun':
        this.host.rerun({ ...(msg.arch ? { arch: msg.arch } : {}), ...(msg.backend ? { backend: msg.backend } : {}) });
        return;
      case 'log':
        this.host.log(msg.level, `webview: ${msg.message}`);
        return;
      case 'command':
        this.host.command(msg.command);
        return;
      case 'tile':
      case 'export':
        try {
          this.channel.reply(id, msg.type === 'tile' ? this.serveTile(msg) : await this.serveExport(msg));
        } catch (e) {
          this.channel.replyError(id, { message: errorText(e), ...(errorCode(e) ? { code: errorCode(e)! } : {}) });
        }
        return;
    }
  }

  private serveTile(msg: Extract<WebviewRequest, { type: 'tile' }>): HostBody {
    if (this.partial) {
      // the RunResult (and its tensors) exists only once the run ends; a previous run's tensors must not answer
      const stage = this.partial.pending?.find((p) => p.outputs.includes(msg.tensor));
      throw new MoeError(
        'E_VALUE',
        stage
          ? `tile ${msg.tensor}: not computed yet — stage '${stage.title}' has not run; the run is still going`
          : `tile ${msg.tensor}: not available yet — tiles are served once the run finishes (${this.partial.stages.length} of ${this.partial.stages.length + (this.partial.pending?.length ?? 0)} stages done)`,
        msg.tensor,
      );
    }
    if (!this.result) throw new MoeError('E_VALUE', `tile ${msg.tensor}: no run is loaded in this panel`, msg.tensor);
    if (!(msg.tensor in this.result.trace.tensors))
      throw new MoeError('E_VALUE', `tile ${msg.tensor}: no such tensor in this run (have ${Object.keys(this.result.trace.tensors).join(', ')})`, msg.tensor);
    return { type: 'tile', tile: this.host.engine.tile(this.result, msg.tensor, msg.rows, msg.cols, msg.mode) };
  }

  private async serveExport(msg: Extract<WebviewRequest, { type: 'export' }>): Promise<HostBody> {
    try {
      const path = await this.host.exportView(msg.view, msg.format, msg.svg, this.result, msg.tensor);
      return { type: 'exported', path: path ?? null };
    } catch (e) {
      this.host.log('error', `export ${msg.view} as ${msg.format} failed: ${errorText(e)}`);
      throw e;
    }
  }
}
