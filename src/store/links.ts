import { sessionNotFound, taskNotFound, validationError } from '../errors.ts';
import type { Session, Task, TimelineEvent } from '../types.ts';
import { releaseFields } from './claims.ts';
import { timelineEvent } from './common.ts';
import { renewLease } from './leases.ts';
import type { Store } from './store.ts';

/**
 * The task↔session many-to-many (SPEC §4): `task.sessionIds` has s iff
 * `session.taskIds` has t. Every path that changes a link comes through here.
 */

export function requireLinkable(store: Store, projectId: string, taskId: string): Task {
  const task = store.get('task', taskId);
  if (!task) throw taskNotFound(taskId);
  if (task.projectId !== projectId) {
    throw validationError(`Task ${taskId} belongs to another project`, { field: 'taskIds', id: taskId });
  }
  return task;
}

type LinkChange = 'added' | 'removed';

/** The task's side of a link change; unlinking a claim's holder releases the claim (SPEC §10). */
function taskSide(task: Task, change: LinkChange, sessionId: string, now: number, reason: string): Partial<Task> {
  const has = task.sessionIds.includes(sessionId);
  if (has === (change === 'added')) return {};
  const side: Partial<Task> = {
    sessionIds: has ? task.sessionIds.filter((id) => id !== sessionId) : [...task.sessionIds, sessionId],
    timeline: [...task.timeline, linkEntry(change, sessionId, now)],
  };
  if (change === 'removed' && task.claimedBy === sessionId) Object.assign(side, releaseFields({ ...task, ...side }, reason, now));
  return side;
}

/** The task's timeline entry for a link change: `session_started` or `session_ended`. */
function linkEntry(change: LinkChange, sessionId: string, now: number): TimelineEvent {
  const verb = change === 'added' ? 'started' : 'ended';
  return timelineEvent({ type: `session_${verb}`, sessionId, message: `Session ${sessionId} ${verb}` }, now);
}

function sessionSide(session: Session, change: LinkChange, taskId: string): Partial<Session> {
  const has = session.taskIds.includes(taskId);
  if (has === (change === 'added')) return {};
  return { taskIds: has ? session.taskIds.filter((id) => id !== taskId) : [...session.taskIds, taskId] };
}

/**
 * The one place a link changes: the sides given are saved (a side left out is
 * being created or deleted by the caller), then the events in SPEC order:
 * `session:task_*`, `task:session_*`, then `*:updated` for each side that changed.
 * `reason` says why a claim the session held on the task is released.
 */
export function changeLink(
  store: Store, change: LinkChange,
  sides: { sessionId: string; taskId: string; session?: Session; task?: Task; reason?: string }, now = Date.now(),
) {
  const { sessionId, taskId, session, task, reason = 'session unlinked' } = sides;
  const nextTask = task && store.save('task', task, taskSide(task, change, sessionId, now, reason), now);
  const nextSession = session && store.save('session', session, sessionSide(session, change, taskId), now);
  store.emit(`session:task_${change}`, { sessionId, taskId });
  store.emit(`task:session_${change}`, { taskId, sessionId });
  if (nextTask !== task) store.emit('task:updated', nextTask);
  if (nextSession !== session) store.emit('session:updated', nextSession);
  return nextSession;
}

/** Link a pair; linking twice changes nothing and emits nothing. */
export function link(store: Store, sessionId: string, taskId: string): Session {
  renewLease(store, sessionId);
  const session = store.get('session', sessionId);
  if (!session) throw sessionNotFound(sessionId);
  const task = requireLinkable(store, session.projectId, taskId);
  if (session.taskIds.includes(taskId) && task.sessionIds.includes(sessionId)) return session;
  return changeLink(store, 'added', { sessionId, taskId, session, task })!;
}

/** Unlink a pair; unlinking a pair that is not linked changes nothing. */
export function unlink(store: Store, sessionId: string, taskId: string): Session {
  renewLease(store, sessionId);
  const session = store.get('session', sessionId);
  if (!session) throw sessionNotFound(sessionId);
  const task = store.get('task', taskId);
  if (!task) throw taskNotFound(taskId);
  if (!session.taskIds.includes(taskId) && !task.sessionIds.includes(sessionId)) return session;
  return changeLink(store, 'removed', { sessionId, taskId, session, task })!;
}

/** What to unlink and link to go from `current` ids to `wanted` (no duplicates), in linear time. */
function diffLinks(current: readonly string[], wanted: readonly string[]) {
  const keep = new Set(wanted);
  const have = new Set(current);
  return {
    removed: current.filter((id) => !keep.has(id)),
    added: wanted.filter((id) => !have.has(id)),
    next: [...current.filter((id) => keep.has(id)), ...wanted.filter((id) => !have.has(id))],
  };
}

/**
 * A session's links brought to exactly `wanted` (checked by the caller) within one
 * request: each task side is saved with its events (`session:task_*`, `task:session_*`,
 * `task:updated`), and the session's new `taskIds` go into `changes` for the caller's
 * one save, so the session is sent once however many links change (SPEC §3/§4, README).
 */
export function linkSessionTasks(store: Store, session: Session, wanted: string[], changes: Partial<Session>, now: number) {
  const { removed, added, next } = diffLinks(session.taskIds, wanted);
  for (const taskId of removed) {
    const task = store.get('task', taskId);
    if (task) changeLink(store, 'removed', { sessionId: session.id, taskId, task }, now);
  }
  for (const taskId of added) changeLink(store, 'added', { sessionId: session.id, taskId, task: store.get('task', taskId)! }, now);
  changes.taskIds = next;
}

/** Throws unless every session in `wanted` exists and shares the task's project. */
export function checkTaskSessions(store: Store, task: Task, wanted: string[]) {
  for (const sessionId of wanted) {
    const session = store.get('session', sessionId);
    if (!session) throw sessionNotFound(sessionId);
    if (session.projectId !== task.projectId) {
      throw validationError(`Session ${sessionId} belongs to another project`, { field: 'sessionIds', id: sessionId });
    }
  }
}

/**
 * A task's links brought to exactly `wanted` (checked by the caller) within one
 * request: each session side is saved with its events, and the task's new
 * `sessionIds` and one timeline entry a change go into `changes` for the caller's
 * one save, after any timeline entries already there.
 */
export function linkTaskSessions(store: Store, task: Task, wanted: string[], changes: Partial<Task>, now: number) {
  const { removed, added, next } = diffLinks(task.sessionIds, wanted);
  const entries: TimelineEvent[] = [];
  for (const [change, sessionIds] of [['removed', removed], ['added', added]] as const) {
    for (const sessionId of sessionIds) {
      const session = store.get('session', sessionId);
      if (session) changeLink(store, change, { sessionId, taskId: task.id, session }, now);
      entries.push(linkEntry(change, sessionId, now));
    }
  }
  changes.sessionIds = next;
  if (entries.length > 0) changes.timeline = [...changes.timeline ?? task.timeline, ...entries];
  // Unlinking the claim's holder releases the claim (SPEC §10), in the same one save.
  if (task.claimedBy !== null && removed.includes(task.claimedBy)) Object.assign(changes, releaseFields({ ...task, ...changes }, 'session unlinked', now));
}
