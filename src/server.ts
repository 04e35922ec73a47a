import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Services } from './api/context.ts';
import { buildRouter } from './api/routes.ts';
import type { Config } from './config.ts';
import { ApiError } from './errors.ts';
import { Hub } from './events/hub.ts';
import { readJsonBody } from './http/body.ts';
import {
  HEADERS_TIMEOUT_MS, inOrderPerConnection, isWebSocketUpgrade, replayAsPlainRequest, REQUEST_TIMEOUT_MS,
} from './http/connection.ts';
import { WriteGate } from './http/write-gate.ts';
import {
  bearerToken, checkHost, checkOrigin, checkToken, corsHeaders, type GuardOptions, guardOptions, PREFLIGHT_HEADERS,
} from './http/guard.ts';
import { errorReply, send } from './http/respond.ts';
import { createLogger, type Logger } from './log.ts';
import type { FileSystem } from './persistence/fs.ts';
import { ensureFolder, loadData } from './persistence/load.ts';
import { acquireLock } from './persistence/lock.ts';
import { DiskWriter } from './persistence/writer.ts';
import { SkillsLibrary } from './skills/library.ts';
import { Store } from './store/store.ts';

export class StartError extends Error {}

export interface StartOptions {
  logger?: Logger;
  /** The file-system seam for the writer (fault-injection tests). */
  fs?: FileSystem;
}

