import { ApiError, projectNotFound } from '../errors.ts';
import { newId } from '../ids.ts';
import { ACTIVE_SESSION_STATUSES, type Project } from '../types.ts';
import { checkVersion } from './common.ts';
import { deleteSession } from './sessions.ts';
import type { Store } from './store.ts';

export interface ProjectInput {
  name: string;
  workingDir?: string;
  description?: string;
}

export type ProjectPatch = Partial<ProjectInput>;

export function getProject(store: Store, id: string): Project {
  const project = store.get('project', id);
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
  return store.create('project', project);
}

export function updateProject(store: Store, id: string, patch: ProjectPatch, ifMatch?: string): Project {
  const current = getProject(store, id);
  checkVersion(current, ifMatch);
  return store.update('project', current, patch);
}

export function deleteProject(store: Store, id: string, ifMatch?: string) {
  const current = getProject(store, id);
  checkVersion(current, ifMatch);
  const tasks = store.taskIdsOfProject(id).size;
  const sessions = store.select('session', store.sessionIdsOfProject(id), () => true);
  const activeSessions = sessions.filter((s) => ACTIVE_SESSION_STATUSES.includes(s.status)).length;
  if (tasks > 0 || activeSessions > 0) {
    throw new ApiError(400, 'PROJECT_HAS_DEPENDENCIES',
      `Project ${id} still has ${tasks} task(s) and ${activeSessions} active session(s)`, { tasks, activeSessions });
  }
  // SPEC §2: the sessions that ended go with their project (and their manifests with them).
  for (const session of sessions) deleteSession(store, session.id);
  store.remove('project', id);
}
