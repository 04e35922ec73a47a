import { dirname } from 'node:path';
import { ApiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { EntityChange } from '../store/store.ts';
import { type FileOps, seamOps } from './file-ops.ts';
import { type FileSystem, realFs } from './fs.ts';
import { entityPath } from './paths.ts';

export interface WriterOptions {
  dataDir: string;
  debounceMs: number;
  maxPending: number;
  logger: Logger;
  /** Fault-injection seam (tests); without it and without `ops`, the real file system. */
  fs?: FileSystem;
  /** Where file operations run (the server gives a `FileThread`). */
  ops?: FileOps;
  /** Files written at once; the disk gains little past this. */
  concurrency?: number;
  /** How long a writer waits for room under the pending bound before 503 BUSY. */
  busyTimeoutMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  /** A flush with no file finished for this long is reported as stalled (health, forced exit). */
  stallMs?: number;
  /** Awaited before an entity's file is written: what must be durable first (its archive lines). */
  beforeWrite?: (change: EntityChange) => Promise<void>;
  /**
   * Journal mode (SPEC §16): files are written without an fsync each; `syncWritten`
   * (a checkpoint) makes them durable, and `needCheckpoint` is called at the bound.
   */
  needCheckpoint?: () => void;
  /**
   * Journal mode: the most of the time flushes may spend writing entity files. Their
   * changes are already durable in the journal, so under a stream of changes a flush that
   * took `t` is followed by the next one no sooner than `t × (1 / share − 1)` later: files
   * trail further behind and each is rewritten less often, instead of the rewrites taking
   * the CPU the answers need. The pending bound still forces a flush at once.
   */
  writeShare?: number;
}

const keyOf = (c: EntityChange) => `${c.kind}:${c.id}`;

/**
 * Turns store changes into files. A change marks its entity dirty; a debounced
 * flush writes each dirty entity once, however often it changed. The number of
 * changes not yet on disk is bounded: at the bound a flush starts at once and
 * writers wait (`waitForRoom`). A failed write is logged, kept dirty and retried.
 */
export class DiskWriter {
  private readonly dirty = new Map<string, EntityChange>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  private readonly knownFolders = new Set<string>();
  private failure: string | undefined;
  /** The last checkpoint fsync that failed, until one succeeds. */
  private syncFailure: string | undefined;
  private lastBatchFailed = false;
  private retryMs: number;
  private readonly ops: FileOps;
  private readonly o: Required<Omit<WriterOptions, 'fs' | 'ops' | 'beforeWrite' | 'needCheckpoint' | 'writeShare'>> & Pick<WriterOptions, 'beforeWrite' | 'needCheckpoint' | 'writeShare'>;
  /** Journal mode: entity files written or removed (by key) and folders touched since the last checkpoint. */
  private readonly unsynced = new Map<string, string>();
  private readonly unsyncedFolders = new Set<string>();
  /** Journal mode: entities changed and not yet in a checkpoint, each once (SPEC §16's pending count). */
  private readonly uncheckpointed = new Set<string>();
  /** Keys of the batch being written. */
  private readonly writing = new Set<string>();
  private closed = false;
  /** When the running flush last finished a file (or started). */
  private progressAt = Date.now();
  /** Journal mode: no debounced flush starts before this (epoch ms), see `writeShare`. */
  private nextFlushAt = 0;

  constructor(options: WriterOptions) {
    this.o = { concurrency: 16, busyTimeoutMs: 10_000, retryMinMs: 250, retryMaxMs: 5_000, stallMs: 5_000, ...options };
    this.ops = options.ops ?? seamOps(options.fs ?? realFs);
    this.retryMs = this.o.retryMinMs;
  }

  /** Changes answered but not yet durable in their entity files (journal mode: not yet checkpointed). */
  get pending(): number {
    return this.journaled ? this.uncheckpointed.size : this.dirty.size + this.writing.size;
  }

  private get journaled() {
    return this.o.needCheckpoint !== undefined;
  }

  /** `undefined` while writes succeed; the last error while they fail, or that they make no progress. */
  get failing(): string | undefined {
    if (this.stalled) return `no write has finished for ${Math.round((Date.now() - this.progressAt) / 1000)} s: the disk does not answer`;
    return this.failure ?? this.syncFailure;
  }

  /** A flush is running and has finished nothing for `stallMs`: its I/O is stuck. */
  get stalled(): boolean {
    return this.running !== undefined && Date.now() - this.progressAt > this.o.stallMs;
  }

  mark(change: EntityChange) {
    this.dirty.set(keyOf(change), change);
    if (this.journaled) this.uncheckpointed.add(keyOf(change));
    this.scheduleNext();
  }

  /**
   * At the bound, a flush at once (and in journal mode a checkpoint). In journal mode
   * that starts at three quarters of the bound, so checkpoints keep up with a stream of
   * new entities (each needs its file once: pacing saves nothing) before writers must wait.
   */
  private scheduleNext() {
    if (this.pending >= (this.journaled ? this.o.maxPending * 0.75 : this.o.maxPending)) this.full();
    else this.schedule(this.o.debounceMs);
  }

  private full() {
    this.schedule(0);
    this.o.needCheckpoint?.();
  }

  private schedule(delayMs: number) {
    if (this.closed || this.running) return;
    if (this.timer && delayMs > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs > 0 ? Math.max(delayMs, this.nextFlushAt - Date.now()) : 0);
    this.timer.unref?.();
  }

  /** Resolves at once under the bound; otherwise when a flush makes room, or 503 after the timeout. */
  waitForRoom(): Promise<void> {
    if (this.pending < this.o.maxPending) return Promise.resolve();
    this.full();
    return new Promise((resolve, reject) => {
      const timeout = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        reject(new ApiError(503, 'BUSY', 'Too many changes are waiting for the disk; retry shortly', undefined, {
          'Retry-After': '1',
        }));
      }, this.o.busyTimeoutMs);
      const wake = () => { clearTimeout(timeout); resolve(); };
      this.waiters.push(wake);
    });
  }

  private wakeWaiters() {
    while (this.waiters.length > 0 && this.pending < this.o.maxPending) this.waiters.shift()!();
  }

  /** `flush`, then whether every file it had to write was written. */
  async flushAll(): Promise<boolean> {
    await this.flush();
    return !this.lastBatchFailed;
  }

  /**
   * Journal mode, for a checkpoint: fsyncs every file written since the last call
   * (once each, however often it was rewritten) and their folders once each.
   */
  async syncWritten(): Promise<boolean> {
    // Taken out first: a file rewritten meanwhile is back in the set for the next checkpoint.
    const files = [...this.unsynced];
    const folders = [...this.unsyncedFolders];
    this.unsynced.clear();
    this.unsyncedFolders.clear();
    const synced: [string, string][] = [];
    const failedFolders = new Set<string>();
    let ok = true;
    await inParallel(files, this.o.concurrency, async ([key, path]) => {
      try {
        await this.ops.sync(path);
      } catch (error) {
        // A file removed since it was written: its removal is made durable with its folder.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          if (!this.unsynced.has(key)) this.unsynced.set(key, path);
          ok = this.syncFailed(path, error as NodeJS.ErrnoException);
          return;
        }
      }
      synced.push([key, path]);
    });
    await inParallel(folders, this.o.concurrency, (folder) => this.ops.sync(folder).catch((error: NodeJS.ErrnoException) => {
      this.unsyncedFolders.add(folder);
      failedFolders.add(folder);
      ok = this.syncFailed(folder, error);
    }));
    for (const [key, path] of synced) {
      // Its folder's fsync failed: the next checkpoint goes over it again.
      if (failedFolders.has(dirname(path))) {
        if (!this.unsynced.has(key)) this.unsynced.set(key, path);
      } else if (!this.dirty.has(key) && !this.writing.has(key) && !this.unsynced.has(key)) this.uncheckpointed.delete(key);
    }
    if (ok) this.syncFailure = undefined;
    this.wakeWaiters();
    return ok;
  }

  private syncFailed(path: string, error: NodeJS.ErrnoException): false {
    this.o.logger.error(`fsync failed for ${path}: ${error.message} (will retry)`);
    this.syncFailure = `fsync failed for ${path}: ${error.code ?? error.message}`;
    return false;
  }

  /** Writes everything dirty now; a flush already running is waited for, then another runs. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running) return this.running.then(() => (this.dirty.size > 0 ? this.flush() : undefined));
    if (this.dirty.size === 0) return Promise.resolve();
    const startedAt = this.progressAt = Date.now();
    this.running = this.writeBatch().finally(() => {
      this.running = undefined;
      if (this.o.writeShare) this.nextFlushAt = Date.now() + (Date.now() - startedAt) * (1 / this.o.writeShare - 1);
      if (this.dirty.size === 0) return;
      if (this.failure) this.schedule(this.retryMs);
      else this.scheduleNext();
    });
    return this.running;
  }

  private async writeBatch() {
    const batch = [...this.dirty.values()];
    this.dirty.clear();
    for (const change of batch) this.writing.add(keyOf(change));
    const folders = new Set<string>();
    const failed: { change: EntityChange; error: Error }[] = [];
    await inParallel(batch, this.o.concurrency, async (change) => {
      try {
        const path = await this.writeOne(change);
        folders.add(dirname(path));
        if (this.journaled) this.unsynced.set(keyOf(change), path);
      } catch (error) {
        // Back to dirty before it leaves `writing`, so it still counts as pending.
        if (!this.dirty.has(keyOf(change))) this.dirty.set(keyOf(change), change);
        failed.push({ change, error: error as Error });
      }
      this.writing.delete(keyOf(change));
      this.progressAt = Date.now();
      this.wakeWaiters();
    });
    if (this.journaled) for (const folder of folders) this.unsyncedFolders.add(folder);
    else for (const folder of folders) {
      await this.ops.sync(folder).catch((error: Error) => this.o.logger.warn(`fsync of folder ${folder} failed: ${error.message}`));
      this.progressAt = Date.now();
    }
    this.settle(failed);
  }

  /** Writes (or removes) the entity's file; its path. */
  private async writeOne(change: EntityChange): Promise<string> {
    const path = entityPath(this.o.dataDir, change.kind, change.id, change.projectId);
    const folder = dirname(path);
    if (change.entity === null) {
      await this.ops.remove(path);
      return path;
    }
    await this.o.beforeWrite?.(change);
    if (!this.knownFolders.has(folder)) {
      const made = await this.ops.mkdir(folder);
      if (made !== undefined) await this.syncNewFolders(made, folder);
      this.knownFolders.add(folder);
    }
    await this.ops.writeAtomic(path, JSON.stringify(change.entity, null, 2), !this.journaled);
    return path;
  }

  /**
   * A new folder's entry lives in its parent: without an fsync of the parent, a power
   * loss can take the folder and every file in it. `made` is the first folder mkdir
   * created; every parent from there down to `folder`'s is fsynced.
   */
  private async syncNewFolders(made: string, folder: string) {
    const parents = [];
    for (let dir = folder; dir !== made && dir !== dirname(dir); dir = dirname(dir)) parents.push(dirname(dir));
    parents.push(dirname(made));
    for (const dir of new Set(parents)) await this.ops.sync(dir);
  }

  /** Logs failures and keeps the health reason until a flush succeeds in full. */
  private settle(failed: { change: EntityChange; error: Error }[]) {
    this.lastBatchFailed = failed.length > 0;
    if (failed.length === 0) {
      if (this.failure) this.o.logger.info('writes to disk succeed again');
      this.failure = undefined;
      this.retryMs = this.o.retryMinMs;
      return;
    }
    for (const { change, error } of failed) {
      const path = entityPath(this.o.dataDir, change.kind, change.id, change.projectId);
      this.o.logger.error(`write failed for ${path}: ${error.message} (will retry)`);
      this.failure = `write failed for ${path}: ${(error as NodeJS.ErrnoException).code ?? error.message}`;
      this.knownFolders.delete(dirname(path));
    }
    this.retryMs = Math.min(this.retryMs * 2, this.o.retryMaxMs);
  }

  /**
   * For shutdown: flush until nothing is dirty or `deadline` (ms since epoch) passes.
   * Returns the paths of entities that could not be saved.
   */
  async close(deadline: number): Promise<string[]> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    while (this.dirty.size > 0 && Date.now() < deadline) {
      await this.flush();
      if (this.dirty.size > 0) {
        const pause = Math.min(this.o.retryMinMs, Math.max(0, deadline - Date.now()));
        await new Promise((r) => setTimeout(r, pause));
      }
    }
    return [...this.dirty.values()].map((c) => entityPath(this.o.dataDir, c.kind, c.id, c.projectId));
  }
}

/** Runs `one` over `items`, at most `concurrency` at once. */
async function inParallel<T>(items: T[], concurrency: number, one: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => { while (next < items.length) await one(items[next++]); };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
