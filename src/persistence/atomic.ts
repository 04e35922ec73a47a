import { basename, dirname, join } from 'node:path';
import type { FileSystem } from './fs.ts';
import { TMP_MARKER } from './paths.ts';

/**
 * Write a temporary file beside the target, fsync it, rename it over the target.
 * A crash leaves the old file or the new one, never a torn one. The folder still
 * needs an fsync (`syncFolder`) for the rename itself to survive power loss;
 * callers batch that, one per folder per flush.
 */
// One writer per data folder (the lock file), and never two writes of one entity
// at once, so a counter is enough to keep temporary names apart.
let tmpCounter = 0;

/** A fresh temporary name beside `path` (removed at start if a crash leaves it). */
export const tempPathFor = (path: string) =>
  join(dirname(path), `${basename(path)}${TMP_MARKER}${process.pid}-${(tmpCounter++).toString(36)}`);

/** `sync` false: the caller makes the file durable later (a journal checkpoint). */
export async function writeFileAtomic(fs: FileSystem, path: string, data: string, sync = true): Promise<void> {
  const tmp = tempPathFor(path);
  const handle = await fs.open(tmp, 'w', 0o644);
  try {
    await handle.writeFile(data);
    if (sync) await handle.sync();
  } catch (err) {
    await handle.close().catch(() => {});
    await fs.unlink(tmp).catch(() => {});
    throw err;
  }
  await handle.close();
  try {
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.unlink(tmp).catch(() => {});
    throw err;
  }
}

/** fsync of a file or folder by path. */
export async function syncFolder(fs: FileSystem, dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Remove a file; one that is already gone is fine. */
export async function removeFile(fs: FileSystem, path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
