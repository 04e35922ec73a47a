import { projectNotFound, sessionNotFound, taskNotFound, validationError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Priority, Task, TaskSessionStatus, TaskStatus } from '../types.ts';
import { changedFields, checkVersion, type TimelineInput, timelineEvent, uniq } from './common.ts';
import { releaseFields } from './claims.ts';
import { renewLease } from './leases.ts';
import { changeLink, checkTaskSessions, linkTaskSessions } from './links.ts';
import { byClaimOrder, checkAcyclic, CLOSED_TASK_STATUSES, isReady, TODO_STATUS } from './ready.ts';
import type { Store } from './store.ts';

export interface TaskInput {
  projectId: string;
  title: string;
  parentId?: string | null;
  description?: string;
  initialPrompt?: string;
  status?: TaskStatus;
  priority?: Priority;
  dependencies?: string[];
  skillIds?: string[];
  agentIds?: string[];
}

export interface TaskPatch {
  title?: string;
  description?: string;
  initialPrompt?: string;
  status?: TaskStatus;
  priority?: Priority;
  parentId?: string | null;
  dependencies?: string[];
  skillIds?: string[];
  agentIds?: string[];
  sessionIds?: string[];
  sessionStatus?: TaskSessionStatus | null;
  timeline?: TimelineInput[];
}

export interface TaskFilter {
  projectId?: string;
  status?: string[];
  /** `null` selects root tasks. */
  parentId?: string | null;
  sessionId?: string;
  /** SPEC §10: only ready tasks, in claim order. */
  ready?: boolean;
}

export function getTask(store: Store, id: string): Task {
  const task = store.get('task', id);
  if (!task) throw taskNotFound(id);
  return task;
}

function checkParent(store: Store, projectId: string, parentId: string, taskId?: string) {
  const parent = getTask(store, parentId);
  if (parent.projectId !== projectId) throw validationError('parentId names a task of another project', { field: 'parentId' });
  // Bounded: a chain longer than the number of tasks is a loop (load breaks those; never hang on one).
  let steps = 0;
  const limit = store.count('task');
  for (let at: Task | undefined = parent; at && steps++ <= limit; at = at.parentId ? store.get('task', at.parentId) : undefined) {
    if (at.id === taskId) throw validationError('A task cannot be its own parent or ancestor', { field: 'parentId' });
  }
}

function checkDependencies(store: Store, projectId: string, ids: string[], taskId?: string) {
  for (const id of ids) {
    if (id === taskId) throw validationError('A task cannot depend on itself', { field: 'dependencies' });
    if (getTask(store, id).projectId !== projectId) {
      throw validationError(`Dependency ${id} belongs to another project`, { field: 'dependencies' });
    }
  }
  if (taskId !== undefined) checkAcyclic(store, taskId, ids);
}

function checkTimelineRefs(store: Store, entries: TimelineInput[]) {
  for (const e of entries) {
    if (e.sessionId === undefined) continue;
    renewLease(store, e.sessionId);
    if (!store.has('session', e.sessionId)) throw sessionNotFound(e.sessionId);
  }
}

/** `startedAt`/`completedAt` and the `status_changed` event for a status change. */
export function statusEffects(task: Task, status: TaskStatus, now: number): Partial<Task> {
  return {
    status,
    startedAt: task.startedAt ?? (status === 'in_progress' ? now : null),
    completedAt: status === 'completed' ? now : null,
    timeline: [
      ...task.timeline,
      timelineEvent({ type: 'status_changed', message: `Status changed from ${task.status} to ${status}` }, now),
    ],
  };
}

