import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Services } from './api/context.ts';
import { buildRouter } from './api/routes.ts';
import type { Config } from './config.ts';
import { ApiError } from './errors.ts';
import { Hub } from './events/hub.ts';
import { guardOptions } from './http/guard.ts';
import { checkUpgrade, createHandler, refuseOnSocket } from './http/handler.ts';
import { createLogger, type Logger } from './log.ts';
import type { FileSystem } from './persistence/fs.ts';
import { loadData } from './persistence/load.ts';
import { acquireLock } from './persistence/lock.ts';
import { DiskWriter } from './persistence/writer.ts';
import { IdempotencyCache } from './http/idempotency.ts';
import { LeaseFile, readLeasedIds } from './persistence/lease-file.ts';
import { SkillsLibrary } from './skills/library.ts';
import { releaseBrokenClaims } from './store/claims.ts';
import { attachLeases } from './store/leases.ts';
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
  /**
   * Graceful stop by `deadline` (epoch ms; default `DEFAULT_SHUTDOWN_MS` from now);
   * `unsaved` lists the files that could not be written in time.
   */
  stop(deadline?: number): Promise<{ unsaved: string[] }>;
}

/** After the flush, sockets still open this long are cut. */
const FORCE_CLOSE_AFTER_MS = 500;
/** Of the time to the shutdown deadline, this much is kept for closing sockets and exiting; the rest is for flushing writes. */
const CLOSE_RESERVE_MS = 1500;
/** A `stop()` without a deadline has this long. */
const DEFAULT_SHUTDOWN_MS = 5000;

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
  await mkdir(config.dataDir, { recursive: true });
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
  const leaseFile = new LeaseFile({ dataDir: config.dataDir, debounceMs: config.writeDebounceMs, logger, fs, ids: () => leases.leasedIds() });
  const leases = attachLeases(store, {
    leaseMs: config.sessionLeaseMs, spawnTimeoutMs: config.spawnTimeoutMs, onLeasedChange: () => leaseFile.mark(),
  });
  // SPEC §10: nobody knows what happened while the server was down, so every leased session starts a fresh lease.
  leases.restore(await readLeasedIds(config.dataDir, logger));
  const released = releaseBrokenClaims(store);
  if (released > 0) logger.warn(`released ${released} claim(s) whose session had gone, ended or gone stale`);
  leases.startTimer();

  const guard = guardOptions(config);
  let port = config.port;
  let stopping = false;
  const services: Services = {
    store, config, logger,
    skills: new SkillsLibrary(config.skillsDir, logger),
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

  const handle = createHandler({
    router: buildRouter(), guard, services, bodyLimitBytes: config.bodyLimitBytes,
    waitForRoom: () => writer.waitForRoom(), stopping: () => stopping,
    idempotency: new IdempotencyCache({ maxKeys: config.idempotencyKeys }),
  });

  const server = createServer((req, res) => void handle(req, res));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return socket.destroy();
    refuseOnSocket(socket, new ApiError(400, 'BAD_REQUEST', 'Malformed HTTP request'), logger);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    try {
      if (stopping) throw new ApiError(503, 'BUSY', 'Server is shutting down');
      checkUpgrade(req, guard);
    } catch (err) {
      refuseOnSocket(socket, err, logger);
      return;
    }
    hub.accept(req, socket, head);
  });

  port = await listen(server, config);

  async function stop(deadline = Date.now() + DEFAULT_SHUTDOWN_MS): Promise<{ unsaved: string[] }> {
    stopping = true;
    leases.stopTimer();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await hub.close();
    const unsaved = await writer.close(deadline - CLOSE_RESERVE_MS);
    if (!(await leaseFile.flush())) unsaved.push(leaseFile.path);
    server.closeIdleConnections();
    const forced = setTimeout(() => server.closeAllConnections(), FORCE_CLOSE_AFTER_MS);
    await closed;
    clearTimeout(forced);
    await releaseLock();
    return { unsaved };
  }

  return { url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`, port, store, hub, writer, stop };
}
