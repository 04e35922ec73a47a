import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { syncFolder, writeFileAtomic } from './atomic.ts';
import { type FileSystem, realFs } from './fs.ts';
import { TMP_MARKER } from './paths.ts';

/**
 * SPEC §10: a restarted server gives every leased session a fresh lease, so which
 * sessions are leased must survive a restart. A lease renewal is not a change of
 * the session (no version, no event, no write), so the set lives in its own small
 * file, `DATA_DIR/leases.json` = `{"leased": [session ids]}`, rewritten (atomically,
 * debounced) only when a session becomes leased or stops being leased.
 */
export const LEASE_FILE = 'leases.json';

/** The leased ids written last; temporary files a crash left behind are removed. */
export async function readLeasedIds(dataDir: string, logger: Logger): Promise<string[]> {
  for (const name of await readdir(dataDir).catch(() => [] as string[])) {
    if (name.startsWith(`${LEASE_FILE}${TMP_MARKER}`)) await unlink(join(dataDir, name)).catch(() => {});
  }
  let text: string;
  try {
    text = await readFile(join(dataDir, LEASE_FILE), 'utf8');
  } catch {
    return [];
  }
  try {
    const leased: unknown = JSON.parse(text).leased;
    if (Array.isArray(leased)) return leased.filter((id): id is string => typeof id === 'string');
  } catch { /* reported below */ }
  logger.warn(`ignoring unreadable ${LEASE_FILE}: leased sessions start unleased`);
  return [];
}

export interface LeaseFileOptions {
  dataDir: string;
  debounceMs: number;
  logger: Logger;
  /** The leased session ids to write. */
  ids: () => string[];
  fs?: FileSystem;
}

export class LeaseFile {
  readonly path: string;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<boolean> = Promise.resolve(true);

  constructor(private readonly options: LeaseFileOptions) {
    this.path = join(options.dataDir, LEASE_FILE);
  }

  mark() {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => void this.flush(), this.options.debounceMs);
    this.timer.unref();
  }

  /** Writes the set if it changed; resolves `false` if that failed (it stays dirty and is retried on the next mark or flush). */
  flush(): Promise<boolean> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(() => this.write());
    return this.writing;
  }

  private async write(): Promise<boolean> {
    if (!this.dirty) return true;
    this.dirty = false;
    const fs = this.options.fs ?? realFs;
    try {
      await writeFileAtomic(fs, this.path, `${JSON.stringify({ leased: this.options.ids() })}\n`);
      await syncFolder(fs, this.options.dataDir);
      return true;
    } catch (err) {
      this.dirty = true;
      this.options.logger.error(`write failed for ${this.path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
      return false;
    }
  }
}
