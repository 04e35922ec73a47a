import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { LOCK_FILE } from './paths.ts';

export class LockError extends Error {}

/** Folders locked by this process: a second server in the same process is refused too. */
const heldHere = new Set<string>();

/** A takeover marker older than this was left by a starter that died mid-takeover. */
const ABANDONED_TAKEOVER_MS = 10_000;
const ATTEMPTS = 50;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const code = (err: unknown) => (err as NodeJS.ErrnoException).code;
const readText = (path: string) => readFile(path, 'utf8').catch(() => null);

/** A live pid other than ours, or undefined when the text names none (a lock left behind). */
function livePid(text: string | null): number | undefined {
  const pid = Number.parseInt(text ?? '', 10);
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid) ? pid : undefined;
}

/** Our lock's content, complete and on disk before it is linked into place: never seen empty. */
async function writeCandidate(path: string): Promise<string> {
  const candidate = `${path}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  const handle = await open(candidate, 'wx', 0o644);
  try {
    await handle.writeFile(`${process.pid}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return candidate;
}

/**
 * Replaces a stale lock whose content was `staleText`, if no other starter does it
 * first. The takeover marker (created with `link`, so one starter has it) makes
 * the check-then-replace a single step; the winner re-reads the lock under it.
 */
async function takeOver(path: string, candidate: string, staleText: string | null): Promise<boolean> {
  const marker = `${path}.takeover`;
  try {
    await link(candidate, marker);
  } catch (err) {
    if (code(err) !== 'EEXIST') throw err;
    const age = await stat(marker).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > ABANDONED_TAKEOVER_MS && livePid(await readText(marker)) === undefined) await unlink(marker).catch(() => {});
    return false;
  }
  try {
    if ((await readText(path)) !== staleText) return false;
    await rename(candidate, path);
    return true;
  } finally {
    await unlink(marker).catch(() => {});
  }
}

const inUse = (dataDir: string, path: string, pid: number) => new LockError(
  `data folder ${dataDir} is locked by pid ${pid}, which is running but may not be a maestro-server; `
  + `if no server uses this folder, delete ${path}`);

/**
 * One server per data folder: `DATA_DIR/.lock` holds the owner's pid. Taking it is
 * atomic (`link` of a complete file), and so is taking over a lock whose process
 * is gone: of any number of starters, exactly one wins. Returns the release function.
 */
export async function acquireLock(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, LOCK_FILE);
  if (heldHere.has(path)) throw new LockError(`data folder ${dataDir} is already in use by this process`);
  const candidate = await writeCandidate(path);
  try {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        await link(candidate, path);
        return held(path);
      } catch (err) {
        if (code(err) !== 'EEXIST') throw err;
      }
      const text = await readText(path);
      const pid = livePid(text);
      if (pid !== undefined) throw inUse(dataDir, path, pid);
      if (text !== null && await takeOver(path, candidate, text)) return held(path);
      await sleep(5 + Math.random() * 20);
    }
    throw new LockError(`could not take the lock ${path}: other starters keep changing it`);
  } finally {
    await unlink(candidate).catch(() => {});
  }
}

function held(path: string): () => Promise<void> {
  heldHere.add(path);
  return async () => {
    heldHere.delete(path);
    await unlink(path).catch(() => {});
  };
}
