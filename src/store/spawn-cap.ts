import { ApiError } from '../errors.ts';
import { isActiveSession } from '../types.ts';
import type { Store } from './store.ts';

/**
 * SPEC §10 spawn cap: 429 `SESSION_LIMIT` when the project already has `limit`
 * active sessions (0 = no limit). Call it in the same synchronous step as the
 * session's creation, after the last `await`, or concurrent spawns could pass it together.
 */
export function checkSpawnCap(store: Store, projectId: string, limit: number) {
  if (limit === 0) return;
  let active = 0;
  for (const id of store.sessionIdsOfProject(projectId)) if (isActiveSession(store.get('session', id)!.status)) active++;
  if (active >= limit) {
    throw new ApiError(429, 'SESSION_LIMIT', `Project ${projectId} already has ${active} active sessions (limit ${limit})`, { active, limit });
  }
}
