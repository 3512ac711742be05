/**
 * Every message between the extension host and the panel's webview, in one module that the host (extension/), the
 * webview (webview/) and the engine (kernels/tiles.ts) import — modelled on vscode-hexeditor's shared/protocol.ts.
 *
 * On the wire each message is an Envelope: a per-sender `id`, and for a reply the `inReplyTo` id of the request it
 * answers with either a `body` or an `error` (a failed request is answered, never only logged). `Channel` is the one
 * pending-request helper both sides use. Nothing that arrives is trusted: `checkWebviewEnvelope` (host side) and
 * `checkHostEnvelope` (webview side) are hand-written validators that accept exactly the shapes below and say what
 * is wrong otherwise. Tiles travel binary: VS Code (≥ 1.57) transfers typed arrays in webview messages as buffers.
 *
 * No 'vscode', no DOM, no engine code here (types only), so every side and the unit tests can load it.
 */
import type { Trace, StageId } from './trace';
import type { LayerSpec, BackendChoice } from './spec';
import type { ImportedKernel, ImportedStage, ImportedTimings } from './profile/onStages';

/** Bumped when a message changes shape: a webview of another version is told to reload instead of misreading. */
export const PROTOCOL_VERSION = 2;

/** Largest tile (rows × cols values) either side sends or accepts: the webview asks for what it shows. */
export const MAX_TILE_ELEMS = 1 << 20;

