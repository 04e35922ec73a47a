import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { ApiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type ArchivedEntries, type EntityChange, toJson } from '../store/store.ts';
import type { Entity, EntityKind, StoreEvent } from '../types.ts';
import { type FileOps, seamOps } from './file-ops.ts';
import { type FileSystem, realFs } from './fs.ts';

export const JOURNAL_FOLDER = 'journal';

/** One replayable record: an entity's whole new state (null: deleted), or entries cut to its archive. */
export type JournalRecord =
  | { kind: EntityKind; id: string; projectId?: string; entity: Entity | null }
  | { archived: ArchivedEntries };

/** What a checkpoint needs of the entity-file writer. */
export interface CheckpointWriter {
  /** Writes every dirty entity file (no fsync each); true if all succeeded. */
  flush(): Promise<boolean>;
  /** fsyncs every file written since the last call, and their folders once each; true if all succeeded. */
  syncWritten(): Promise<boolean>;
}

export interface JournalOptions {
  dataDir: string;
  logger: Logger;
  writer: CheckpointWriter;
  /** Events are handed on only once the records before them are durable, in order. */
  broadcast: (event: StoreEvent) => void;
  /** Puts an entity back as it was (rollback of a change that could not be made durable). */
  restore: (change: EntityChange) => void;
  checkpointMs: number;
  maxBytes: number;
  /** Fault-injection seam (tests); without it and without `ops`, the real file system. */
  fs?: FileSystem;
  /** Where appends run (the server gives the journal a `FileThread` of its own). */
  ops?: FileOps;
  retryMinMs?: number;
  retryMaxMs?: number;
}

interface Pending {
  seq: number;
  line: string;
  /** The state before the change, to roll it back; absent for rollbacks themselves (they must reach the disk). */
  undo?: EntityChange;
}

interface Waiter { seq: number; resolve: () => void; reject: (err: Error) => void }

/** CRC-32 finds a torn or garbled line as well as a hash would, at a tenth of SHA-256's cost. */
const checksum = (json: string) => crc32(json).toString(16).padStart(8, '0');
/** The format before CRC-32: a journal a crash left under it must still replay. */
const sha256Checksum = (json: string) => createHash('sha256').update(json).digest('hex').slice(0, 16);
const checksumOk = (line: string, space: number, json: string) =>
  (space === 8 && checksum(json) === line.slice(0, 8)) || (space === 16 && sha256Checksum(json) === line.slice(0, 16));
/**
 * One journal line: the CRC-32 of the JSON in 8 hex digits, a space, the JSON. An entity's JSON is
 * passed in already made (`toJson`, cached per entity version and shared with the
 * broadcast), so a change is serialised once, not once more for the journal.
 */
export const journalLine = (body: object, entityJson?: string) => {
  const head = JSON.stringify(body);
  const json = entityJson === undefined ? head : `${head.slice(0, -1)},"e":${entityJson}}`;
  return `${checksum(json)} ${json}\n`;
};
const fileName = (n: number) => `${String(n).padStart(8, '0')}.log`;
const fileNumbers = (dir: string) => readdirSync(dir)
  .filter((name) => /^\d{8}\.log$/.test(name)).map((name) => Number(name.slice(0, 8))).sort((a, b) => a - b);

export const journalBusy = (reason: string) => new ApiError(503, 'BUSY',
  `The change could not be made durable (${reason}); nothing was changed, retry shortly`, undefined, { 'Retry-After': '1' });

/**
 * The records of one file that a commit line closes, in order. Stops at the first
 * line whose checksum fails or that is cut off: an append that never finished, so
 * never answered. Records after the last commit line belong to no finished group.
 */
export function parseJournal(text: string): JournalRecord[] {
  const out: JournalRecord[] = [];
  let group: JournalRecord[] = [];
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    const json = line.slice(space + 1);
    if (!checksumOk(line, space, json)) break;
    const body = JSON.parse(json) as { c?: number; k?: EntityKind; i: string; p?: string; e?: Entity | null; a?: ArchivedEntries };
    if (body.c !== undefined) {
      out.push(...group);
      group = [];
    } else if (body.a) group.push({ archived: body.a });
    else group.push({ kind: body.k!, id: body.i, ...(body.p ? { projectId: body.p } : {}), entity: body.e ?? null });
  }
  return out;
}

/** Every finished record in `DATA_DIR/journal/`, oldest file first; and the number the next file takes. */
export function readJournal(dataDir: string): { records: JournalRecord[]; nextFile: number; bytes: number } {
  const dir = join(dataDir, JOURNAL_FOLDER);
  let numbers: number[] = [];
  try {
    numbers = fileNumbers(dir);
  } catch {
    return { records: [], nextFile: 1, bytes: 0 };
  }
  let bytes = 0;
  const records = numbers.flatMap((n) => {
    const text = readFileSync(join(dir, fileName(n)), 'utf8');
    bytes += Buffer.byteLength(text);
    return parseJournal(text);
  });
  return { records, nextFile: (numbers.at(-1) ?? 0) + 1, bytes };
}

