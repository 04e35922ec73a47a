import { projectNotFound, sessionNotFound, taskNotFound, validationError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Priority, Task, TaskStatus } from '../types.ts';
import { changedFields, checkVersion, type TimelineInput, timelineEvent, uniq } from './common.ts';
import { checkTaskSessions, detachFromTask, setTaskSessions } from './links.ts';
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
  timeline?: TimelineInput[];
}

export interface TaskFilter {
  projectId?: string;
  status?: string[];
  /** `null` selects root tasks. */
  parentId?: string | null;
  sessionId?: string;
}

export function getTask(store: Store, id: string): Task {
  const task = store.tasks.get(id);
  if (!task) throw taskNotFound(id);
  return task;
}

function checkParent(store: Store, projectId: string, parentId: string, taskId?: string) {
  const parent = getTask(store, parentId);
  if (parent.projectId !== projectId) throw validationError('parentId names a task of another project', { field: 'parentId' });
  // Bounded: a chain longer than the number of tasks is a loop (load breaks those; never hang on one).
  let steps = 0;
  for (let at: Task | undefined = parent; at && steps++ <= store.tasks.size; at = at.parentId ? store.tasks.get(at.parentId) : undefined) {
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
}

function checkTimelineRefs(store: Store, entries: TimelineInput[]) {
  for (const e of entries) {
    if (e.sessionId !== undefined && !store.sessions.has(e.sessionId)) throw sessionNotFound(e.sessionId);
  }
}

/** `startedAt`/`completedAt` and the `status_changed` event for a status change. */
function statusEffects(task: Task, status: TaskStatus, now: number): Partial<Task> {
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
  if (!store.projects.has(input.projectId)) throw projectNotFound(input.projectId);
  if (input.parentId) checkParent(store, input.projectId, input.parentId);
  const dependencies = uniq(input.dependencies ?? []);
  checkDependencies(store, input.projectId, dependencies);
  const now = Date.now();
  const status = input.status ?? 'pending';
  const task: Task = {
    id: newId('task'),
    projectId: input.projectId,
    parentId: input.parentId ?? null,
    title: input.title,
    description: input.description ?? '',
    initialPrompt: input.initialPrompt ?? '',
    status,
    priority: input.priority ?? 'medium',
    sessionIds: [],
    skillIds: uniq(input.skillIds ?? []),
    agentIds: uniq(input.agentIds ?? []),
    dependencies,
    subtasks: [],
    timeline: [timelineEvent({ type: 'created', message: 'Task created' }, now)],
    createdAt: now,
    updatedAt: now,
    startedAt: status === 'in_progress' ? now : null,
    completedAt: status === 'completed' ? now : null,
    version: 1,
  };
  store.putTask(task);
  store.emit('task:created', task);
  return task;
}

export function updateTask(store: Store, id: string, patch: TaskPatch, ifMatch?: string): Task {
  const current = getTask(store, id);
  checkVersion(current, ifMatch);
  const { sessionIds, timeline, ...fields } = patch;
  if (fields.dependencies) fields.dependencies = uniq(fields.dependencies);
  const changes = changedFields(current, fields);
  if (changes.parentId) checkParent(store, current.projectId, changes.parentId, id);
  if (changes.dependencies) checkDependencies(store, current.projectId, changes.dependencies, id);
  if (sessionIds) checkTaskSessions(store, current, sessionIds);
  if (timeline) checkTimelineRefs(store, timeline);

  if (Object.keys(changes).length > 0 || timeline?.length) {
    const now = Date.now();
    let next: Task = { ...current, ...changes, updatedAt: now, version: current.version + 1 };
    if (changes.status) next = { ...next, ...statusEffects(current, changes.status, now) };
    if (timeline?.length) {
      next.timeline = [...next.timeline, ...timeline.map((e) => timelineEvent({ ...e, taskId: e.taskId ?? id }, now))];
    }
    store.putTask(next);
    store.emit('task:updated', next);
  }
  if (sessionIds) setTaskSessions(store, id, uniq(sessionIds));
  return store.tasks.get(id)!;
}

export function addTaskTimeline(store: Store, id: string, entry: TimelineInput): Task {
  return updateTask(store, id, { timeline: [entry] });
}

export function deleteTask(store: Store, id: string, ifMatch?: string) {
  const task = getTask(store, id);
  checkVersion(task, ifMatch);
  const now = Date.now();
  for (const sessionId of task.sessionIds) {
    const session = store.sessions.get(sessionId);
    if (!session) continue;
    const next = { ...session, taskIds: session.taskIds.filter((t) => t !== id), lastActivity: now, version: session.version + 1 };
    store.putSession(next);
    store.emit('session:task_removed', { sessionId, taskId: id });
    store.emit('task:session_removed', { taskId: id, sessionId });
    store.emit('session:updated', next);
  }
  for (const childId of [...(store.tasksByParent.get(id) ?? [])]) {
    const child = store.tasks.get(childId)!;
    const next = { ...child, parentId: null, updatedAt: now, version: child.version + 1 };
    store.putTask(next);
    store.emit('task:updated', next);
  }
  for (const otherId of store.tasksByProject.get(task.projectId) ?? []) {
    const other = store.tasks.get(otherId)!;
    if (!other.dependencies.includes(id)) continue;
    const next = { ...other, dependencies: other.dependencies.filter((d) => d !== id), updatedAt: now, version: other.version + 1 };
    store.putTask(next);
    store.emit('task:updated', next);
  }
  store.removeTask(id);
  store.emit('task:deleted', { id });
}

/** The smallest index that covers the filter, then the remaining conditions. */
function candidates(store: Store, filter: TaskFilter): Iterable<string> {
  if (filter.sessionId !== undefined) return store.sessions.get(filter.sessionId)?.taskIds ?? [];
  if (typeof filter.parentId === 'string') return store.tasksByParent.get(filter.parentId) ?? [];
  if (filter.projectId !== undefined) return store.tasksByProject.get(filter.projectId) ?? [];
  return store.tasks.keys();
}

export function listTasks(store: Store, filter: TaskFilter): Task[] {
  const out: Task[] = [];
  const statuses = filter.status ? new Set(filter.status) : undefined;
  for (const id of candidates(store, filter)) {
    const task = store.tasks.get(id);
    if (!task) continue;
    if (filter.projectId !== undefined && task.projectId !== filter.projectId) continue;
    if (filter.parentId !== undefined && task.parentId !== filter.parentId) continue;
    if (statuses && !statuses.has(task.status)) continue;
    out.push(task);
  }
  return out;
}

export function childrenOf(store: Store, id: string): Task[] {
  getTask(store, id);
  return listTasks(store, { parentId: id });
}
