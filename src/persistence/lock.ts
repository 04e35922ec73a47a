import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { LOCK_FILE } from './paths.ts';

export class LockError extends Error {}

/** Folders locked by this process: a second server in the same process is refused too. */
const heldHere = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One server per data folder: `DATA_DIR/.lock` holds the owner's pid. A lock whose
 * process is gone is taken over. Returns the release function.
 */
export async function acquireLock(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, LOCK_FILE);
  if (heldHere.has(path)) throw new LockError(`data folder ${dataDir} is already in use by this process`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o644);
      await handle.writeFile(`${process.pid}\n`);
      await handle.sync();
      await handle.close();
      heldHere.add(path);
      return async () => {
        heldHere.delete(path);
        await unlink(path).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new LockError(`data folder ${dataDir} is in use by another maestro-server (pid ${pid})`);
    }
    await unlink(path).catch(() => {});
  }
  throw new LockError(`could not take the lock ${path}`);
}
