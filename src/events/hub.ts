import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, Writable } from 'node:stream';
import { createRequire } from 'node:module';
import type { WebSocket, WebSocketServer } from 'ws';
import { ApiError } from '../errors.ts';
import { errorReply, type Reply, send } from '../http/respond.ts';
import type { Logger } from '../log.ts';
import { toJson } from '../store/store.ts';
import type { StoreEvent } from '../types.ts';
import { FEED_COMMENT, FEED_HEADERS, FEED_KEEPALIVE_MS, feedEvent, helloEvent } from './feed.ts';
import { greet, type Hello, ReplayBuffer, type ResumeRequest, type SentMessage } from './replay.ts';

// Loaded with require() (importing the CommonJS `ws` through ESM costs ~50 ms for
// its export analysis), and only at the first upgrade: even require() costs ~30 ms
// (measured) that start-up need not wait for.
const requireWs = () => createRequire(import.meta.url)('ws') as typeof import('ws');

/** An incoming message over this closes the connection with 1009. */
export const MAX_INCOMING_MESSAGE_BYTES = 64 * 1024;
/** How long a client has to answer the close handshake on shutdown before its socket is cut. */
const CLOSE_HANDSHAKE_MS = 1000;
/**
 * A replay writes up to this much (at most half the client's buffer limit) before it
 * waits for the socket to drain: small enough that one window holds up other clients
 * for well under a millisecond, large enough that 10,000 events take ~20 ms.
 */
const REPLAY_WINDOW_BYTES = 256 * 1024;

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
  /** EVENT_BUFFER and EVENT_BUFFER_BYTES: what a reconnecting client can get back. */
  bufferCount?: number;
  bufferBytes?: number;
  /** MAX_EVENT_CLIENTS: WebSocket and feed clients together. */
  maxClients?: number;
  feedKeepAliveMs?: number;
}

/** A WebSocket or a feed client: where its bytes go and how far it has got. */
interface Client {
  readonly kind: 'websocket' | 'feed';
  /** The raw socket of a WebSocket; the response of a feed. */
  readonly out: Writable;
  /** The next seq to send while it catches up from the buffer; `undefined` once live. */
  next: number | undefined;
  closed: boolean;
  /** Bytes written to it and not yet sent. */
  backlog(): number;
  /** Drops it for not keeping up. */
  cutOff(): void;
  /** Closes it at shutdown; resolves once it is gone. */
  end(): Promise<void>;
  ws?: WebSocket;
}

const bytesFor = (client: Client, message: SentMessage) => (client.kind === 'websocket' ? message.frame : feedEvent(message));

/** Resolves when `emitter` emits 'close', or after a second (then `force` runs). */
function closed(emitter: NodeJS.EventEmitter, force: () => void): Promise<void> {
  return new Promise((resolve) => {
    emitter.once('close', () => resolve());
    setTimeout(() => { force(); resolve(); }, CLOSE_HANDSHAKE_MS).unref();
  });
}

/**
 * Numbers store events, frames each once, keeps the last ones for replay and sends
 * them to every WebSocket and feed client. A client that reconnects gets what it
 * missed from the buffer, then live messages: the switch happens in the same
 * synchronous step as the last replayed write, so no broadcast falls between.
 * Keeps clients honest: a WebSocket that misses a ping is dropped, a client whose
 * unsent buffer passes the limit is cut off (1013 for a WebSocket).
 */
export class Hub {
  readonly serverId = randomUUID();
  readonly buffer: ReplayBuffer;
  private wss: WebSocketServer | undefined;
  private readonly clients = new Set<Client>();
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private readonly timers: NodeJS.Timeout[];
  private closing = false;
  private readonly replayWindow: number;

