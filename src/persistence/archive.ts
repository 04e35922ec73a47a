import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { validationError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ArchivedEntries, HistoryEntry, HistoryField, HistoryKind } from '../store/store.ts';
import { HISTORY_FIELDS } from '../store/store.ts';
import { removeFile, syncFolder } from './atomic.ts';
import { type FileSystem, realFs } from './fs.ts';

export const ARCHIVE_FOLDER = 'archive';
const KIND_FOLDERS = { task: 'tasks', session: 'sessions' } as const satisfies Record<HistoryKind, string>;
const FILE_NAME = /^([A-Za-z0-9_-]{1,128})\.(timeline|events)\.jsonl$/;
const NEWLINE = 0x0a;
/** Bytes read at a time when reading an archive backwards. */
const CHUNK_BYTES = 64 * 1024;

/** `archive/tasks/<id>.timeline.jsonl`, `archive/sessions/<id>.timeline.jsonl`, `archive/sessions/<id>.events.jsonl`. */
export function archivePath(dataDir: string, kind: HistoryKind, id: string, field: HistoryField): string {
  return join(dataDir, ARCHIVE_FOLDER, KIND_FOLDERS[kind], `${id}.${field}.jsonl`);
}

export interface Page { items: HistoryEntry[]; next: string | null }

/** One archive file's entries not yet on disk, and its chain of file operations (one at a time). */
interface FileState {
  queued: HistoryEntry[];
  inFlight: HistoryEntry[];
  tail: Promise<void>;
  ops: number;
}

const newState = (tail: Promise<void> = Promise.resolve()): FileState => ({ queued: [], inFlight: [], tail, ops: 0 });

/**
 * The append-only history files (SPEC §7 Archive). Entries leaving an entity's
 * bounded list are queued here at once (`add`), in memory, and appended to their
 * file, fsynced, by `persist`, which the writer awaits before writing the entity
 * file that no longer holds them. Readers page through memory first, then the
 * queue, then the file read backwards; an id seen once is skipped after, so lines
 * a crash repeated (appended, entity file not yet replaced) never show twice.
 */
export class Archive {
  private readonly files = new Map<string, FileState>();
  private readonly readyFolders = new Set<string>();
  private readonly fs: FileSystem;

  constructor(private readonly o: { dataDir: string; logger: Logger; fs?: FileSystem }) {
    this.fs = o.fs ?? realFs;
  }

  private pathsOf(kind: HistoryKind, id: string): string[] {
    return (HISTORY_FIELDS[kind] as readonly HistoryField[]).map((field) => archivePath(this.o.dataDir, kind, id, field));
  }

  /** Queues entries that left an entity (oldest first); nothing is written yet. */
  add(archived: ArchivedEntries) {
    const path = archivePath(this.o.dataDir, archived.kind, archived.id, archived.field);
    let state = this.files.get(path);
    if (!state) this.files.set(path, (state = newState()));
    state.queued.push(...archived.entries);
  }

  /** Appends, durably, everything queued for the entity; rejects (and keeps the queue) on failure. */
  async persist(kind: string, id: string): Promise<void> {
    if (kind !== 'task' && kind !== 'session') return;
    // A file with an operation still running is waited for too: its entries may be in it.
    const busy = this.pathsOf(kind, id).filter((path) => this.files.has(path));
    await Promise.all(busy.map((path) => this.chain(path, this.files.get(path)!, (state) => this.appendQueued(path, state))));
  }

  /** The entity is gone: its queued entries are dropped and its files removed (after any write in progress). */
  drop(kind: string, id: string) {
    if (kind !== 'task' && kind !== 'session') return;
    for (const path of this.pathsOf(kind, id)) {
      const state = newState(this.files.get(path)?.tail);
      this.files.set(path, state);
      this.chain(path, state, () => removeFile(this.fs, path))
        .catch((error: Error) => this.o.logger.warn(`could not remove archive ${path}: ${error.message}`));
    }
  }

  /** Runs `op` after the file's previous operations, whatever they gave; forgets an idle file. */
  private chain(path: string, state: FileState, op: (state: FileState) => Promise<void>): Promise<void> {
    state.ops++;
    const run = state.tail.then(() => op(state));
    // The tail never rejects: a failure belongs to the caller of its operation, and the next one still runs.
    state.tail = run.catch(() => {}).then(() => {
      state.ops--;
      if (state.ops === 0 && state.queued.length === 0 && this.files.get(path) === state) this.files.delete(path);
    });
    return run;
  }

  private async appendQueued(path: string, state: FileState) {
    if (state.queued.length === 0) return;
    state.inFlight = state.queued;
    state.queued = [];
    try {
      await this.append(path, `${state.inFlight.map((e) => JSON.stringify(e)).join('\n')}\n`);
    } catch (error) {
      state.queued = [...state.inFlight, ...state.queued];
      throw error;
    } finally {
      state.inFlight = [];
    }
  }