export function createTask(store: Store, input: TaskInput): Task {
  if (!store.has('project', input.projectId)) throw projectNotFound(input.projectId);
  if (input.parentId) checkParent(store, input.projectId, input.parentId);
  const dependencies = uniq(input.dependencies ?? []);
  checkDependencies(store, input.projectId, dependencies);
  const now = Date.now();
  const status = input.status ?? TODO_STATUS;
  const task: Task = {
    id: newId('task'),
    projectId: input.projectId,
    parentId: input.parentId ?? null,
    title: input.title,
    description: input.description ?? '',
    initialPrompt: input.initialPrompt ?? '',
    status,
    sessionStatus: null,
    priority: input.priority ?? 'medium',
    sessionIds: [],
    skillIds: uniq(input.skillIds ?? []),
    agentIds: uniq(input.agentIds ?? []),
    dependencies,
    claimedBy: null,
    claimedAt: null,
    subtasks: [],
    timeline: [timelineEvent({ type: 'created', message: 'Task created' }, now)],
    createdAt: now,
    updatedAt: now,
    startedAt: status === 'in_progress' ? now : null,
    completedAt: status === 'completed' ? now : null,
    version: 1,
  };
  return store.create('task', task);
}

export function updateTask(store: Store, id: string, patch: TaskPatch, ifMatch?: string): Task {
  const current = getTask(store, id);
  checkVersion(current, ifMatch);
  const { sessionIds, timeline, ...fields } = patch;
  for (const key of ['dependencies', 'skillIds', 'agentIds'] as const) {
    if (fields[key]) fields[key] = uniq(fields[key]);
  }
  const changes: Partial<Task> = changedFields(current, fields);
  if (changes.parentId) checkParent(store, current.projectId, changes.parentId, id);
  if (changes.dependencies) checkDependencies(store, current.projectId, changes.dependencies, id);
  if (sessionIds) checkTaskSessions(store, current, sessionIds);
  if (timeline) checkTimelineRefs(store, timeline);

  const now = Date.now();
  if (changes.status) Object.assign(changes, statusEffects(current, changes.status, now));
  if (changes.status && CLOSED_TASK_STATUSES.includes(changes.status) && current.claimedBy !== null) {
    Object.assign(changes, releaseFields({ ...current, ...changes }, `task ${changes.status}`, now, true));
  }
  if (timeline?.length) {
    changes.timeline = [...changes.timeline ?? current.timeline, ...timeline.map((e) => timelineEvent({ ...e, taskId: e.taskId ?? id }, now))];
  }
  if (sessionIds) linkTaskSessions(store, current, uniq(sessionIds), changes, now);
  return store.update('task', current, changes, now);
}

export function addTaskTimeline(store: Store, id: string, entry: TimelineInput): Task {
  return updateTask(store, id, { timeline: [entry] });
}

export function deleteTask(store: Store, id: string, ifMatch?: string) {
  const task = getTask(store, id);
  checkVersion(task, ifMatch);
  const now = Date.now();
  for (const sessionId of task.sessionIds) {
    const session = store.get('session', sessionId);
    if (session) changeLink(store, 'removed', { sessionId, taskId: id, session }, now);
  }
  for (const childId of [...store.childIdsOf(id)]) {
    store.update('task', store.get('task', childId)!, { parentId: null }, now);
  }
  for (const otherId of store.taskIdsOfProject(task.projectId)) {
    const other = store.get('task', otherId)!;
    if (other.dependencies.includes(id)) store.update('task', other, { dependencies: other.dependencies.filter((d) => d !== id) }, now);
  }
  store.remove('task', id);
}

/** The smallest index that covers the filter, then the remaining conditions. */
function candidates(store: Store, filter: TaskFilter): Iterable<string> {
  if (filter.sessionId !== undefined) return store.get('session', filter.sessionId)?.taskIds ?? [];
  if (typeof filter.parentId === 'string') return store.childIdsOf(filter.parentId);
  if (filter.projectId !== undefined) return store.taskIdsOfProject(filter.projectId);
  return store.ids('task');
}

export function listTasks(store: Store, filter: TaskFilter): Task[] {
  const statuses = filter.status ? new Set(filter.status) : undefined;
  const tasks = store.select('task', candidates(store, filter), (task) =>
    (filter.projectId === undefined || task.projectId === filter.projectId)
    && (filter.parentId === undefined || task.parentId === filter.parentId)
    && (!statuses || statuses.has(task.status))
    && (!filter.ready || isReady(store, task)));
  return filter.ready ? tasks.sort(byClaimOrder) : tasks;
}

export function childrenOf(store: Store, id: string): Task[] {
  getTask(store, id);
  return listTasks(store, { parentId: id });
}
