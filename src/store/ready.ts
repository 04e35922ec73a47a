import { validationError } from '../errors.ts';
import type { Priority, Task, TaskStatus } from '../types.ts';
import { ReadyQueue } from './ready-queue.ts';
import type { Store } from './store.ts';

/** The stored word for "to do" (`pending` on input is read as this). */
export const TODO_STATUS: TaskStatus = 'todo';
export const CLOSED_TASK_STATUSES: readonly string[] = ['completed', 'cancelled'];

const PRIORITY_RANK: Record<Priority, number> = { high: 0, medium: 1, low: 2 };

/** SPEC §10 claim order: priority high, medium, low, then oldest `createdAt`, then id. */
export function byClaimOrder(a: Task, b: Task): number {
  return PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority] || a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The dependencies of `task` that are not `completed` (a `cancelled` one is not done). */
export function waitingOn(store: Store, task: Task): string[] {
  return task.dependencies.filter((id) => store.get('task', id)?.status !== 'completed');
}

function hasOpenChild(store: Store, task: Task): boolean {
  for (const childId of store.childIdsOf(task.id)) {
    if (!CLOSED_TASK_STATUSES.includes(store.get('task', childId)!.status)) return true;
  }
  return false;
}

/** SPEC §10: to do, unclaimed, every dependency completed, no open child. */
export function isReady(store: Store, task: Task): boolean {
  return task.status === TODO_STATUS && task.claimedBy === null
    && waitingOn(store, task).length === 0 && !hasOpenChild(store, task);
}

const queues = new WeakMap<Store, ReadyQueue>();
const isCandidate = (task: Task) => task.status === TODO_STATUS && task.claimedBy === null;

/** The first ready task of a project in claim order, optionally of one priority: a walk of its to-do queue. */
export function firstReady(store: Store, projectId: string, priority?: Priority): Task | undefined {
  let queue = queues.get(store);
  if (!queue) queues.set(store, (queue = new ReadyQueue(isCandidate, store)));
  for (const id of queue.candidates(projectId, priority)) {
    const task = store.get('task', id)!;
    if (isReady(store, task)) return task;
  }
  return undefined;
}

/**
 * Refuses `dependencies` for `taskId` that would close a cycle: a walk from each
 * new dependency through the stored ones must never reach the task. Each task is
 * visited once, so the walk is bounded whatever the graph.
 */
export function checkAcyclic(store: Store, taskId: string, dependencies: readonly string[]) {
  const seen = new Set<string>();
  const stack = [...dependencies];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (id === taskId) {
      throw validationError('dependencies would close a cycle', { field: 'dependencies' });
    }
    if (seen.has(id)) continue;
    seen.add(id);
    const task = store.get('task', id);
    if (task) stack.push(...task.dependencies);
  }
}