  private async append(path: string, text: string) {
    const folder = dirname(path);
    await this.ensureFolder(folder);
    const handle = await this.fs.open(path, 'a+', 0o644).catch((error: Error) => {
      this.readyFolders.delete(folder); // it may have been removed: make it again next time
      throw error;
    });
    let created: boolean;
    try {
      const { size } = await handle.stat();
      created = size === 0;
      // A torn last line (a crash, a failed append) must not swallow the first new one.
      let data = text;
      if (size > 0) {
        const last = Buffer.alloc(1);
        await handle.read(last, 0, 1, size - 1);
        if (last[0] !== NEWLINE) data = `\n${text}`;
      }
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (created) await syncFolder(this.fs, folder);
  }

  /** `archive/` and `archive/<kind>/`, each created with an fsync of its parent so the new folder survives power loss. */
  private async ensureFolder(folder: string) {
    if (this.readyFolders.has(folder)) return;
    for (const dir of [dirname(folder), folder]) {
      try {
        await this.fs.mkdir(dir);
        await syncFolder(this.fs, dirname(dir));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    this.readyFolders.add(folder);
  }

  /**
   * One page of an entity's whole history, newest first: `current` (the entity's
   * bounded list), then entries queued for the file, then the file from its end.
   */
  async page(kind: HistoryKind, id: string, field: HistoryField, current: readonly HistoryEntry[], limit: number, before?: string): Promise<Page> {
    const path = archivePath(this.o.dataDir, kind, id, field);
    const state = this.files.get(path);
    const inMemory = [...state?.inFlight ?? [], ...state?.queued ?? [], ...current];
    // A removal of an older entity's file with this name must be over before the file is read.
    await state?.tail;
    return pageOf(newestFirst(inMemory, readBackwards(this.fs, path)), limit, before);
  }

  /** At start: archives of entities that do not exist (a crash between deleting the entity and its archive) are removed. */
  async removeOrphans(exists: (kind: HistoryKind, id: string) => boolean) {
    for (const kind of Object.keys(KIND_FOLDERS) as HistoryKind[]) {
      const folder = join(this.o.dataDir, ARCHIVE_FOLDER, KIND_FOLDERS[kind]);
      for (const name of await readdir(folder).catch(() => [] as string[])) {
        const match = FILE_NAME.exec(name);
        if (!match || exists(kind, match[1])) continue;
        this.o.logger.info(`removing the archive of deleted ${kind} ${match[1]}: ${join(folder, name)}`);
        await removeFile(this.fs, join(folder, name));
      }
    }
  }
}

/** Entries in memory (oldest first) newest first, then those the file yields. */
async function* newestFirst(inMemory: readonly HistoryEntry[], fromFile: AsyncIterable<HistoryEntry>): AsyncGenerator<HistoryEntry> {
  for (let i = inMemory.length - 1; i >= 0; i--) yield inMemory[i];
  yield* fromFile;
}

/** `limit` distinct entries after the one with id `before` (or from the newest); `next` when more exist. */
export async function pageOf(entries: AsyncIterable<HistoryEntry>, limit: number, before?: string): Promise<Page> {
  const seen = new Set<string>();
  let started = before === undefined;
  const items: HistoryEntry[] = [];
  for await (const entry of entries) {
    if (seen.has(entry.id)) continue;
    seen.add(entry.id);
    if (!started) {
      started = entry.id === before;
      continue;
    }
    if (items.length === limit) return { items, next: items[limit - 1].id };
    items.push(entry);
  }
  if (!started) throw validationError(`before names no entry of this history: ${before}`, { fields: [{ field: 'before', message: 'not an entry id of this history' }] });
  return { items, next: null };
}

/** The entries of a JSON-lines file, last line first; lines that are not an entry (torn, empty) are skipped. */
export async function* readBackwards(fs: FileSystem, path: string): AsyncGenerator<HistoryEntry> {
  for await (const line of linesBackwards(fs, path)) {
    const entry = parseEntry(line);
    if (entry) yield entry;
  }
}

function parseEntry(line: string): HistoryEntry | undefined {
  if (line.length === 0) return undefined;
  try {
    const value = JSON.parse(line) as unknown;
    if (typeof value === 'object' && value !== null && typeof (value as HistoryEntry).id === 'string') return value as HistoryEntry;
  } catch { /* a torn line */ }
  return undefined;
}

/** Lines of a file from its end, read a chunk at a time; no file is no lines. */
export async function* linesBackwards(fs: FileSystem, path: string): AsyncGenerator<string> {
  let handle;
  try {
    handle = await fs.open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    let position = (await handle.stat()).size;
    let carry = Buffer.alloc(0);
    while (position > 0) {
      const size = Math.min(CHUNK_BYTES, position);
      position -= size;
      const chunk = Buffer.alloc(size);
      let got = 0;
      while (got < size) {
        const { bytesRead } = await handle.read(chunk, got, size - got, position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      // A newline byte never occurs inside a multi-byte UTF-8 character, so splitting bytes is safe.
      const buffer = carry.length > 0 ? Buffer.concat([chunk, carry]) : chunk;
      let end = buffer.length;
      while (end > 0) {
        const i = buffer.lastIndexOf(NEWLINE, end - 1);
        if (i < 0) break;
        yield buffer.toString('utf8', i + 1, end);
        end = i;
      }
      carry = Buffer.from(buffer.subarray(0, end));
    }
    if (carry.length > 0) yield carry.toString('utf8');
  } finally {
    await handle.close();
  }
}