  constructor(private readonly options: HubOptions) {
    this.buffer = new ReplayBuffer(options.bufferCount ?? 10_000, options.bufferBytes ?? 64 * 1024 * 1024);
    this.replayWindow = Math.max(1, Math.min(REPLAY_WINDOW_BYTES, options.maxBufferBytes >> 1));
    this.timers = [
      setInterval(() => this.pingAll(), options.pingMs),
      setInterval(() => this.commentAll(), options.feedKeepAliveMs ?? FEED_KEEPALIVE_MS),
    ];
    for (const timer of this.timers) timer.unref();
  }

  /** The last broadcast number. */
  get seq(): number {
    return this.buffer.last;
  }

  /** WebSocket and feed clients. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Throws 503 BUSY when one more client would pass MAX_EVENT_CLIENTS, or when shutting down. */
  checkRoom() {
    if (this.closing) throw new ApiError(503, 'BUSY', 'Server is shutting down');
    const max = this.options.maxClients ?? 1000;
    if (this.clients.size >= max) throw new ApiError(503, 'BUSY', `Too many event clients (MAX_EVENT_CLIENTS ${max})`);
  }

  /** Completes a WebSocket handshake; the caller has already checked Host, Origin, token and room. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer) {
    this.wss ??= new (requireWs().WebSocketServer)({
      noServer: true,
      maxPayload: MAX_INCOMING_MESSAGE_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
    });
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws, socket, { since: query.get('since'), serverId: query.get('serverId') }));
  }

  private connected(ws: WebSocket, socket: Duplex, resume: ResumeRequest) {
    const client: Client = {
      kind: 'websocket', out: socket, next: undefined, closed: false, ws,
      backlog: () => ws.bufferedAmount,
      cutOff: () => {
        this.options.logger.warn('closing a websocket client that does not keep up (1013)');
        client.closed = true;
        ws.close(1013, 'client too slow');
      },
      end: () => {
        const gone = closed(ws, () => ws.terminate());
        ws.close(1001, 'server shutting down');
        return gone;
      },
    };
    this.alive.set(ws, true);
    ws.on('pong', () => this.alive.set(ws, true));
    ws.on('error', (err) => this.options.logger.debug(`websocket error: ${err.message}`));
    ws.on('close', () => this.remove(client));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let message: unknown;
      try {
        message = JSON.parse(data.toString());
      } catch {
        return;
      }
      if ((message as { type?: unknown } | null)?.type === 'ping') this.sendTo(client, PONG_FRAME);
    });
    this.join(client, resume, (hello) => textFrame(Buffer.from(JSON.stringify({ type: 'hello', data: hello }))));
  }

  /** `GET /api/events`: the reply that turns the response into a feed (the caller has checked Host, Origin, token). */
  feedReply(req: IncomingMessage, query: URLSearchParams): Reply {
    this.checkRoom();
    const resume: ResumeRequest = { since: query.get('since'), serverId: query.get('serverId'), lastEventId: req.headers['last-event-id'] as string | undefined };
    return { status: 200, json: '', stream: (res, headers) => this.openFeed(res, headers, resume) };
  }

  private openFeed(res: ServerResponse, headers: Record<string, string>, resume: ResumeRequest) {
    try {
      this.checkRoom(); // again: other requests may have run between the handler and this call
    } catch (err) {
      send(res, errorReply(err, this.options.logger), headers);
      return;
    }
    if (res.destroyed) return; // gone before the answer: registering it would hold a place forever
    res.writeHead(200, { ...headers, ...FEED_HEADERS });
    if (res.req.method === 'HEAD') {
      res.end();
      return;
    }
    const client: Client = {
      kind: 'feed', out: res, next: undefined, closed: false,
      backlog: () => res.writableLength,
      cutOff: () => {
        this.options.logger.warn('disconnecting an event feed client that does not keep up');
        client.closed = true;
        res.destroy();
      },
      end: () => {
        const gone = closed(res, () => res.destroy());
        // The final chunk, then FIN: the feed ends cleanly and the socket does not linger as keep-alive.
        res.end(() => res.socket?.end());
        return gone;
      },
    };
    res.on('close', () => this.remove(client));
    this.join(client, resume, helloEvent);
  }

