import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createRequire } from 'node:module';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../log.ts';
import { toJson } from '../store/store.ts';
import type { StoreEvent } from '../types.ts';

// Loaded with require() (importing the CommonJS `ws` through ESM costs ~50 ms for
// its export analysis), and only at the first upgrade: even require() costs ~30 ms
// (measured) that start-up need not wait for.
const requireWs = () => createRequire(import.meta.url)('ws') as typeof import('ws');
const NO_CLIENTS: ReadonlySet<WebSocket> = new Set();

/** An incoming message over this closes the connection with 1009. */
export const MAX_INCOMING_MESSAGE_BYTES = 64 * 1024;

/** One unmasked, final text frame (RFC 6455 §5.2): the header and the payload in one buffer. */
export function textFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const headerLength = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + n);
  frame[0] = 0x81;
  if (n < 126) {
    frame[1] = n;
  } else if (n < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(frame, headerLength);
  return frame;
}

const PONG_FRAME = textFrame(Buffer.from('{"type":"pong"}'));

export interface HubOptions {
  pingMs: number;
  maxBufferBytes: number;
  logger: Logger;
}

/**
 * Numbers store events and sends each to every client as one JSON text built
 * once. Keeps clients honest: a client that misses a ping is dropped, one whose
 * unsent buffer passes the limit is closed with 1013.
 */
export class Hub {
  readonly serverId = randomUUID();
  seq = 0;
  private wss: WebSocketServer | undefined;
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private readonly sockets = new WeakMap<WebSocket, Duplex>();
  private readonly pinger: NodeJS.Timeout;

  constructor(private readonly options: HubOptions) {
    this.pinger = setInterval(() => this.pingAll(), options.pingMs);
    this.pinger.unref();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  private get clients(): ReadonlySet<WebSocket> {
    return this.wss?.clients ?? NO_CLIENTS;
  }

  /** Completes a WebSocket handshake; the caller has already checked Host, Origin and token. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer) {
    this.wss ??= new (requireWs().WebSocketServer)({
      noServer: true,
      maxPayload: MAX_INCOMING_MESSAGE_BYTES,
      perMessageDeflate: false,
      clientTracking: true,
    });
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.sockets.set(ws, socket);
      this.connected(ws);
    });
  }

  private connected(ws: WebSocket) {
    this.alive.set(ws, true);
    ws.on('pong', () => this.alive.set(ws, true));
    ws.on('error', (err) => this.options.logger.debug(`websocket error: ${err.message}`));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let message: unknown;
      try {
        message = JSON.parse(data.toString());
      } catch {
        return;
      }
      if ((message as { type?: unknown } | null)?.type === 'ping') this.sendFrame(ws, PONG_FRAME);
    });
    ws.send(JSON.stringify({ type: 'hello', data: { serverId: this.serverId, seq: this.seq } }));
  }

  broadcast(event: StoreEvent) {
    const seq = ++this.seq;
    if (this.clients.size === 0) return;
    const text = `{"type":"${event.type}","event":"${event.type}","data":${toJson(event.data as object)},"seq":${seq},"timestamp":${Date.now()}}`;
    // Framed once and written straight to each socket: one write per client, no
    // per-client framing. Safe beside ws's own writes because its sender only
    // queues for compression or Blobs, and this server uses neither.
    const frame = textFrame(Buffer.from(text));
    for (const ws of this.clients) this.sendFrame(ws, frame);
  }

  /**
   * Every frame a client is sent (events and pongs alike) counts toward its
   * buffer bound: a client past it is closed with 1013 instead of being written
   * to, however it makes the server write (one frame can pass the bound).
   */
  private sendFrame(ws: WebSocket, frame: Buffer) {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > this.options.maxBufferBytes) {
      this.options.logger.warn('closing a websocket client that does not keep up (1013)');
      ws.close(1013, 'client too slow');
      return;
    }
    this.sockets.get(ws)!.write(frame);
  }

  private pingAll() {
    for (const ws of this.clients) {
      if (!this.alive.get(ws)) {
        ws.terminate();
        continue;
      }
      this.alive.set(ws, false);
      ws.ping();
    }
  }

  /** Closes every client with 1001 (going away) and the server; waits for the sockets to go. */
  async close(): Promise<void> {
    clearInterval(this.pinger);
    const closing = [...this.clients].map((ws) => new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1001, 'server shutting down');
      setTimeout(() => { ws.terminate(); resolve(); }, 1000).unref();
    }));
    await Promise.all(closing);
    const wss = this.wss;
    if (wss) await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
}
