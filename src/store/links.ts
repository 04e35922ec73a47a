import { sessionNotFound, taskNotFound, validationError } from '../errors.ts';
import type { Session, Task } from '../types.ts';
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
  const verb = change === 'added' ? 'started' : 'ended';
  const side: Partial<Task> = {
    sessionIds: has ? task.sessionIds.filter((id) => id !== sessionId) : [...task.sessionIds, sessionId],
    timeline: [...task.timeline, timelineEvent({ type: `session_${verb}`, sessionId, message: `Session ${sessionId} ${verb}` }, now)],
  };
  if (change === 'removed' && task.claimedBy === sessionId) Object.assign(side, releaseFields({ ...task, ...side }, reason, now));
  return side;
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

/** Bring a session's links to exactly `wanted`, one link or unlink at a time. */
export function setSessionTasks(store: Store, sessionId: string, wanted: string[]) {
  const session = store.get('session', sessionId)!;
  for (const taskId of wanted) requireLinkable(store, session.projectId, taskId);
  for (const taskId of session.taskIds) if (!wanted.includes(taskId)) unlink(store, sessionId, taskId);
  for (const taskId of wanted) link(store, sessionId, taskId);
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

/** Bring a task's links to exactly `wanted`, one link or unlink at a time. */
export function setTaskSessions(store: Store, taskId: string, wanted: string[]) {
  const task = store.get('task', taskId)!;
  checkTaskSessions(store, task, wanted);
  for (const sessionId of task.sessionIds) if (!wanted.includes(sessionId)) unlink(store, sessionId, taskId);
  for (const sessionId of wanted) link(store, sessionId, taskId);
}