  /** Hello, then the replay from the buffer (if any), then live: registered in this same tick. */
  private join(client: Client, resume: ResumeRequest, encodeHello: (hello: Hello) => Buffer) {
    const { hello, from } = greet(this.buffer, this.serverId, resume);
    client.out.write(encodeHello(hello));
    this.clients.add(client);
    client.next = from;
    this.catchUp(client);
  }

  /**
   * Writes buffered messages from `client.next` on, a window at a time. Broadcasts
   * meanwhile land in the buffer and are picked up here; the switch to live happens
   * right after the last one is written, with no chance for a broadcast in between.
   */
  private catchUp(client: Client) {
    // Corked, a window of messages leaves in one writev instead of one syscall each.
    client.out.cork();
    try {
      this.writeWindow(client);
    } finally {
      client.out.uncork();
    }
  }

  private writeWindow(client: Client) {
    while (client.next !== undefined && !client.closed) {
      if (client.next > this.buffer.last) {
        client.next = undefined;
        return;
      }
      const message = this.buffer.get(client.next);
      if (!message) {
        client.cutOff(); // it fell further behind than the buffer holds
        return;
      }
      client.next++;
      // Past the stream's own mark (write says false, so 'drain' will come), up to a window.
      if (!client.out.write(bytesFor(client, message)) && client.backlog() >= this.replayWindow) {
        client.out.once('drain', () => this.catchUp(client));
        return;
      }
    }
  }

  private remove(client: Client) {
    client.closed = true;
    this.clients.delete(client);
  }

  broadcast(event: StoreEvent) {
    const seq = this.buffer.last + 1;
    const text = `{"type":"${event.type}","event":"${event.type}","data":${toJson(event.data as object)},"seq":${seq},"timestamp":${Date.now()}}`;
    // Framed once and written straight to each socket: one write per client, no
    // per-client framing. Safe beside ws's own writes because its sender only
    // queues for compression or Blobs, and this server uses neither.
    const json = Buffer.from(text);
    const frame = textFrame(json);
    const message: SentMessage = { seq, type: event.type, frame, json: frame.subarray(frame.length - json.length) };
    this.buffer.add(message);
    let feedBytes: Buffer | undefined;
    for (const client of this.clients) {
      // A client still catching up gets this one from the buffer.
      if (client.next !== undefined || client.closed) continue;
      this.sendTo(client, client.kind === 'websocket' ? frame : (feedBytes ??= feedEvent(message)));
    }
  }

  /**
   * Every frame a client is sent (events and pongs alike) counts toward its
   * buffer bound: a client past it is cut off instead of being written to,
   * however it makes the server write (one frame can pass the bound).
   */
  private sendTo(client: Client, bytes: Buffer) {
    if (client.closed) return;
    if (client.backlog() > this.options.maxBufferBytes) client.cutOff();
    else client.out.write(bytes);
  }

  private pingAll() {
    for (const { ws, closed: gone } of this.clients) {
      if (!ws || gone) continue;
      if (!this.alive.get(ws)) {
        ws.terminate();
        continue;
      }
      this.alive.set(ws, false);
      ws.ping();
    }
  }

  /** The feed's keep-alive comment; it counts toward the client's buffer like any message. */
  private commentAll() {
    for (const client of this.clients) {
      if (client.kind !== 'feed' || client.closed || client.next !== undefined) continue;
      this.sendTo(client, FEED_COMMENT);
    }
  }

  /** Closes every WebSocket with 1001 and ends every feed; waits for them to go. */
  async close(): Promise<void> {
    this.closing = true;
    for (const timer of this.timers) clearInterval(timer);
    await Promise.all([...this.clients].map((client) => client.end()));
    const wss = this.wss;
    if (wss) await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
}
