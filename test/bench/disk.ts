import { mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * How many small files a second this disk creates durably, the way the server's
 * writer did before the journal: 16 at a time, each a temp file written, fsynced,
 * renamed over its name, and one fsync of the folder per batch of 256. `sync` false:
 * the same without the fsyncs, the most any server writing a file per entity can create.
 */
export async function durableFilesPerSecond(dir: string, seconds: number, size = 900, sync = true): Promise<number> {
  await mkdir(dir, { recursive: true });
  const data = 'x'.repeat(size);
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let written = 0;
  while (performance.now() < until) {
    let next = 0;
    const batch = 256;
    const worker = async () => {
      while (next < batch) {
        const name = join(dir, `f${written + next++}.json`);
        const handle = await open(`${name}.tmp`, 'w');
        await handle.writeFile(data);
        if (sync) await handle.sync();
        await handle.close();
        await rename(`${name}.tmp`, name);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    if (sync) {
      const folder = await open(dir, 'r');
      await folder.sync();
      await folder.close();
    }
    written += batch;
  }
  return written / ((performance.now() - t0) / 1000);
}
