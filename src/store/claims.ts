import { ApiError, validationError } from '../errors.ts';
import { isEndedSession, type Priority, type Session, type Task } from '../types.ts';
import { timelineEvent } from './common.ts';
import { startLease, renewLease } from './leases.ts';
import { link } from './links.ts';
import { getProject } from './projects.ts';
import { CLOSED_TASK_STATUSES, firstReady, TODO_STATUS, waitingOn } from './ready.ts';
import { getSession } from './sessions.ts';
import type { Store } from './store.ts';
import { getTask, statusEffects } from './tasks.ts';

/**
 * SPEC §10 claims. Every check and change of a claim happens in one synchronous
 * step (no `await` between reading a task and claiming it), so two agents can
 * never hold one task: Node runs one handler step at a time.
 */

const sessionEnded = (session: Session) =>
  new ApiError(409, 'SESSION_ENDED', `Session ${session.id} has ended (${session.status})`, { sessionId: session.id, status: session.status });

const taskClaimed = (task: Task) =>
  new ApiError(409, 'TASK_CLAIMED', `Task ${task.id} is claimed by ${task.claimedBy}`, { claimedBy: task.claimedBy });

function requireOpenSession(session: Session, projectId: string) {
  if (session.projectId !== projectId) {
    throw validationError(`Session ${session.id} belongs to another project`, { field: 'sessionId' });
  }
  if (isEndedSession(session.status)) throw sessionEnded(session);
}

/**
 * The claim fields cleared and a `claim_released` event after `timeline`; an
 * `in_progress` task goes back to to-do unless `keepStatus` (a task being closed).
 */
export function releaseFields(task: Task, reason: string, now: number, keepStatus = false): Partial<Task> {
  const changes: Partial<Task> = !keepStatus && task.status === 'in_progress' ? statusEffects(task, TODO_STATUS, now) : {};
  changes.claimedBy = null;
  changes.claimedAt = null;
  changes.timeline = [
    ...changes.timeline ?? task.timeline,
    timelineEvent({ type: 'claim_released', sessionId: task.claimedBy!, message: reason }, now),
  ];
  return changes;
}

function releaseClaim(store: Store, task: Task, reason: string, now: number): Task {
  return store.update('task', task, releaseFields(task, reason, now), now);
}

/** Releases every claim a session holds (it ended, went stale or was deleted). */
export function releaseClaimsOf(store: Store, session: Session, reason: string, now = Date.now()) {
  for (const taskId of session.taskIds) {
    const task = store.get('task', taskId);
    if (task?.claimedBy === session.id) releaseClaim(store, task, reason, now);
  }
}

/** Why a claim must not stand (its holder is gone, ended, stale or unlinked), or `undefined` when it may. */
function brokenClaim(store: Store, task: Task): string | undefined {
  const holder = store.get('session', task.claimedBy!);
  if (!holder) return 'session deleted';
  if (isEndedSession(holder.status)) return 'session ended';
  if (holder.status === 'stale') return 'session stale';
  if (!holder.taskIds.includes(task.id)) return 'session unlinked';
  return undefined;
}

/**
 * At start: a crash between two file writes can leave a claim whose holder is gone,
 * ended, stale or unlinked; such claims are released (and written back). One pass
 * over the tasks, once.
 */
export function releaseBrokenClaims(store: Store, now = Date.now()): number {
  let released = 0;
  for (const task of [...store.all('task')]) {
    const reason = task.claimedBy === null ? undefined : brokenClaim(store, task);
    if (reason === undefined) continue;
    releaseClaim(store, task, reason, now);
    released++;
  }
  return released;
}

