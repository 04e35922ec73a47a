import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Services } from './api/context.ts';
import { buildRouter } from './api/routes.ts';
import type { Config } from './config.ts';
import { ApiError } from './errors.ts';
import { Hub } from './events/hub.ts';
import { guardOptions } from './http/guard.ts';
import { checkUpgrade, createHandler, refuseOnSocket } from './http/handler.ts';
import {
  HEADERS_TIMEOUT_MS, inOrderPerConnection, isWebSocketUpgrade, replayAsPlainRequest, REQUEST_TIMEOUT_MS,
} from './http/connection.ts';
import { WriteGate } from './http/write-gate.ts';
import { createLogger, type Logger } from './log.ts';
import type { FileSystem } from './persistence/fs.ts';
import { Archive } from './persistence/archive.ts';
import { ensureFolder, loadData } from './persistence/load.ts';
import { removeManifest, removeOrphanManifests } from './persistence/manifest.ts';
import { acquireLock } from './persistence/lock.ts';
import { DiskWriter } from './persistence/writer.ts';
import { FileThread } from './persistence/file-thread.ts';
import type { FileOps } from './persistence/file-ops.ts';
import { syncFolder } from './persistence/atomic.ts';
import { realFs } from './persistence/fs.ts';
import { Journal, JOURNAL_FOLDER, readJournal } from './persistence/journal.ts';
import { join } from 'node:path';
import { IdempotencyCache } from './http/idempotency.ts';
import { LeaseFile, readLeasedIds } from './persistence/lease-file.ts';
import { SkillsLibrary } from './skills/library.ts';
import { releaseBrokenClaims } from './store/claims.ts';
import { attachLeases } from './store/leases.ts';
import { Store } from './store/store.ts';
import { missingDefaults } from './store/templates.ts';

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
  readonly journal: Journal;
  /**
   * Graceful stop by `deadline` (epoch ms; default `DEFAULT_SHUTDOWN_MS` from now);
   * `unsaved` lists the files that could not be written in time.
   */
  stop(deadline?: number): Promise<{ unsaved: string[] }>;
  /** File I/O is stuck in a thread (a hung mount): exiting normally would wait for it. */
  ioStuck(): boolean;
}

