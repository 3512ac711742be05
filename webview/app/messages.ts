/**
 * The webview's side of the conversation with the host (kernels/protocol.ts): every message that arrives is checked
 * before anything acts on it; replies settle the request that asked (tiles, exports), events go to the app's
 * handlers; a message that fails the check is refused, reported to the host's log and — if it answered a request —
 * fails that request with the reason.
 */
import {
  Channel, MAX_TILE_ELEMS, checkHostEnvelope, type HostBody, type HostEvent, type ReplyTo, type Tile, type WebviewBody,
  type WebviewEvent, type WebviewRequest,
} from '../../kernels/protocol';
import type { VsCodeApi } from './state';

export interface HostHandlers {
  event(m: HostEvent): void;
  /** a message from the host that failed the protocol check */
  refused(reason: string): void;
}

export interface Connection {
  notify(body: WebviewEvent): void;
  request<K extends WebviewRequest['type']>(body: Extract<WebviewRequest, { type: K }>): Promise<ReplyTo[K]>;
  tile(tensor: string, rows: [number, number], cols: [number, number], mode: Tile['mode']): Promise<Tile>;
  /** the whole of a (2-D view of a) tensor through as many tiles as it takes */
  wholeTensor(tensor: string, shape2d: [number, number]): Promise<Float32Array>;
}

export function connect(win: Window, vscode: VsCodeApi, handlers: HostHandlers): Connection {
  const channel = new Channel<WebviewBody, HostBody>((e) => vscode.postMessage(e));
  win.addEventListener('message', (ev: MessageEvent<unknown>) => {
    const checked = checkHostEnvelope(ev.data, (id) => channel.pendingType(id));
    if (!checked.ok) {
      const raw = ev.data as { inReplyTo?: unknown } | null;
      const replyTo = typeof raw?.inReplyTo === 'number' ? raw.inReplyTo : undefined;
      if (replyTo !== undefined && channel.pendingType(replyTo)) channel.reject(replyTo, new Error(`the host's reply was refused: ${checked.reason}`));
      else handlers.refused(checked.reason);
      return;
    }
    if (checked.env.inReplyTo !== undefined) channel.settle(checked.env);
    else handlers.event(checked.env.body as HostEvent);
  });
  const request = <K extends WebviewRequest['type']>(body: Extract<WebviewRequest, { type: K }>): Promise<ReplyTo[K]> =>
    channel.request<ReplyTo[K]>(body);
  const tile = async (tensor: string, rows: [number, number], cols: [number, number], mode: Tile['mode']): Promise<Tile> =>
    (await request({ type: 'tile', tensor, mode, rows, cols })).tile;
  return {
    notify: (body) => channel.notify(body),
    request,
    tile,
    async wholeTensor(tensor, [R, C]) {
      const out = new Float32Array(R * C);
      const step = Math.max(1, Math.floor(MAX_TILE_ELEMS / Math.max(1, C)));
      const parts: Promise<void>[] = [];
      for (let r = 0; r < R; r += step) {
        const end = Math.min(R, r + step);
        parts.push(tile(tensor, [r, end], [0, C], 'value').then((t) => out.set(t.values, r * C)));
      }
      await Promise.all(parts);
      return out;
    },
  };
}