/** The checks after "session not ended", then the claim itself, in one step. */
function claimChecked(store: Store, task: Task, session: Session, now: number): Task {
  if (CLOSED_TASK_STATUSES.includes(task.status)) {
    throw new ApiError(409, 'TASK_CLOSED', `Task ${task.id} is ${task.status}`, { status: task.status });
  }
  if (task.claimedBy === session.id) {
    startLease(store, session.id);
    return task;
  }
  if (task.claimedBy !== null) throw taskClaimed(task);
  const waiting = waitingOn(store, task);
  if (waiting.length > 0) {
    throw new ApiError(409, 'TASK_NOT_READY', `Task ${task.id} waits on ${waiting.join(', ')}`, { waitingOn: waiting });
  }
  if (session.status === 'stale') store.update('session', session, { status: 'running' }, now);
  startLease(store, session.id);
  if (!task.sessionIds.includes(session.id)) link(store, session.id, task.id);
  const current = store.get('task', task.id)!;
  const changes: Partial<Task> = current.status === 'in_progress' ? {} : statusEffects(current, 'in_progress', now);
  changes.claimedBy = session.id;
  changes.claimedAt = now;
  changes.timeline = [
    ...changes.timeline ?? current.timeline,
    timelineEvent({ type: 'claimed', sessionId: session.id, message: `Claimed by ${session.id}` }, now),
  ];
  return store.update('task', current, changes, now);
}

/** `POST /api/tasks/:id/claim`: the checks in SPEC order, then the claim. */
export function claimTask(store: Store, taskId: string, sessionId: string, now = Date.now()): Task {
  const task = getTask(store, taskId);
  const session = getSession(store, sessionId);
  renewLease(store, sessionId);
  requireOpenSession(session, task.projectId);
  return claimChecked(store, task, session, now);
}

export interface ClaimNextInput {
  projectId: string;
  sessionId: string;
  priority?: Priority;
}

/** `POST /api/tasks/claim-next`: the first ready task of the project in claim order. */
export function claimNextTask(store: Store, input: ClaimNextInput, now = Date.now()): Task {
  getProject(store, input.projectId);
  const session = getSession(store, input.sessionId);
  renewLease(store, input.sessionId);
  requireOpenSession(session, input.projectId);
  const task = firstReady(store, input.projectId, input.priority);
  if (!task) {
    throw new ApiError(404, 'NO_READY_TASK', `No ready task in project ${input.projectId}`, {
      projectId: input.projectId, ...(input.priority ? { priority: input.priority } : {}),
    });
  }
  return claimChecked(store, task, session, now);
}

export interface ReleaseInput {
  sessionId?: string;
  force?: boolean;
}

/** `POST /api/tasks/:id/release`: by its holder, or forced (people in the UI). */
export function releaseTask(store: Store, taskId: string, input: ReleaseInput, now = Date.now()): Task {
  const task = getTask(store, taskId);
  if (input.sessionId === undefined && input.force !== true) {
    throw validationError('Send sessionId or force: true', { fields: [{ field: 'sessionId', message: 'sessionId or force is required' }] });
  }
  if (input.sessionId !== undefined) renewLease(store, input.sessionId);
  if (task.claimedBy === null) return task;
  if (input.force !== true && input.sessionId !== task.claimedBy) throw taskClaimed(task);
  return releaseClaim(store, task, input.force === true ? 'forced' : 'released', now);
}

/** A session that stopped giving signs of life: `stale`, a `stale` timeline event, its claims released. */
export function markStale(store: Store, sessionId: string, reason: string, now = Date.now()) {
  const session = store.get('session', sessionId)!;
  const next = store.update('session', session, {
    status: 'stale',
    completedAt: null,
    timeline: [...session.timeline, timelineEvent({ type: 'stale', message: reason }, now)],
  }, now);
  releaseClaimsOf(store, next, reason, now);
}

/** `POST /api/sessions/:id/heartbeat`: renews (or starts) the lease; a `stale` session comes back to `running`. */
export function heartbeat(store: Store, sessionId: string, now = Date.now()) {
  let session = getSession(store, sessionId);
  if (isEndedSession(session.status)) throw sessionEnded(session);
  if (session.status === 'stale') session = store.update('session', session, { status: 'running' }, now);
  const leaseExpiresAt = startLease(store, sessionId);
  return { sessionId, status: session.status, leaseExpiresAt };
}
