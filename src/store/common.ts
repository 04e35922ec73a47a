import { ApiError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { TimelineEvent } from '../types.ts';

/**
 * `If-Match` holds `"<version>"` (a weak `W/` prefix, bare digits and `*` are
 * accepted too). A mismatch answers 412 with the current entity.
 */
export function checkVersion(current: { version: number }, ifMatch: string | undefined) {
  if (ifMatch === undefined) return;
  const tags = ifMatch.split(',').map((t) => t.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1'));
  if (tags.includes('*') || tags.includes(String(current.version))) return;
  throw new ApiError(412, 'VERSION_CONFLICT', `Version conflict: the current version is ${current.version}`, {
    current,
  });
}

/** Deep equality for JSON values, enough to tell a no-op PATCH. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) && Array.isArray(b) && a.length !== b.length) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The fields of `patch` whose value differs from `current`. */
export function changedFields<T extends object>(current: T, patch: Partial<T>): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(patch) as (keyof T)[]) {
    if (patch[key] !== undefined && !sameJson(current[key], patch[key])) out[key] = patch[key];
  }
  return out;
}

export interface TimelineInput {
  type: string;
  message?: string;
  sessionId?: string;
  taskId?: string;
}

export function timelineEvent(input: TimelineInput, now = Date.now()): TimelineEvent {
  const event: TimelineEvent = { id: newId('evt'), type: input.type, timestamp: now };
  if (input.message !== undefined) event.message = input.message;
  if (input.sessionId !== undefined) event.sessionId = input.sessionId;
  if (input.taskId !== undefined) event.taskId = input.taskId;
  return event;
}

export const uniq = (ids: readonly string[]) => [...new Set(ids)];
