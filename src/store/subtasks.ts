import { subtaskNotFound } from '../errors.ts';
import { newId } from '../ids.ts';
import type { StoreEvent, Subtask, Task } from '../types.ts';
import { subtaskStatus } from '../persistence/schemas.ts';
import { changedFields, checkVersion } from './common.ts';
import type { Store } from './store.ts';
import { getTask } from './tasks.ts';

export interface SubtaskInput {
  title: string;
  description?: string;
  order?: number;
}

export interface SubtaskPatch {
  title?: string;
  description?: string;
  completed?: boolean;
  order?: number;
}

const byOrder = (a: Subtask, b: Subtask) => a.order - b.order || a.createdAt - b.createdAt;

export function listSubtasks(store: Store, taskId: string): Subtask[] {
  return [...getTask(store, taskId).subtasks].sort(byOrder);
}

function findSubtask(task: Task, subtaskId: string): Subtask {
  const subtask = task.subtasks.find((s) => s.id === subtaskId);
  if (!subtask) throw subtaskNotFound(subtaskId);
  return subtask;
}

/** Saves the task's new subtask list; `event` comes just before `task:updated`. */
function putSubtasks(store: Store, task: Task, subtasks: Subtask[], event: StoreEvent, now = Date.now()) {
  store.update('task', task, { subtasks }, now, [event]);
}

export function createSubtask(store: Store, taskId: string, input: SubtaskInput, ifMatch?: string): Subtask {
  const task = getTask(store, taskId);
  checkVersion(task, ifMatch);
  const now = Date.now();
  const last = task.subtasks.reduce((max, s) => Math.max(max, s.order), -1);
  const subtask: Subtask = {
    id: newId('sub'),
    taskId,
    title: input.title,
    description: input.description ?? '',
    completed: false,
    status: subtaskStatus(false),
    order: input.order ?? last + 1,
    createdAt: now,
    updatedAt: now,
    completedAt: null,
  };
  putSubtasks(store, task, [...task.subtasks, subtask], { type: 'subtask:created', data: { taskId, subtask } }, now);
  return subtask;
}

export function updateSubtask(store: Store, taskId: string, subtaskId: string, patch: SubtaskPatch, ifMatch?: string): Subtask {
  const task = getTask(store, taskId);
  checkVersion(task, ifMatch);
  const current = findSubtask(task, subtaskId);
  const changes = changedFields(current, patch);
  if (Object.keys(changes).length === 0) return current;
  const now = Date.now();
  const subtask: Subtask = { ...current, ...changes, updatedAt: now };
  if (changes.completed !== undefined) {
    subtask.completedAt = changes.completed ? now : null;
    subtask.status = subtaskStatus(changes.completed);
  }
  const subtasks = task.subtasks.map((s) => (s.id === subtaskId ? subtask : s));
  putSubtasks(store, task, subtasks, { type: 'subtask:updated', data: { taskId, subtask } }, now);
  return subtask;
}

export function deleteSubtask(store: Store, taskId: string, subtaskId: string, ifMatch?: string) {
  const task = getTask(store, taskId);
  checkVersion(task, ifMatch);
  findSubtask(task, subtaskId);
  putSubtasks(store, task, task.subtasks.filter((s) => s.id !== subtaskId), { type: 'subtask:deleted', data: { taskId, subtaskId } });
}
