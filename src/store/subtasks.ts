import { subtaskNotFound } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Subtask, Task } from '../types.ts';
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

function putSubtasks(store: Store, task: Task, subtasks: Subtask[], now: number): Task {
  const next: Task = { ...task, subtasks, updatedAt: now, version: task.version + 1 };
  store.putTask(next);
  return next;
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
    order: input.order ?? last + 1,
    createdAt: now,
    updatedAt: now,
    completedAt: null,
  };
  const next = putSubtasks(store, task, [...task.subtasks, subtask], now);
  store.emit('subtask:created', { taskId, subtask });
  store.emit('task:updated', next);
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
  if (changes.completed !== undefined) subtask.completedAt = changes.completed ? now : null;
  const next = putSubtasks(store, task, task.subtasks.map((s) => (s.id === subtaskId ? subtask : s)), now);
  store.emit('subtask:updated', { taskId, subtask });
  store.emit('task:updated', next);
  return subtask;
}

export function deleteSubtask(store: Store, taskId: string, subtaskId: string, ifMatch?: string) {
  const task = getTask(store, taskId);
  checkVersion(task, ifMatch);
  findSubtask(task, subtaskId);
  const next = putSubtasks(store, task, task.subtasks.filter((s) => s.id !== subtaskId), Date.now());
  store.emit('subtask:deleted', { taskId, subtaskId });
  store.emit('task:updated', next);
}