export const EXPORT_FORMATS = ['svg', 'png', 'tikz'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const TILE_MODES = ['value', 'error'] as const;
export type TileMode = (typeof TILE_MODES)[number];

/** the LogOutputChannel methods a webview may reach, and nothing else */
export const LOG_LEVELS = ['info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'cpu', 'cuda'];

/** The panel's own buttons for host commands: MoE: Import Profiler Trace… and MoE: Compare With… */
export const PANEL_COMMANDS = ['importProfile', 'compare'] as const;
export type PanelCommand = (typeof PANEL_COMMANDS)[number];

/** An id of the view registry (webview/views/registry.ts); checked against the registry on arrival. */
export type ViewId = string;

/** Longest tensor name, log line and SVG document a message may carry. */
export const LIMITS = { name: 256, log: 4000, svg: 64 * 1024 * 1024 } as const;

/** A rectangular window of a tensor viewed as 2-D (leading dims flattened), half-open row and column ranges. */
export interface TileRange {
  rows: [number, number];
  cols: [number, number];
}

export interface Tile extends TileRange {
  tensor: string;
  /** 'value' = decoded values; 'error' = |value − float64 reference| */
  mode: TileMode;
  /** row-major values of the window, NaN kept; float32 is exact for every dtype a tile decodes except |i32| > 2^24 */
  values: Float32Array;
  /** logical shape of the whole tensor viewed as 2-D */
  shape2d: [number, number];
}

/** An architecture the panel can re-run on (from kernels/arch, sent by the host: the webview bundle has no registry). */
export interface ArchChoice {
  id: string;
  label: string;
}

// ------------------------------------------------------------------ messages

export interface ReplyError {
  message: string;
  code?: string;
}

export interface Envelope<B> {
  /** unique per sender */
  id: number;
  /** on a reply: the id of the request it answers */
  inReplyTo?: number;
  /** the message; absent on a failed reply */
  body?: B;
  /** a failed request's answer */
  error?: ReplyError;
}

/** host → webview, unprompted */
export type HostEvent =
  /**
   * `partial`: the run is still going; `trace.stages` holds the finished stages and `trace.pending` the others.
   * Each partial replaces the previous one; the final Trace (no `partial`) replaces them all.
   */
  | { type: 'trace'; version: number; trace: Trace; compare?: Trace; partial?: boolean; archs?: ArchChoice[] }
  | { type: 'progress'; stage: StageId | 'setup'; fraction: number; message: string }
  /** the run failed or was cancelled */
  | { type: 'error'; message: string; code?: string }
  /** the Export Layout Diagram command: export the view shown now (the webview then sends an 'export' request) */
  | { type: 'exportRequest'; format: ExportFormat }
  /**
   * An imported profiler trace mapped onto the shown run's stages (MoE: Import Profiler Trace…), drawn in the timing
   * view beside the run's own times; null takes it away. Sent after every trace message while one is imported.
   */
  | { type: 'profile'; profile: ImportedTimings | null };

/** host → webview, answering a request */
export type HostReply = { type: 'tile'; tile: Tile } | { type: 'exported'; /** null: the user closed the save dialog */ path: string | null };

export type HostBody = HostEvent | HostReply;

/** webview → host, needing no answer */
export type WebviewEvent =
  | { type: 'ready'; version: number }
  /** a trace message has been drawn (the host holds a run's grouped GEMMs until its first picture is on screen) */
  | { type: 'drawn'; partial: boolean }
  /** run the panel's layer again on another architecture or backend */
  | { type: 'rerun'; arch?: string; backend?: BackendChoice }
  | { type: 'log'; level: LogLevel; message: string }
  /** a panel button for a host command (the command palette's MoE: Import Profiler Trace… / MoE: Compare With…) */
  | { type: 'command'; command: PanelCommand };

/** webview → host, answered with the HostReply of the same type (or an error) */
export type WebviewRequest =
  | { type: 'tile'; tensor: string; mode: TileMode; rows: [number, number]; cols: [number, number] }
  | {
      type: 'export';
      view: ViewId;
      format: ExportFormat;
      /** rendered SVG markup for svg/png; TikZ is generated by the host from the trace */
      svg?: string;
      /** the tensor the view shows (scale layout, heatmap), for the host's TikZ */
      tensor?: string;
    };

export type WebviewBody = WebviewEvent | WebviewRequest;

/** The reply each request type gets. */
export interface ReplyTo {
  tile: Extract<HostReply, { type: 'tile' }>;
  export: Extract<HostReply, { type: 'exported' }>;
}

/** State persisted with vscode.setState and handed back to the WebviewPanelSerializer after a reload. */
export interface WebviewState {
  version: number;
  view: ViewId;
  stage?: StageId;
  heatmapTensor?: string;
  /** scale tensor shown in the scale-layout view */
  scaleTensor?: string;
  /** scale tensor whose two storage orders the Compare view draws */
  compareTensor?: string;
  zoom?: { k: number; x: number; y: number };
  /** the spec of the run shown, so the host can re-run it after a reload (validated there before it runs) */
  spec?: LayerSpec;
  /** the imported profiler trace shown (MoE: Import Profiler Trace…), drawn again on the re-run after a reload (validated there) */
  profile?: ImportedTimings;
}

// ------------------------------------------------------------------ the pending-request helper

/** A failed request, as the other side answered it. */
export class RemoteError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

/**
 * One side of the conversation: ids for outgoing messages, and the requests still waiting for their reply. The
 * owner validates what arrives, hands replies to `settle` and handles the rest itself.
 */
export class Channel<Out extends { type: string }, In extends { type: string }> {
  private nextId = 1;
  private readonly waiting = new Map<number, { type: string; resolve: (b: In) => void; reject: (e: Error) => void }>();

  constructor(private readonly post: (e: Envelope<Out>) => void) {}

  /** an event: no answer expected */
  notify(body: Out): void {
    this.post({ id: this.nextId++, body });
  }

  /** a request: resolves with the reply's body, rejects with a RemoteError when the other side answers an error */
  request<R extends In>(body: Out): Promise<R> {
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      this.waiting.set(id, { type: body.type, resolve: resolve as (b: In) => void, reject });
      try {
        this.post({ id, body });
      } catch (e) {
        this.waiting.delete(id);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  reply(to: number, body: Out): void {
    this.post({ id: this.nextId++, inReplyTo: to, body });
  }

  replyError(to: number, error: ReplyError): void {
    this.post({ id: this.nextId++, inReplyTo: to, error });
  }

  /** the type of the request `id` waits on, if it waits */
  pendingType(id: number): string | undefined {
    return this.waiting.get(id)?.type;
  }

  /**
   * Settles the request a (validated) reply answers. False when no request waits on it (answered twice, or the
   * other side invented the id): the caller says so rather than act on it.
   */
  settle(env: Envelope<In>): boolean {
    const w = env.inReplyTo === undefined ? undefined : this.waiting.get(env.inReplyTo);
    if (!w) return false;
    this.waiting.delete(env.inReplyTo!);
    if (env.error) w.reject(new RemoteError(env.error.message, env.error.code));
    else w.resolve(env.body!);
    return true;
  }

  /** Rejects the request `id` waits on (its reply arrived malformed). */
  reject(id: number, error: Error): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    w.reject(error);
  }

  get pending(): number {
    return this.waiting.size;
  }
}

// ------------------------------------------------------------------ validation

/** What arrived, checked: the envelope, or why it is refused (and the request id to answer, when there is one). */
export type Checked<B> = { ok: true; env: Envelope<B> } | { ok: false; reason: string; replyTo?: number };

/** The registries a webview message is checked against (the host passes its own). */
export interface WebviewCheckContext {
  viewIds: readonly string[];
  archIds: readonly string[];
}

class Bad extends Error {}
const fail = (msg: string): never => {
  throw new Bad(msg);
};
const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? `an array of ${v.length}` : 'an object';
  return String(v);
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown, what: string): Obj => (isObj(v) ? v : fail(`${what} must be an object, got ${show(v)}`));
const str = (v: unknown, what: string, max: number = LIMITS.name): string => {
  if (typeof v !== 'string') return fail(`${what} must be a string, got ${show(v)}`);
  if (v.length > max) return fail(`${what} is ${v.length} characters long, at most ${max} allowed`);
  return v;
};
const optStr = (v: unknown, what: string, max?: number): string | undefined => (v === undefined ? undefined : str(v, what, max));
const oneOf = <T extends string>(v: unknown, allowed: readonly T[], what: string): T =>
  (allowed as readonly unknown[]).includes(v) ? (v as T) : fail(`${what} must be one of ${allowed.join(' | ')}, got ${show(v)}`);
const int = (v: unknown, what: string, min = 0): number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min ? v : fail(`${what} must be an integer ≥ ${min}, got ${show(v)}`);
const finite = (v: unknown, what: string): number => (typeof v === 'number' && Number.isFinite(v) ? v : fail(`${what} must be a finite number, got ${show(v)}`));
const bool = (v: unknown, what: string): boolean => (typeof v === 'boolean' ? v : fail(`${what} must be true or false, got ${show(v)}`));
const range = (v: unknown, what: string): [number, number] => {
  if (!Array.isArray(v) || v.length !== 2) return fail(`${what} must be a [start, end) pair of integers, got ${show(v)}`);
  const a = int(v[0], `${what}[0]`);
  const b = int(v[1], `${what}[1]`);
  if (a > b) fail(`${what} [${a}, ${b}) ends before it starts`);
  return [a, b];
};
const strArray = (v: unknown, what: string): string[] => {
  if (!Array.isArray(v)) return fail(`${what} must be an array of strings, got ${show(v)}`);
  v.forEach((x, i) => str(x, `${what}[${i}]`));
  return v as string[];
};
const intArray = (v: unknown, what: string, min = 0): number[] => {
  if (!Array.isArray(v)) return fail(`${what} must be an array of integers, got ${show(v)}`);
  v.forEach((x, i) => int(x, `${what}[${i}]`, min));
  return v as number[];
};
const noExtraKeys = (o: Obj, allowed: readonly string[], what: string): void => {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(`${what} has an unknown field '${k}'`);
};
const tag = (v: unknown): string => Object.prototype.toString.call(v);

/** The envelope frame; returns the body (or error) for the caller to check. */
function frame(raw: unknown, side: string): { id: number; inReplyTo?: number; body?: Obj; error?: ReplyError } {
  const e = obj(raw, `${side} message`);
  noExtraKeys(e, ['id', 'inReplyTo', 'body', 'error'], `${side} message`);
  const id = int(e.id, `${side} message id`);
  const inReplyTo = e.inReplyTo === undefined ? undefined : int(e.inReplyTo, `${side} message inReplyTo`);
  if (e.error !== undefined) {
    if (inReplyTo === undefined) fail(`${side} message: only a reply may carry an error`);
    if (e.body !== undefined) fail(`${side} message: a reply carries a body or an error, not both`);
    const er = obj(e.error, `${side} error reply`);
    return { id, inReplyTo, error: { message: str(er.message, 'error message', LIMITS.log), ...(er.code === undefined ? {} : { code: str(er.code, 'error code') }) } };
  }
  const body = obj(e.body, `${side} message body`);
  str(body.type, `${side} message type`);
  return { id, ...(inReplyTo === undefined ? {} : { inReplyTo }), body };
}

/** Runs a check; a refusal becomes a reason (never an exception the caller has to catch). */
function guarded<B>(raw: unknown, run: () => Envelope<B>): Checked<B> {
  try {
    return { ok: true, env: run() };
  } catch (e) {
    if (!(e instanceof Bad)) throw e;
    const id = isObj(raw) && Number.isSafeInteger(raw.id) && (raw.id as number) >= 0 ? (raw.id as number) : undefined;
    const type = isObj(raw) && isObj(raw.body) ? raw.body.type : undefined;
    // a refused request is still answered (with the reason), so its sender does not wait forever
    const isRequest = type === 'tile' || type === 'export';
    return { ok: false, reason: e.message, ...(isRequest && id !== undefined && !(isObj(raw) && raw.inReplyTo !== undefined) ? { replyTo: id } : {}) };
  }
}

/** Host side: a message from the webview, checked field by field against the protocol and the registries. */
export function checkWebviewEnvelope(raw: unknown, ctx: WebviewCheckContext): Checked<WebviewBody> {
  return guarded<WebviewBody>(raw, () => {
    const f = frame(raw, 'webview');
    // the host asks the webview nothing, so nothing from the webview is a reply
    if (f.inReplyTo !== undefined) fail(`webview message ${f.id}: the host sent no request ${f.inReplyTo} to answer`);
    const b = f.body!;
    const t = b.type as string;
    const keys = (...k: string[]): void => noExtraKeys(b, ['type', ...k], `'${t}' message`);
    let body: WebviewBody;
    switch (t) {
      case 'ready':
        keys('version');
        body = { type: 'ready', version: int(b.version, 'ready.version') };
        break;
      case 'drawn':
        keys('partial');
        body = { type: 'drawn', partial: bool(b.partial, 'drawn.partial') };
        break;
      case 'rerun': {
        keys('arch', 'backend');
        if (b.arch === undefined && b.backend === undefined) fail('rerun: give an arch or a backend to change');
        const arch = b.arch === undefined ? undefined : oneOf(b.arch, ctx.archIds, 'rerun.arch');
        const backend = b.backend === undefined ? undefined : oneOf(b.backend, BACKEND_CHOICES, 'rerun.backend');
        body = { type: 'rerun', ...(arch ? { arch } : {}), ...(backend ? { backend } : {}) };
        break;
      }
      case 'command':
        keys('command');
        body = { type: 'command', command: oneOf(b.command, PANEL_COMMANDS, 'command.command') };
        break;
      case 'log':
        keys('level', 'message');
        body = { type: 'log', level: oneOf(b.level, LOG_LEVELS, 'log.level'), message: str(b.message, 'log.message', LIMITS.log) };
        break;
      case 'tile': {
        keys('tensor', 'mode', 'rows', 'cols');
        const rows = range(b.rows, 'tile.rows');
        const cols = range(b.cols, 'tile.cols');
        const n = (rows[1] - rows[0]) * (cols[1] - cols[0]);
        if (n > MAX_TILE_ELEMS) fail(`tile: ${rows[1] - rows[0]} × ${cols[1] - cols[0]} = ${n} values requested, at most ${MAX_TILE_ELEMS} per tile`);
        body = { type: 'tile', tensor: str(b.tensor, 'tile.tensor'), mode: oneOf(b.mode, TILE_MODES, 'tile.mode'), rows, cols };
        break;
      }
      case 'export': {
        keys('view', 'format', 'svg', 'tensor');
        // the view id names the exported file: only registered ids, never a path
        const view = oneOf(b.view, ctx.viewIds, 'export.view');
        const format = oneOf(b.format, EXPORT_FORMATS, 'export.format');
        const svg = optStr(b.svg, 'export.svg', LIMITS.svg);
        if (format !== 'tikz' && svg === undefined) fail(`export ${view} as ${format}: the webview sent no SVG markup`);
        const tensor = optStr(b.tensor, 'export.tensor');
        body = { type: 'export', view, format, ...(svg !== undefined ? { svg } : {}), ...(tensor !== undefined ? { tensor } : {}) };
        break;
      }
      default:
        return fail(`unknown webview message type ${show(t)}`);
    }
    return { id: f.id, body };
  });
}

/**
 * Webview side: a message from the host. `replyType(id)` is the type of the request `id` answers (from the
 * Channel), so a reply is checked against what was asked.
 */
export function checkHostEnvelope(raw: unknown, replyType: (id: number) => string | undefined): Checked<HostBody> {
  return guarded<HostBody>(raw, () => {
    const f = frame(raw, 'host');
    if (f.inReplyTo !== undefined) {
      const asked = replyType(f.inReplyTo) ?? fail(`host reply to ${f.inReplyTo}: no request of that id is waiting`);
      if (f.error) return { id: f.id, inReplyTo: f.inReplyTo, error: f.error };
      return { id: f.id, inReplyTo: f.inReplyTo, body: checkReply(f.body!, asked) };
    }
    return { id: f.id, body: checkHostEvent(f.body!) };
  });
}

function checkReply(b: Obj, asked: string): HostReply {
  const want = asked === 'tile' ? 'tile' : asked === 'export' ? 'exported' : fail(`host reply: the webview never asks '${asked}'`);
  if (b.type !== want) fail(`host reply to a '${asked}' request must be '${want}', got ${show(b.type)}`);
  if (want === 'tile') {
    noExtraKeys(b, ['type', 'tile'], `'tile' reply`);
    return { type: 'tile', tile: checkTile(b.tile) };
  }
  noExtraKeys(b, ['type', 'path'], `'exported' reply`);
  return { type: 'exported', path: b.path === null ? null : str(b.path, 'exported.path', 4096) };
}

/** A tile as it arrives: values as a Float32Array (or its ArrayBuffer), exactly rows × cols of them. */
export function checkTile(v: unknown): Tile {
  const t = obj(v, 'tile');
  noExtraKeys(t, ['tensor', 'mode', 'rows', 'cols', 'values', 'shape2d'], 'tile');
  const rows = range(t.rows, 'tile.rows');
  const cols = range(t.cols, 'tile.cols');
  if (!Array.isArray(t.shape2d) || t.shape2d.length !== 2) fail(`tile.shape2d must be [rows, cols], got ${show(t.shape2d)}`);
  const shape2d: [number, number] = [int((t.shape2d as unknown[])[0], 'tile.shape2d[0]'), int((t.shape2d as unknown[])[1], 'tile.shape2d[1]')];
  if (rows[1] > shape2d[0] || cols[1] > shape2d[1]) fail(`tile rows [${rows}) × cols [${cols}) lie outside the tensor's ${shape2d[0]} × ${shape2d[1]}`);
  const n = (rows[1] - rows[0]) * (cols[1] - cols[0]);
  if (n > MAX_TILE_ELEMS) fail(`tile of ${n} values exceeds ${MAX_TILE_ELEMS}`);
  // typed arrays from another realm (the host's, jsdom's) fail instanceof: recognise them by their tag
  let values: Float32Array;
  if (tag(t.values) === '[object Float32Array]') values = t.values as Float32Array;
  else if (tag(t.values) === '[object ArrayBuffer]') {
    const buf = t.values as ArrayBuffer;
    if (buf.byteLength % 4) fail(`tile values: ${buf.byteLength} bytes is not a whole number of float32 values`);
    values = new Float32Array(buf);
  } else return fail(`tile values must be a Float32Array, got ${show(t.values)}`);
  if (values.length !== n) fail(`tile values: rows [${rows}) × cols [${cols}) need ${n} values, got ${values.length}`);
  return { tensor: str(t.tensor, 'tile.tensor'), mode: oneOf(t.mode, TILE_MODES, 'tile.mode'), rows, cols, shape2d, values };
}

function checkHostEvent(b: Obj): HostEvent {
  const t = b.type as string;
  const keys = (...k: string[]): void => noExtraKeys(b, ['type', ...k], `'${t}' message`);
  switch (t) {
    case 'trace': {
      keys('version', 'trace', 'compare', 'partial', 'archs');
      const version = int(b.version, 'trace.version');
      // another version's trace is not checked further: the webview says "reload" instead
      if (version !== PROTOCOL_VERSION) return { type: 'trace', version, trace: b.trace as Trace };
      const archs = b.archs === undefined ? undefined : (Array.isArray(b.archs) ? b.archs : fail('trace.archs must be an array')).map((a, i) => {
        const o = obj(a, `trace.archs[${i}]`);
        return { id: str(o.id, `trace.archs[${i}].id`), label: str(o.label, `trace.archs[${i}].label`) };
      });
      return {
        type: 'trace',
        version,
        trace: checkTrace(b.trace, 'trace'),
        ...(b.compare === undefined ? {} : { compare: checkTrace(b.compare, 'compare') }),
        ...(b.partial === undefined ? {} : { partial: bool(b.partial, 'trace.partial') }),
        ...(archs ? { archs } : {}),
      };
    }
    case 'progress': {
      keys('stage', 'fraction', 'message');
      const fraction = finite(b.fraction, 'progress.fraction');
      if (fraction < 0 || fraction > 1) fail(`progress.fraction must lie in [0, 1], got ${fraction}`);
      return { type: 'progress', stage: str(b.stage, 'progress.stage'), fraction, message: str(b.message, 'progress.message', LIMITS.log) };
    }
    case 'error':
      keys('message', 'code');
      return { type: 'error', message: str(b.message, 'error.message', LIMITS.log), ...(b.code === undefined ? {} : { code: str(b.code, 'error.code') }) };
    case 'exportRequest':
      keys('format');
      return { type: 'exportRequest', format: oneOf(b.format, EXPORT_FORMATS, 'exportRequest.format') };
    case 'profile':
      keys('profile');
      return { type: 'profile', profile: b.profile === null ? null : checkImportedTimings(b.profile, 'profile') };
    default:
      return fail(`unknown host message type ${show(t)}`);
  }
}

/**
 * The parts of a Trace the webview reads, checked for type (not for meaning: the engine made it). A Trace that
 * passes can be drawn without a TypeError; one that does not is refused with the field that is wrong.
 */
export function checkTrace(v: unknown, what: string): Trace {
  const t = obj(v, what);
  const spec = obj(t.spec, `${what}.spec`);
  str(spec.name, `${what}.spec.name`, 4096);
  str(spec.arch, `${what}.spec.arch`);
  for (const k of ['tokens', 'hidden', 'intermediate', 'experts', 'topk', 'blockM']) int(spec[k], `${what}.spec.${k}`);
  const recipe = obj(spec.recipe, `${what}.spec.recipe`);
  str(recipe.id, `${what}.spec.recipe.id`);
  str(recipe.scaleFormat, `${what}.spec.recipe.scaleFormat`);
  str(recipe.quant, `${what}.spec.recipe.quant`);
  const rec = obj(t.recipe, `${what}.recipe`);
  str(rec.id, `${what}.recipe.id`);
  str(rec.label, `${what}.recipe.label`, 4096);
  const gemm = obj(t.gemm, `${what}.gemm`);
  str(gemm.production, `${what}.gemm.production`, 4096);
  str(gemm.ran, `${what}.gemm.ran`, 4096);
  if (gemm.caveat !== undefined) str(gemm.caveat, `${what}.gemm.caveat`, 4096);
  str(t.gpuModel, `${what}.gpuModel`);
  const backend = obj(t.backend, `${what}.backend`);
  oneOf(backend.name, ['cpu', 'cuda'] as const, `${what}.backend.name`);
  str(backend.device, `${what}.backend.device`, 4096);
  str(backend.reason, `${what}.backend.reason`, 4096);
  if (!Array.isArray(t.stages)) fail(`${what}.stages must be an array`);
  (t.stages as unknown[]).forEach((s, i) => {
    const w = `${what}.stages[${i}]`;
    const o = obj(s, w);
    str(o.id, `${w}.id`);
    str(o.title, `${w}.title`, 4096);
    strArray(o.inputs, `${w}.inputs`);
    strArray(o.outputs, `${w}.outputs`);
    for (const k of ['timeMs', 'bytes', 'flops', 'usefulFlops']) finite(o[k], `${w}.${k}`);
    const r = obj(o.roofline, `${w}.roofline`);
    for (const k of ['floorMs', 'fraction', 'intensity']) finite(r[k], `${w}.roofline.${k}`);
  });
  if (t.pending !== undefined) {
    if (!Array.isArray(t.pending)) fail(`${what}.pending must be an array`);
    (t.pending as unknown[]).forEach((p, i) => {
      const o = obj(p, `${what}.pending[${i}]`);
      str(o.id, `${what}.pending[${i}].id`);
      str(o.title, `${what}.pending[${i}].title`, 4096);
      strArray(o.outputs, `${what}.pending[${i}].outputs`);
    });
  }
  if (!Array.isArray(t.checks)) fail(`${what}.checks must be an array`);
  (t.checks as unknown[]).forEach((c, i) => {
    const o = obj(c, `${what}.checks[${i}]`);
    oneOf(o.level, ['pass', 'info', 'warn', 'fail'] as const, `${what}.checks[${i}].level`);
    str(o.message, `${what}.checks[${i}].message`, 100_000);
  });
  const tensors = obj(t.tensors, `${what}.tensors`);
  for (const [name, r] of Object.entries(tensors)) checkTensorRef(r, name, `${what}.tensors.${name}`);
  const p = obj(t.permutation, `${what}.permutation`);
  intArray(p.counts, `${what}.permutation.counts`);
  for (const k of ['mSum', 'routedRows', 'activeExperts']) int(p[k], `${what}.permutation.${k}`);
  finite(p.paddingWaste, `${what}.permutation.paddingWaste`);
  if (p.layout !== undefined) oneOf(p.layout, ['contiguous', 'masked'] as const, `${what}.permutation.layout`);
  if (p.masked !== undefined) {
    const m = obj(p.masked, `${what}.permutation.masked`);
    for (const k of ['maxM', 'rowBlock', 'bufferRows', 'executedRows']) int(m[k], `${what}.permutation.masked.${k}`);
  }
  str(t.createdAt, `${what}.createdAt`);
  finite(t.totalMs, `${what}.totalMs`);
  return v as Trace;
}

const PROFILE_FORMATS = ['chrome-trace', 'ncu-details', 'ncu-raw'] as const;
/** kernel names a stage or the unmatched list may carry (the host caps them at IMPORTED_LIST_CAP) */
const MAX_PROFILE_LIST = 1000;

const nonNegative = (v: unknown, what: string): number => {
  const n = finite(v, what);
  return n >= 0 ? n : fail(`${what} must be ≥ 0, got ${n}`);
};
const percent = (v: unknown, what: string): number => {
  const n = finite(v, what);
  return n >= 0 && n <= 100 ? n : fail(`${what} must be a percentage in [0, 100], got ${n}`);
};

function checkImportedKernels(v: unknown, what: string): ImportedKernel[] {
  if (!Array.isArray(v)) return fail(`${what} must be an array of kernels, got ${show(v)}`);
  if (v.length > MAX_PROFILE_LIST) fail(`${what} lists ${v.length} kernels, at most ${MAX_PROFILE_LIST}`);
  return v.map((k, i) => {
    const w = `${what}[${i}]`;
    const o = obj(k, w);
    noExtraKeys(o, ['name', 'count', 'totalUs', 'rule'], w);
    return { name: str(o.name, `${w}.name`, 1000), count: int(o.count, `${w}.count`), totalUs: nonNegative(o.totalUs, `${w}.totalUs`), ...(o.rule === undefined ? {} : { rule: str(o.rule, `${w}.rule`, 1000) }) };
  });
}

function checkImportedStages(v: unknown, what: string): ImportedStage[] {
  if (!Array.isArray(v)) return fail(`${what} must be an array of stages, got ${show(v)}`);
  if (v.length > MAX_PROFILE_LIST) fail(`${what} lists ${v.length} stages, at most ${MAX_PROFILE_LIST}`);
  return v.map((s, i) => {
    const w = `${what}[${i}]`;
    const o = obj(s, w);
    noExtraKeys(o, ['stage', 'count', 'totalUs', 'wallUs', 'kernels', 'ncu'], w);
    const out: ImportedStage = { stage: str(o.stage, `${w}.stage`), count: int(o.count, `${w}.count`), totalUs: nonNegative(o.totalUs, `${w}.totalUs`), kernels: checkImportedKernels(o.kernels, `${w}.kernels`) };
    if (o.wallUs !== undefined) out.wallUs = nonNegative(o.wallUs, `${w}.wallUs`);
    if (o.ncu !== undefined) {
      const n = obj(o.ncu, `${w}.ncu`);
      noExtraKeys(n, ['dramPct', 'smPct', 'occupancyPct'], `${w}.ncu`);
      out.ncu = {};
      for (const k of ['dramPct', 'smPct', 'occupancyPct'] as const) if (n[k] !== undefined) out.ncu[k] = percent(n[k], `${w}.ncu.${k}`);
    }
    return out;
  });
}

/** An imported profile as the host sends it (kernels/profile/onStages.ts), field by field. */
export function checkImportedTimings(v: unknown, what: string): ImportedTimings {
  const o = obj(v, what);
  noExtraKeys(o, ['file', 'format', 'launches', 'stages', 'outside', 'unmatched', 'omitted'], what);
  return {
    file: str(o.file, `${what}.file`, 1000),
    format: oneOf(o.format, PROFILE_FORMATS, `${what}.format`),
    launches: int(o.launches, `${what}.launches`),
    stages: checkImportedStages(o.stages, `${what}.stages`),
    outside: checkImportedStages(o.outside, `${what}.outside`),
    unmatched: checkImportedKernels(o.unmatched, `${what}.unmatched`),
    omitted: int(o.omitted, `${what}.omitted`),
  };
}

function checkTensorRef(v: unknown, name: string, what: string): void {
  const r = obj(v, what);
  if (r.name !== name) fail(`${what}.name must be '${name}', got ${show(r.name)}`);
  str(r.dtype, `${what}.dtype`);
  const shape = intArray(r.shape, `${what}.shape`);
  const l = obj(r.layout, `${what}.layout`);
  str(l.order, `${what}.layout.order`);
  const ls = intArray(l.shape, `${what}.layout.shape`);
  const strides = intArray(l.strides, `${what}.layout.strides`);
  if (strides.length !== ls.length) fail(`${what}.layout: ${ls.length} dims but ${strides.length} strides`);
  for (const k of ['offset', 'storageElems', 'addressedElems']) int(l[k], `${what}.layout.${k}`);
  int(l.itemBytes, `${what}.layout.itemBytes`, 1);
  if (l.paddedMN !== undefined) int(l.paddedMN, `${what}.layout.paddedMN`);
  if (l.packing !== undefined) {
    const p = obj(l.packing, `${what}.layout.packing`);
    int(p.perWord, `${what}.layout.packing.perWord`, 1);
    int(p.alongDim, `${what}.layout.packing.alongDim`);
    int(p.logicalExtent, `${what}.layout.packing.logicalExtent`);
  }
  str(l.summary, `${what}.layout.summary`, 4096);
  const summary = obj(r.summary, `${what}.summary`);
  if (summary.sampled !== undefined) {
    const sm = obj(summary.sampled, `${what}.summary.sampled`);
    int(sm.values, `${what}.summary.sampled.values`);
    if (sm.how !== 'even' && sm.how !== 'expert-prefix') fail(`${what}.summary.sampled.how must be 'even' or 'expert-prefix', got ${show(sm.how)}`);
  }
  if (r.inline !== undefined) {
    if (!Array.isArray(r.inline)) fail(`${what}.inline must be an array of numbers`);
    const n = shape.reduce((a, b) => a * b, 1);
    if ((r.inline as unknown[]).length !== n) fail(`${what}.inline: shape [${shape.join(', ')}] needs ${n} values, got ${(r.inline as unknown[]).length}`);
    for (const x of r.inline as unknown[]) if (typeof x !== 'number') fail(`${what}.inline holds ${show(x)}, not a number`);
  }
}

/**
 * Saved webview state (vscode.getState in the webview, the serializer's state on the host), minus the spec, which
 * the host checks against the quick picks' rules (extension/panelRestore.ts). Unknown or malformed fields are
 * dropped, a wrong version or view id gives undefined: a stale state never breaks a panel.
 */
export function reviveWebviewState(raw: unknown, viewIds: readonly string[]): WebviewState | undefined {
  if (!isObj(raw) || raw.version !== PROTOCOL_VERSION || typeof raw.view !== 'string' || !viewIds.includes(raw.view)) return undefined;
  const s: WebviewState = { version: PROTOCOL_VERSION, view: raw.view };
  const name = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= LIMITS.name;
  if (name(raw.stage)) s.stage = raw.stage;
  if (name(raw.heatmapTensor)) s.heatmapTensor = raw.heatmapTensor;
  if (name(raw.scaleTensor)) s.scaleTensor = raw.scaleTensor;
  if (name(raw.compareTensor)) s.compareTensor = raw.compareTensor;
  const z = raw.zoom;
  if (isObj(z) && [z.k, z.x, z.y].every((n) => typeof n === 'number' && Number.isFinite(n)) && (z.k as number) > 0) s.zoom = { k: z.k as number, x: z.x as number, y: z.y as number };
  if (raw.spec !== undefined) s.spec = raw.spec as LayerSpec;
  // a malformed profile is dropped, not half-read: the host would refuse it on restore anyway
  if (raw.profile !== undefined) {
    try {
      s.profile = checkImportedTimings(raw.profile, 'profile');
    } catch {
      /* dropped */
    }
  }
  return s;
}
