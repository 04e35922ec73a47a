import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { removeFile, syncFolder, writeFileAtomic } from './atomic.ts';
import type { FileSystem } from './fs.ts';

/**
 * The whole file operations the writer and the journal make, each one call: run on
 * their own thread in the server (`FileThread`), or over the `FileSystem` seam
 * (`seamOps`) where tests inject faults.
 */
export interface FileOps {
  /** Temp file, (fsync if `sync`), rename over `path`. */
  writeAtomic(path: string, data: string, sync: boolean): Promise<void>;
  /** fsync of a file or folder. */
  sync(path: string): Promise<void>;
  /** Unlink; a file already gone is fine. */
  remove(path: string): Promise<void>;
  /** `mkdir -p`; the first folder it made, if any. */
  mkdir(path: string): Promise<string | undefined>;
  /**
   * Appends `data` to `path` and fdatasyncs it. The file stays open for the next
   * append; the first append to a path fsyncs its folder (a new file's name lives there).
   */
  append(path: string, data: string): Promise<void>;
  /** Closes what `append` keeps open for `path`. */
  release(path: string): Promise<void>;
}

/** `FileOps` over a `FileSystem`, on libuv's threads. */
export function seamOps(fs: FileSystem): FileOps {
  const open = new Map<string, Promise<FileHandle>>();
  const handleFor = (path: string) => {
    let handle = open.get(path);
    if (!handle) {
      handle = (async () => {
        const h = await fs.open(path, 'a', 0o644);
        await syncFolder(fs, dirname(path)).catch(async (err) => { await h.close(); throw err; });
        return h;
      })();
      handle.catch(() => open.delete(path));
      open.set(path, handle);
    }
    return handle;
  };
  return {
    writeAtomic: (path, data, sync) => writeFileAtomic(fs, path, data, sync),
    sync: (path) => syncFolder(fs, path),
    remove: (path) => removeFile(fs, path),
    mkdir: (path) => fs.mkdir(path, { recursive: true }),
    append: async (path, data) => {
      const handle = await handleFor(path);
      await handle.appendFile(data);
      await handle.datasync();
    },
    release: async (path) => {
      const handle = open.get(path);
      open.delete(path);
      await (await handle?.catch(() => undefined))?.close().catch(() => {});
    },
  };
}
