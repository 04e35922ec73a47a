import { sessionNotFound, taskNotFound, validationError } from '../errors.ts';
import type { Session, Task } from '../types.ts';
import { timelineEvent } from './common.ts';
import type { Store } from './store.ts';

/**
 * The task↔session many-to-many (SPEC §4): `task.sessionIds` has s iff
 * `session.taskIds` has t. Every path that changes a link comes through here.
 */

export function requireLinkable(store: Store, projectId: string, taskId: string): Task {
  const task = store.tasks.get(taskId);
  if (!task) throw taskNotFound(taskId);
  if (task.projectId !== projectId) {
    throw validationError(`Task ${taskId} belongs to another project`, { field: 'taskIds', id: taskId });
  }
  return task;
}

/** The task side of a link: the id added and a `session_started` event. Emits nothing. */
export function attachToTask(store: Store, task: Task, sessionId: string, now: number): Task {
  const next: Task = {
    ...task,
    sessionIds: [...task.sessionIds, sessionId],
    timeline: [...task.timeline, timelineEvent({ type: 'session_started', sessionId, message: `Session ${sessionId} started` }, now)],
    updatedAt: now,
    version: task.version + 1,
  };
  store.putTask(next);
  return next;
}

/** The task side of an unlink: the id removed and a `session_ended` event. Emits nothing. */
export function detachFromTask(store: Store, task: Task, sessionId: string, now: number): Task {
  const next: Task = {
    ...task,
    sessionIds: task.sessionIds.filter((id) => id !== sessionId),
    timeline: [...task.timeline, timelineEvent({ type: 'session_ended', sessionId, message: `Session ${sessionId} ended` }, now)],
    updatedAt: now,
    version: task.version + 1,
  };
  store.putTask(next);
  return next;
}

function putSessionTaskIds(store: Store, session: Session, taskIds: string[], now: number): Session {
  const next: Session = { ...session, taskIds, lastActivity: now, version: session.version + 1 };
  store.putSession(next);
  return next;
}

/** Link a pair; linking twice changes nothing and emits nothing. */
export function link(store: Store, sessionId: string, taskId: string): Session {
  const session = store.sessions.get(sessionId);
  if (!session) throw sessionNotFound(sessionId);
  const task = requireLinkable(store, session.projectId, taskId);
  if (session.taskIds.includes(taskId) && task.sessionIds.includes(sessionId)) return session;
  const now = Date.now();
  const nextTask = task.sessionIds.includes(sessionId) ? task : attachToTask(store, task, sessionId, now);
  const nextSession = session.taskIds.includes(taskId)
    ? session
    : putSessionTaskIds(store, session, [...session.taskIds, taskId], now);
  store.emit('session:task_added', { sessionId, taskId });
  store.emit('task:session_added', { taskId, sessionId });
  if (nextTask !== task) store.emit('task:updated', nextTask);
  if (nextSession !== session) store.emit('session:updated', nextSession);
  return nextSession;
}

/** Unlink a pair; unlinking a pair that is not linked changes nothing. */
export function unlink(store: Store, sessionId: string, taskId: string): Session {
  const session = store.sessions.get(sessionId);
  if (!session) throw sessionNotFound(sessionId);
  const task = store.tasks.get(taskId);
  if (!task) throw taskNotFound(taskId);
  if (!session.taskIds.includes(taskId) && !task.sessionIds.includes(sessionId)) return session;
  const now = Date.now();
  const nextTask = task.sessionIds.includes(sessionId) ? detachFromTask(store, task, sessionId, now) : task;
  const nextSession = session.taskIds.includes(taskId)
    ? putSessionTaskIds(store, session, session.taskIds.filter((id) => id !== taskId), now)
    : session;
  store.emit('session:task_removed', { sessionId, taskId });
  store.emit('task:session_removed', { taskId, sessionId });
  if (nextTask !== task) store.emit('task:updated', nextTask);
  if (nextSession !== session) store.emit('session:updated', nextSession);
  return nextSession;
}

/** Bring a session's links to exactly `wanted`, one link or unlink at a time. */
export function setSessionTasks(store: Store, sessionId: string, wanted: string[]) {
  const session = store.sessions.get(sessionId)!;
  for (const taskId of wanted) requireLinkable(store, session.projectId, taskId);
  for (const taskId of session.taskIds) if (!wanted.includes(taskId)) unlink(store, sessionId, taskId);
  for (const taskId of wanted) link(store, sessionId, taskId);
}

/** Throws unless every session in `wanted` exists and shares the task's project. */
export function checkTaskSessions(store: Store, task: Task, wanted: string[]) {
  for (const sessionId of wanted) {
    const session = store.sessions.get(sessionId);
    if (!session) throw sessionNotFound(sessionId);
    if (session.projectId !== task.projectId) {
      throw validationError(`Session ${sessionId} belongs to another project`, { field: 'sessionIds', id: sessionId });
    }
  }
}

/** Bring a task's links to exactly `wanted`, one link or unlink at a time. */
export function setTaskSessions(store: Store, taskId: string, wanted: string[]) {
  const task = store.tasks.get(taskId)!;
  checkTaskSessions(store, task, wanted);
  for (const sessionId of task.sessionIds) if (!wanted.includes(sessionId)) unlink(store, sessionId, taskId);
  for (const sessionId of wanted) link(store, sessionId, taskId);
}