/**
 * SPEC §16. Every store change becomes one record; the records that arrive while one
 * append-and-fsync runs go together into the next (group commit). Writers are answered
 * and events handed on only once their records are durable. A failed append rolls back
 * every change not yet durable (503 to their writers, no events). A checkpoint makes the
 * entity files durable and deletes the journal files they cover.
 */
export class Journal {
  private seq = 0;
  private durableSeq = 0;
  /** The newest sequence number a failure rolled back. */
  private rolledBack = 0;
  private queue: Pending[] = [];
  private held: { seq: number; event: StoreEvent }[] = [];
  private waiters: Waiter[] = [];
  /** The journal file appends go to, once opened. */
  private current: string | undefined;
  private fileBytes = 0;
  private oldBytes = 0;
  private committing = false;
  private restoring = false;
  private exclusive: Promise<unknown> = Promise.resolve();
  private checkpointing: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private quietTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private changedSinceCheckpoint = false;
  private closed = false;
  private readonly ops: FileOps;
  private readonly dir: string;
  /** Why the last append failed; cleared by the next that succeeds. */
  failure: string | undefined;
  lastCheckpointAt: number | null = null;

  constructor(private readonly o: JournalOptions, private file: number, existingBytes = 0) {
    this.ops = o.ops ?? seamOps(o.fs ?? realFs);
    this.dir = join(o.dataDir, JOURNAL_FOLDER);
    this.oldBytes = existingBytes;
    this.retryMs = o.retryMinMs ?? 250;
  }

  /** Bytes in every journal file not yet deleted by a checkpoint. */
  get bytes(): number {
    return this.oldBytes + this.fileBytes;
  }

  /** The sequence number of the newest change; `durable(seq)` waits for it. */
  get lastSeq(): number {
    return this.seq;
  }

  /**
   * A checkpoint every `checkpointMs`, and one once changes pause for a tenth of it:
   * files are durable and the pending count back to zero before the next burst or a
   * shutdown needs them to be, at no cost while changes keep coming.
   */
  startTimer() {
    const ifChanged = () => {
      if (this.changedSinceCheckpoint) void this.checkpoint();
    };
    this.timer = setInterval(ifChanged, this.o.checkpointMs);
    this.timer.unref?.();
    this.quietTimer = setTimeout(ifChanged, this.o.checkpointMs / 10);
    this.quietTimer.unref?.();
  }

  /** A store change (`previous`: the entity before it, for a rollback). */
  change(change: EntityChange, previous: Entity | undefined) {
    const { kind, id, projectId, entity } = change;
    const undo: EntityChange | undefined = this.restoring ? undefined : { kind, id, ...(projectId ? { projectId } : {}), entity: previous ?? null };
    this.push({ k: kind, i: id, ...(projectId ? { p: projectId } : {}) }, undo, entity === null ? 'null' : toJson(entity));
  }

  /** Entries cut from a bounded list: replayed into the archive if the crash came before it was written. */
  archived(archived: ArchivedEntries) {
    this.push({ a: archived }, undefined);
  }

  private push(body: object, undo: EntityChange | undefined, entityJson?: string) {
    const seq = ++this.seq;
    this.queue.push({ seq, line: journalLine({ s: seq, ...body }, entityJson), ...(undo ? { undo } : {}) });
    this.changedSinceCheckpoint = true;
    this.quietTimer?.refresh();
    if (!this.committing) setImmediate(() => this.commit());
  }

  /** A store event: handed on now if nothing before it waits for the disk, else after its commit. */
  event(event: StoreEvent) {
    if (this.held.length === 0 && this.seq <= this.durableSeq) this.o.broadcast(event);
    else this.held.push({ seq: this.seq, event });
  }

