import { join } from 'node:path';
import type { EntityKind } from '../types.ts';

export const FOLDERS = { project: 'projects', task: 'tasks', session: 'sessions', template: 'templates' } as const;
/** Spawn manifests (SPEC §5): not entities, never loaded. */
export const MANIFEST_FOLDER = 'manifests';
export const CORRUPT_FOLDER = 'corrupt';
export const LOCK_FILE = '.lock';
/** Temporary files carry this marker; any left at start are removed. */
export const TMP_MARKER = '.tmp-';

/** `projects/<id>.json`, `tasks/<projectId>/<id>.json`, `sessions/<id>.json`. */
export function entityPath(dataDir: string, kind: EntityKind, id: string, projectId?: string): string {
  if (kind === 'task') return join(dataDir, FOLDERS.task, projectId!, `${id}.json`);
  return join(dataDir, FOLDERS[kind], `${id}.json`);
}
