import { sessionNotFound, validationError } from '../errors.ts';
import type { Queue, QueueItem, Session, Strategy, TaskSessionStatus } from '../types.ts';
import { link, requireLinkable } from './links.ts';
import type { Store } from './store.ts';
import { updateTask } from './tasks.ts';

/**
 * A `queue` session's work list (SPEC §15): its tasks in order, one processed at
 * a time. It lives in the session (`session.queue`), so every step is an
 * ordinary session update, and the tasks' `sessionStatus` follows each step.
 */

export interface QueueStats {
  total: number;
  queued: number;
  processing: number;
  completed: number;
  failed: number;
  skipped: number;
}

type Outcome = 'completed' | 'failed' | 'skipped';

const newItem = (taskId: string, now: number): QueueItem =>
  ({ taskId, status: 'queued', addedAt: now, startedAt: null, completedAt: null, failReason: null });

/** The queue a session of `strategy` carries: kept if it has one, made from `taskIds` if not, `null` unless `queue`. */
export function queueFor(strategy: Strategy, taskIds: readonly string[], current: Queue | null, now: number): Queue | null {
  if (strategy !== 'queue') return null;
  return current ?? { items: taskIds.map((taskId) => newItem(taskId, now)), currentIndex: -1 };
}

export function queueStats(queue: Queue): QueueStats {
  const stats: QueueStats = { total: queue.items.length, queued: 0, processing: 0, completed: 0, failed: 0, skipped: 0 };
  for (const item of queue.items) stats[item.status]++;
  return stats;
}

/** The session's queue; 404 without the session, 400 when it is not a `queue` session. */
export function getQueue(store: Store, sessionId: string): { session: Session; queue: Queue } {
  const session = store.get('session', sessionId);
  if (!session) throw sessionNotFound(sessionId);
  if (session.strategy !== 'queue' || !session.queue) {
    throw validationError(`Session ${sessionId} has strategy ${session.strategy}, not queue`, { field: 'strategy' });
  }
  return { session, queue: session.queue };
}

const nextQueuedIndex = (queue: Queue) => queue.items.findIndex((item) => item.status === 'queued');

export function nextQueued(queue: Queue): QueueItem | null {
  return queue.items[nextQueuedIndex(queue)] ?? null;
}

function saveQueue(store: Store, session: Session, items: QueueItem[], currentIndex: number, now: number) {
  store.update('session', session, { queue: { items, currentIndex } }, now);
}

/** What the agent is doing with the task, shown by the UI as a badge; a deleted task is skipped. */
function reportOnTask(store: Store, taskId: string, sessionStatus: TaskSessionStatus, starting = false) {
  const task = store.get('task', taskId);
  if (!task) return;
  updateTask(store, taskId, { sessionStatus, ...(starting && task.status === 'todo' ? { status: 'in_progress' as const } : {}) });
}

/** Starts the next queued item; `null` when none is left. 400 while one is processing. */
export function startNext(store: Store, sessionId: string): QueueItem | null {
  const { session, queue } = getQueue(store, sessionId);
  if (queue.currentIndex !== -1) {
    throw validationError(`Task ${queue.items[queue.currentIndex].taskId} is still processing: complete, fail or skip it first`,
      { field: 'queue' });
  }
  const index = nextQueuedIndex(queue);
  if (index === -1) return null;
  const now = Date.now();
  const item: QueueItem = { ...queue.items[index], status: 'processing', startedAt: now };
  saveQueue(store, session, queue.items.map((x, i) => (i === index ? item : x)), index, now);
  reportOnTask(store, item.taskId, 'working', true);
  return item;
}

/**
 * Ends the processing item with `outcome`; `skipped` may also take the next
 * queued item when none is processing. 400 when there is nothing to end.
 */
export function finishItem(store: Store, sessionId: string, outcome: Outcome, reason?: string): { item: QueueItem; next: QueueItem | null } {
  const { session, queue } = getQueue(store, sessionId);
  const index = queue.currentIndex !== -1 ? queue.currentIndex : outcome === 'skipped' ? nextQueuedIndex(queue) : -1;
  if (index === -1) {
    throw validationError(outcome === 'skipped' ? 'Nothing is processing or queued to skip' : 'No item is processing: start one first',
      { field: 'queue' });
  }
  const now = Date.now();
  const item: QueueItem = {
    ...queue.items[index], status: outcome, completedAt: now, ...(outcome === 'failed' ? { failReason: reason ?? null } : {}),
  };
  const items = queue.items.map((x, i) => (i === index ? item : x));
  saveQueue(store, session, items, -1, now);
  reportOnTask(store, item.taskId, outcome);
  return { item, next: nextQueued({ items, currentIndex: -1 }) };
}

/** Appends a task of the session's project (linking it, SPEC §4); 400 if it is already waiting or processing. */
export function pushTask(store: Store, sessionId: string, taskId: string): QueueItem {
  const { session } = getQueue(store, sessionId);
  requireLinkable(store, session.projectId, taskId);
  if (session.queue!.items.some((item) => item.taskId === taskId && (item.status === 'queued' || item.status === 'processing'))) {
    throw validationError(`Task ${taskId} is already in the queue`, { field: 'taskId' });
  }
  link(store, sessionId, taskId);
  const linked = store.get('session', sessionId)!;
  const now = Date.now();
  const item = newItem(taskId, now);
  saveQueue(store, linked, [...linked.queue!.items, item], linked.queue!.currentIndex, now);
  return item;
}