export interface MaestroServer {
  readonly url: string;
  readonly port: number;
  readonly store: Store;
  readonly hub: Hub;
  readonly writer: DiskWriter;
  /** Graceful stop; `unsaved` lists the files that could not be written in time. */
  stop(): Promise<{ unsaved: string[] }>;
  /** File I/O is stuck in a thread (a hung mount): exiting normally would wait for it. */
  ioStuck(): boolean;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Shutdown leaves this much of the 5 s budget for closing sockets and exiting. */
const FLUSH_BUDGET_MS = 3500;

/** Origin-form `/a?b` or absolute-form `http://host/a?b` (RFC 9112 §3.2.2): its path, query and host, if any. */
export function splitUrl(url: string): { path: string; query: URLSearchParams; host?: string } {
  const absolute = /^https?:\/\/([^/?#]*)(.*)$/i.exec(url);
  if (absolute) {
    const rest = absolute[2].startsWith('/') ? absolute[2] : `/${absolute[2]}`;
    return { ...splitUrl(rest), host: absolute[1] };
  }
  const q = url.indexOf('?');
  return q === -1 ? { path: url, query: new URLSearchParams() } : { path: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

/** Answers a refused upgrade on the raw socket, since no ServerResponse exists for it. */
function refuseUpgrade(socket: Duplex, err: unknown, logger: Logger) {
  const reply = errorReply(err, logger);
  const headers = Object.entries(reply.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status]}\r\nContent-Type: application/json\r\n`
    + `Content-Length: ${Buffer.byteLength(reply.json)}\r\nConnection: close\r\n${headers}\r\n${reply.json}`);
}

function listen(server: Server, config: Config): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new StartError(`port ${config.port} on ${config.host} is already in use`));
      else if (err.code === 'EACCES') reject(new StartError(`no permission to listen on ${config.host}:${config.port}`));
      else reject(new StartError(`cannot listen on ${config.host}:${config.port}: ${err.message}`));
    });
    server.listen(config.port, config.host, () => resolve((server.address() as { port: number }).port));
  });
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<MaestroServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  await ensureFolder(config.dataDir);
  const releaseLock = await acquireLock(config.dataDir);
  try {
    return await startLocked(config, logger, releaseLock, options.fs);
  } catch (err) {
    await releaseLock();
    throw err;
  }
}

async function startLocked(config: Config, logger: Logger, releaseLock: () => Promise<void>, fs?: FileSystem): Promise<MaestroServer> {
  const startedAt = Date.now();
  const store = new Store();
  const loaded = await loadData(config.dataDir, logger);
  store.load(loaded.projects, loaded.tasks, loaded.sessions);
  const writer = new DiskWriter({
    dataDir: config.dataDir, debounceMs: config.writeDebounceMs, maxPending: config.maxPendingWrites, logger, fs,
  });
  store.onChange((change) => writer.mark(change));
  for (const change of loaded.repaired) writer.mark(change);
  const hub = new Hub({ pingMs: config.wsPingMs, maxBufferBytes: config.wsMaxBufferBytes, logger });
  store.onEvent((event) => hub.broadcast(event));

  const guard = guardOptions(config);
  const router = buildRouter();
  let port = config.port;
  let stopping = false;
  const skills = new SkillsLibrary(config.skillsDir, logger);
  const services: Services = {
    store, config, logger, skills,
    serverUrl: () => config.serverUrlSet ? config.serverUrl : `http://localhost:${port}`,
    health: () => {
      const reason = writer.failing;
      return {
        status: reason ? 'degraded' : 'ok',
        ...(reason ? { reason } : {}),
        timestamp: Date.now(),
        uptime: Math.floor((Date.now() - startedAt) / 1000),
        pendingWrites: writer.pending,
      };
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    let origin: string | undefined;
    const extra = (): Record<string, string> => ({ ...corsHeaders(origin), ...(stopping ? { Connection: 'close' } : {}) });
    try {
      const { path, query, host } = splitUrl(req.url ?? '/');
      checkHost(req.headers, guard);
      if (host !== undefined) checkHost({ host }, guard);
      origin = checkOrigin(req.headers, guard);
      const method = req.method ?? 'GET';
      if (method === 'OPTIONS') {
        res.writeHead(204, { ...extra(), ...PREFLIGHT_HEADERS }).end();
        return;
      }
      if (!(method === 'GET' && path === '/health')) checkToken(bearerToken(req.headers), guard);
      const match = router.match(method, path);
      if (!match) throw new ApiError(404, 'NOT_FOUND', `No route for ${method} ${path}`);
      if ('allow' in match) {
        const allow = match.allow.join(', ');
        throw new ApiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${allow}`, { allow: match.allow }, { Allow: allow });
      }
      const body = match.handler.body ? await readJsonBody(req, config.bodyLimitBytes) : undefined;
      const ifMatch = req.headers['if-match'];
      const run = () => match.handler.handler({ req, params: match.params, query, body, ifMatch, services });
      const reply = WRITE_METHODS.has(method) ? await writes.run(run) : await run();
      send(res, reply, extra());
    } catch (err) {
      send(res, errorReply(err, logger), extra());
    }
  }

  const writes = new WriteGate(writer);
  const server = createServer({
    // Timeouts are checked this often (Node's default, 30 s, would triple the header limit).
    connectionsCheckingInterval: 1000,
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
  }, inOrderPerConnection(handle));
  server.maxConnections = config.maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return socket.destroy();
    const refusal = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new ApiError(408, 'REQUEST_TIMEOUT', `A request must arrive within ${REQUEST_TIMEOUT_MS / 1000} s, its headers within ${HEADERS_TIMEOUT_MS / 1000} s`)
      : new ApiError(400, 'BAD_REQUEST', 'Malformed HTTP request');
    refuseUpgrade(socket, refusal, logger);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!isWebSocketUpgrade(req)) {
      replayAsPlainRequest(server, req, socket, head);
      return;
    }
    socket.on('error', () => socket.destroy());
    try {
      if (stopping) throw new ApiError(503, 'BUSY', 'Server is shutting down');
      checkUpgrade(req, guard);
    } catch (err) {
      refuseUpgrade(socket, err, logger);
      return;
    }
    hub.accept(req, socket, head);
  });

  port = await listen(server, config);

  async function stop(): Promise<{ unsaved: string[] }> {
    stopping = true;
    writes.close();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await hub.close();
    // Changes already past the gate are answered with success: they must be in the flush.
    await writes.drained();
    const unsaved = await writer.close(Date.now() + FLUSH_BUDGET_MS);
    server.closeIdleConnections();
    const forced = setTimeout(() => server.closeAllConnections(), 500);
    await closed;
    clearTimeout(forced);
    await releaseLock();
    return { unsaved };
  }

  return { url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`, port, store, hub, writer, stop,
    ioStuck: () => writer.stalled || skills.io.stuck };
}

/** Host and Origin as for any request; the token may also come as `?token=`, since browsers cannot set headers here. */
function checkUpgrade(req: IncomingMessage, guard: GuardOptions) {
  checkHost(req.headers, guard);
  checkOrigin(req.headers, guard);
  const queryToken = splitUrl(req.url ?? '/').query.get('token') ?? undefined;
  checkToken(bearerToken(req.headers) ?? queryToken, guard);
}
