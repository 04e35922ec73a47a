import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { removeFile, syncFolder, writeFileAtomic } from './atomic.ts';
import { realFs } from './fs.ts';
import { MANIFEST_FOLDER, TMP_MARKER } from './paths.ts';

/**
 * Spawn manifests (SPEC §5): `DATA_DIR/manifests/<sessionId>.json`, the file the
 * original CLI's `maestro worker init` reads. Not entities: written once,
 * durably, before the spawn is answered; removed with their session.
 */

export const manifestPath = (dataDir: string, sessionId: string) => join(dataDir, MANIFEST_FOLDER, `${sessionId}.json`);

/** Temp file, fsync, rename, folder fsync; a new folder's parent is fsynced too. */
export async function writeManifest(dataDir: string, sessionId: string, manifest: object): Promise<string> {
  const folder = join(dataDir, MANIFEST_FOLDER);
  const created = await realFs.mkdir(folder, { recursive: true });
  if (created !== undefined) await syncFolder(realFs, dataDir);
  const path = manifestPath(dataDir, sessionId);
  await writeFileAtomic(realFs, path, `${JSON.stringify(manifest, null, 2)}\n`);
  await syncFolder(realFs, folder);
  return path;
}

export function removeManifest(dataDir: string, sessionId: string): Promise<void> {
  return removeFile(realFs, manifestPath(dataDir, sessionId));
}

/**
 * At start: manifests whose session is gone (a crash between deleting a session
 * and its manifest, or between writing a manifest and its session) are removed,
 * and so are leftover temporary files.
 */
export async function removeOrphanManifests(dataDir: string, isSession: (id: string) => boolean, logger: Logger) {
  const folder = join(dataDir, MANIFEST_FOLDER);
  const names = await readdir(folder).catch(() => [] as string[]);
  for (const name of names) {
    const orphan = name.includes(TMP_MARKER) || (name.endsWith('.json') && !isSession(name.slice(0, -'.json'.length)));
    if (!orphan) continue;
    logger.info(`removing manifest without a session: ${join(folder, name)}`);
    await removeFile(realFs, join(folder, name)).catch((err: Error) => logger.warn(`cannot remove ${name}: ${err.message}`));
  }
}
