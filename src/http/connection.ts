import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type Duplex, finished } from 'node:stream';

/** SPEC §8: request headers must arrive within 10 s, a whole request within 30 s. */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;

type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

const responseDone = (res: ServerResponse) => new Promise<void>((resolve) => {
  finished(res, () => resolve());
});

/**
 * Node runs the handlers of pipelined requests side by side; SPEC §8 wants them in
 * the order sent. Each connection gets a queue: a request starts once the one before
 * it has been answered and its response handed to the socket. That also bounds what
 * one connection can make the server hold: one answer at a time, never a backlog.
 */
export function inOrderPerConnection(handle: RequestHandler): (req: IncomingMessage, res: ServerResponse) => void {
  const queues = new WeakMap<Socket, Promise<void>>();
  return (req, res) => {
    const socket = req.socket;
    const run = () => handle(req, res).then(() => responseDone(res));
    const previous = queues.get(socket);
    const current = previous ? previous.then(run) : run();
    queues.set(socket, current);
    void current.finally(() => { if (queues.get(socket) === current) queues.delete(socket); });
  };
}

/** Only `Upgrade: websocket` is an upgrade here; anything else (`h2c`) is a plain request. */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return String(req.headers.upgrade ?? '').split(',').some((p) => p.trim().toLowerCase() === 'websocket');
}

const HOP_BY_HOP = new Set(['upgrade', 'connection', 'http2-settings']);

/**
 * Node hands every `Upgrade` request to the 'upgrade' event and detaches its parser.
 * A request that asked for another protocol is given back to the HTTP server as if
 * it had just arrived, without the upgrade headers, so its body, keep-alive and
 * pipelining work as for any request (SPEC §8: the `Upgrade` header is ignored).
 */
export function replayAsPlainRequest(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer) {
  let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (!HOP_BY_HOP.has(req.rawHeaders[i].toLowerCase())) text += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
  }
  socket.unshift(Buffer.concat([Buffer.from(`${text}\r\n`, 'latin1'), head]));
  server.emit('connection', socket);
}