/** After the flush, sockets still open this long are cut. */
const FORCE_CLOSE_AFTER_MS = 500;
/** Of the time to the shutdown deadline, this much is kept for closing sockets and exiting; the rest is for flushing writes. */
const CLOSE_RESERVE_MS = 1500;
/** Entity-file operations handed to the writer's thread at once: enough that it never waits for the next. */
const WRITER_CONCURRENCY = 8;
/** Of the time, at most this much goes to rewriting entity files (already durable in the journal). */
const WRITER_SHARE = 0.1;
/** A file-thread call this old when the forced exit comes is stuck (they take milliseconds). */
const THREAD_STUCK_MS = 1000;
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
  const store = new Store({ historyKeep: config.timelineKeep });
  const archive = new Archive({ dataDir: config.dataDir, logger, fs });
  store.onArchive((archived) => archive.add(archived));
  await ensureFolder(join(config.dataDir, JOURNAL_FOLDER));
  const journaled = readJournal(config.dataDir);
  const loaded = await loadData(config.dataDir, logger, undefined, journaled.records);
  if (journaled.records.length > 0) logger.info(`replayed ${journaled.records.length} journal record(s) over the entity files`);
  for (const archived of loaded.archived) archive.add(archived);
  const seeded = missingDefaults(loaded.templates);
  const trimmed = store.load(loaded.projects, loaded.tasks, loaded.sessions, [...loaded.templates, ...seeded]);
  await archive.removeOrphans((kind, id) => store.has(kind, id));
  await removeOrphanManifests(config.dataDir, (id) => store.has('session', id), logger);
  // Each on a thread of its own: entity files, and the journal (whose fsync then never waits behind them).
  // A fault-injection seam (tests) replaces both with calls on libuv's threads.
  const threads = fs ? [] : [new FileThread('entity files'), new FileThread('journal')];
  const [fileThread, journalOps] = threads;
  // Except fsyncs: many at once on libuv's pool let the file system commit them together (a checkpoint's).
  const fileOps: FileOps | undefined = fileThread && { ...fileThread.ops(), sync: (path) => syncFolder(realFs, path) };
  const writer = new DiskWriter({
    dataDir: config.dataDir, debounceMs: config.writeDebounceMs, maxPending: config.maxPendingWrites, logger, fs, ops: fileOps,
    beforeWrite: (change) => archive.persist(change.kind, change.id),
    needCheckpoint: () => void journal.checkpoint(),
    concurrency: WRITER_CONCURRENCY,
    writeShare: WRITER_SHARE,
  });
  const journal: Journal = new Journal({
    dataDir: config.dataDir, logger, fs, ops: journalOps, checkpointMs: config.checkpointMs, maxBytes: config.journalMaxBytes,
    writer: { flush: () => writer.flushAll(), syncWritten: () => writer.syncWritten() },
    broadcast: (event) => hub.broadcast(event),
    restore: (change) => store.restore(change),
  }, journaled.nextFile, journaled.bytes);
  store.onArchive((archived) => journal.archived(archived));
  store.onChange((change, previous) => {
    if (change.entity === null) archive.drop(change.kind, change.id);
    writer.mark(change);
    journal.change(change, previous);
  });
  // Replayed first, trimmed after repair: the last mark of an entity is what is written.
  for (const change of [...loaded.replayed, ...loaded.repaired, ...trimmed]) writer.mark(change);
  const hub = new Hub({
    pingMs: config.wsPingMs, maxBufferBytes: config.wsMaxBufferBytes, logger,
    bufferCount: config.eventBuffer, bufferBytes: config.eventBufferBytes, maxClients: config.maxEventClients,
  });
  store.onChange((change) => {
    if (change.kind !== 'session' || change.entity !== null) return;
    removeManifest(config.dataDir, change.id).catch((err: Error) => logger.warn(`cannot remove the manifest of ${change.id}: ${err.message}`));
  });
  for (const template of seeded) writer.mark({ kind: 'template', id: template.id, entity: template });
  // Events reach clients only once the changes before them are durable, in order (SPEC §16).
  store.onEvent((event) => journal.event(event));
  const leaseFile = new LeaseFile({ dataDir: config.dataDir, debounceMs: config.writeDebounceMs, logger, fs, ids: () => leases.leasedIds() });
  const leases = attachLeases(store, {
    leaseMs: config.sessionLeaseMs, spawnTimeoutMs: config.spawnTimeoutMs, onLeasedChange: () => leaseFile.mark(),
  });
  // SPEC §10: nobody knows what happened while the server was down, so every leased session starts a fresh lease.
  leases.restore(await readLeasedIds(config.dataDir, logger));
  const released = releaseBrokenClaims(store);
  if (released > 0) logger.warn(`released ${released} claim(s) whose session had gone, ended or gone stale`);
  // Start-up's write-back (replay, repairs, templates, released claims) made durable; the journal keeps
  // every replayed record until it completes, so serving meanwhile is safe (and a stalled disk cannot stop the start).
  if (journaled.bytes > 0 || writer.pending > 0) void journal.checkpoint();
  journal.startTimer();
  leases.startTimer();

  const guard = guardOptions(config);
  let port = config.port;
  let stopping = false;
  const skills = new SkillsLibrary(config.skillsDir, logger);
  const services: Services = {
    store, config, logger, skills, hub, archive,
    serverUrl: () => config.serverUrlSet ? config.serverUrl : `http://localhost:${port}`,
    health: () => {
      const reason = journal.failure ?? writer.failing;
      return {
        status: reason ? 'degraded' : 'ok',
        ...(reason ? { reason } : {}),
        timestamp: Date.now(),
        uptime: Math.floor((Date.now() - startedAt) / 1000),
        pendingWrites: writer.pending,
        journalBytes: journal.bytes,
        lastCheckpointAt: journal.lastCheckpointAt,
      };
    },
  };

  const writes = new WriteGate(writer, journal);
  const handle = createHandler({
    router: buildRouter(), guard, services, bodyLimitBytes: config.bodyLimitBytes,
    runWrite: (change) => writes.run(change), stopping: () => stopping,
    idempotency: new IdempotencyCache({ maxKeys: config.idempotencyKeys }),
  });

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
    refuseOnSocket(socket, refusal, logger);
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
      hub.checkRoom();
    } catch (err) {
      refuseOnSocket(socket, err, logger);
      return;
    }
    hub.accept(req, socket, head);
  });

  port = await listen(server, config);

  async function stop(deadline = Date.now() + DEFAULT_SHUTDOWN_MS): Promise<{ unsaved: string[] }> {
    stopping = true;
    writes.close();
    leases.stopTimer();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await hub.close();
    // Changes already past the gate are answered with success: they must be in the flush.
    await writes.drained();
    const unsaved = await writer.close(deadline - CLOSE_RESERVE_MS);
    // The last checkpoint: every file durable, the journal emptied (if it fails, the journal still holds every change).
    if (!(await journal.close())) logger.warn('the last checkpoint failed; the journal keeps the changes for the next start');
    if (!(await leaseFile.flush())) unsaved.push(leaseFile.path);
    await Promise.all(threads.map((t) => t.close()));
    server.closeIdleConnections();
    const forced = setTimeout(() => server.closeAllConnections(), FORCE_CLOSE_AFTER_MS);
    await closed;
    clearTimeout(forced);
    await releaseLock();
    return { unsaved };
  }

  return { url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`, port, store, hub, writer, journal, stop,
    ioStuck: () => writer.stalled || skills.io.stuck || threads.some((t) => t.stuckFor(THREAD_STUCK_MS)) };
}