  /**
   * For a writer whose changes came after `from` (the `lastSeq` before it ran): resolves
   * once they are durable; a 503 if they could not be made so (they were rolled back).
   */
  durable(from: number): Promise<void> {
    const seq = this.seq;
    if (seq === from) return Promise.resolve();
    if (this.rolledBack > from) return Promise.reject(journalBusy(this.failure ?? 'a rollback'));
    if (seq <= this.durableSeq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      if (!this.committing) setImmediate(() => this.commit());
    });
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.exclusive.then(fn, fn);
    this.exclusive = run.catch(() => {});
    return run;
  }

  private async commit() {
    if (this.committing || this.queue.length === 0) return;
    this.committing = true;
    try {
      while (this.queue.length > 0 && !(await this.locked(() => this.writeGroup()))) { /* next group */ }
    } finally {
      this.committing = false;
    }
  }

  /** Appends and fsyncs every queued record as one group; false to go on, true to stop (a failure). */
  private async writeGroup(): Promise<boolean> {
    const group = this.queue.splice(0);
    if (group.length === 0) return false;
    const last = group[group.length - 1].seq;
    const text = group.map((r) => r.line).join('') + journalLine({ c: last });
    try {
      // The first append to a file also fsyncs the folder: a power loss could take a new file's name.
      this.current = join(this.dir, fileName(this.file));
      await this.ops.append(this.current, text);
    } catch (err) {
      this.fail(group, err as NodeJS.ErrnoException);
      return true;
    }
    this.fileBytes += Buffer.byteLength(text);
    this.durableSeq = last;
    if (this.failure) this.o.logger.info('journal appends succeed again');
    this.failure = undefined;
    this.retryMs = this.o.retryMinMs ?? 250;
    this.settle(last);
    if (this.fileBytes > this.o.maxBytes) void this.checkpoint();
    return false;
  }

  /** Closes the file appends went to; the next append opens the current number's file. */
  private async release() {
    const path = this.current;
    this.current = undefined;
    if (path) await this.ops.release(path).catch(() => {});
  }

  private settle(upTo: number) {
    while (this.held.length > 0 && this.held[0].seq <= upTo) this.o.broadcast(this.held.shift()!.event);
    const [done, waiting] = [this.waiters.filter((w) => w.seq <= upTo), this.waiters.filter((w) => w.seq > upTo)];
    this.waiters = waiting;
    for (const w of done) w.resolve();
  }

  /**
   * Every change not yet durable is rolled back, newest first, and its writer gets
   * 503; the rollbacks are journaled themselves (first in a new file), so a replay of
   * a group that reached the disk after all ends in the state the writers were told.
   */
  private fail(group: Pending[], err: NodeJS.ErrnoException) {
    const path = join(this.dir, fileName(this.file));
    this.failure = `journal append failed for ${path}: ${err.code ?? err.message}`;
    this.o.logger.error(`${this.failure} (changes rolled back; will retry)`);
    void this.release();
    this.oldBytes += this.fileBytes;
    this.fileBytes = 0;
    this.file++;
    const all = [...group, ...this.queue];
    this.queue = all.filter((r) => !r.undo);
    this.rolledBack = this.seq;
    this.restoring = true;
    try {
      for (const r of all.filter((p) => p.undo).reverse()) this.o.restore(r.undo!);
    } finally {
      this.restoring = false;
    }
    this.held = [];
    const rejected = this.waiters;
    this.waiters = [];
    for (const w of rejected) w.reject(journalBusy(err.code ?? err.message));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.commit(), this.retryMs);
    this.retryTimer.unref?.();
    this.retryMs = Math.min(this.retryMs * 2, this.o.retryMaxMs ?? 5000);
  }

  /**
   * Makes the entity files durable and deletes the journal files they cover: a new
   * journal file takes the records from here on, every entity file is written and
   * fsynced (each once, however often it changed), then the older journal files go.
   * Returns whether it completed (a failed write keeps the old files for the next one).
   */
  checkpoint(): Promise<boolean> {
    this.checkpointing ??= this.runCheckpoint().finally(() => { this.checkpointing = undefined; });
    return this.checkpointing;
  }

  private async runCheckpoint(): Promise<boolean> {
    this.changedSinceCheckpoint = false;
    const covered = await this.locked(async () => {
      await this.release();
      this.oldBytes += this.fileBytes;
      this.fileBytes = 0;
      return this.file++;
    });
    if (!(await this.o.writer.flush()) || !(await this.o.writer.syncWritten())) {
      this.changedSinceCheckpoint = true;
      return false;
    }
    try {
      for (const n of fileNumbers(this.dir).filter((n) => n <= covered)) await this.ops.remove(join(this.dir, fileName(n)));
      await this.ops.sync(this.dir);
    } catch (err) {
      this.o.logger.warn(`cannot remove old journal files: ${(err as Error).message}`);
      return false;
    }
    this.oldBytes = 0;
    this.lastCheckpointAt = Date.now();
    return true;
  }

  /** For shutdown: waits for appends in progress, then a last checkpoint. */
  async close(): Promise<boolean> {
    if (this.closed) return true;
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.quietTimer);
    clearTimeout(this.retryTimer);
    await this.commit();
    await this.checkpointing;
    const done = await this.checkpoint();
    await this.locked(() => this.release());
    return done;
  }
}
