import { ApiError, projectNotFound } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Project } from '../types.ts';
import { changedFields, checkVersion } from './common.ts';
import type { Store } from './store.ts';

export interface ProjectInput {
  name: string;
  workingDir?: string;
  description?: string;
}

export type ProjectPatch = Partial<ProjectInput>;

export function getProject(store: Store, id: string): Project {
  const project = store.projects.get(id);
  if (!project) throw projectNotFound(id);
  return project;
}

export function createProject(store: Store, input: ProjectInput): Project {
  const now = Date.now();
  const project: Project = {
    id: newId('proj'),
    name: input.name,
    workingDir: input.workingDir ?? '',
    description: input.description ?? '',
    createdAt: now,
    updatedAt: now,
    version: 1,
  };
  store.putProject(project);
  store.emit('project:created', project);
  return project;
}

export function updateProject(store: Store, id: string, patch: ProjectPatch, ifMatch?: string): Project {
  const current = getProject(store, id);
  checkVersion(current, ifMatch);
  const changes = changedFields(current, patch);
  if (Object.keys(changes).length === 0) return current;
  const next: Project = { ...current, ...changes, updatedAt: Date.now(), version: current.version + 1 };
  store.putProject(next);
  store.emit('project:updated', next);
  return next;
}

export function deleteProject(store: Store, id: string, ifMatch?: string) {
  const current = getProject(store, id);
  checkVersion(current, ifMatch);
  const tasks = store.tasksByProject.get(id)?.size ?? 0;
  const sessions = store.sessionsByProject.get(id)?.size ?? 0;
  if (tasks > 0 || sessions > 0) {
    throw new ApiError(400, 'PROJECT_HAS_DEPENDENCIES',
      `Project ${id} still has ${tasks} task(s) and ${sessions} session(s)`, { tasks, sessions });
  }
  store.removeProject(id);
  store.emit('project:deleted', { id });
}
