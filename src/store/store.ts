import type { Entity, EntityKind, Project, Session, StoreEvent, Task } from '../types.ts';
import { ListCache } from './list-cache.ts';

/** What persistence hears: an entity was written (`entity`) or removed (`entity` null). */
export interface EntityChange {
  kind: EntityKind;
  id: string;
  /** Tasks live in a folder per project; needed to find the file of a deleted task. */
  projectId?: string;
  entity: Entity | null;
}

type Listener<T> = (value: T) => void;

const jsonCache = new WeakMap<object, string>();

/** The serialised form of an entity, computed once per version (entities are never mutated). */
export function toJson(value: object): string {
  let json = jsonCache.get(value);
  if (json === undefined) {
    json = JSON.stringify(value);
    jsonCache.set(value, json);
  }
  return json;
}

function addTo<K, V>(index: Map<K, Set<V>>, key: K, value: V) {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(index: Map<K, Set<V>>, key: K, value: V) {
  const set = index.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

/**
 * The one source of truth: Maps of immutable entity objects plus the indexes the
 * list filters need. A change replaces the object, so caches keyed by object
 * identity (`toJson`) never go stale. Mutations live in the per-resource modules;
 * they call `put*`/`remove*` and `emit` here, synchronously, so a request's
 * events are broadcast before its response is written.
 */
export class Store {
  readonly projects = new Map<string, Project>();
  readonly tasks = new Map<string, Task>();
  readonly sessions = new Map<string, Session>();
  readonly tasksByProject = new Map<string, Set<string>>();
  readonly tasksByParent = new Map<string, Set<string>>();
  readonly sessionsByProject = new Map<string, Set<string>>();
  /** Grows on every task or session change; list caches compare against it. */
  generation = 0;
  private readonly lists = new ListCache();
  private readonly eventListeners: Listener<StoreEvent>[] = [];
  private readonly changeListeners: Listener<EntityChange>[] = [];

  /** A serialised list, built once per store generation and (normalised) filter. */
  cachedList(key: string, build: () => string): Buffer {
    return this.lists.get(this.generation, key, build);
  }

  onEvent(fn: Listener<StoreEvent>) { this.eventListeners.push(fn); }
  onChange(fn: Listener<EntityChange>) { this.changeListeners.push(fn); }

  emit(type: string, data: unknown) {
    const event = { type, data };
    for (const fn of this.eventListeners) fn(event);
  }

  private changed(change: EntityChange) {
    this.generation++;
    for (const fn of this.changeListeners) fn(change);
  }

  putProject(project: Project) {
    this.projects.set(project.id, project);
    this.changed({ kind: 'project', id: project.id, entity: project });
  }

  removeProject(id: string) {
    this.projects.delete(id);
    this.changed({ kind: 'project', id, entity: null });
  }

  putTask(task: Task) {
    const old = this.tasks.get(task.id);
    if (old && old.parentId !== task.parentId) {
      if (old.parentId) removeFrom(this.tasksByParent, old.parentId, task.id);
    }
    if (task.parentId && old?.parentId !== task.parentId) addTo(this.tasksByParent, task.parentId, task.id);
    if (!old) addTo(this.tasksByProject, task.projectId, task.id);
    this.tasks.set(task.id, task);
    this.changed({ kind: 'task', id: task.id, projectId: task.projectId, entity: task });
  }

  removeTask(id: string) {
    const task = this.tasks.get(id);
    if (!task) return;
    this.tasks.delete(id);
    removeFrom(this.tasksByProject, task.projectId, id);
    if (task.parentId) removeFrom(this.tasksByParent, task.parentId, id);
    this.changed({ kind: 'task', id, projectId: task.projectId, entity: null });
  }

  putSession(session: Session) {
    if (!this.sessions.has(session.id)) addTo(this.sessionsByProject, session.projectId, session.id);
    this.sessions.set(session.id, session);
    this.changed({ kind: 'session', id: session.id, entity: session });
  }

  removeSession(id: string) {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    removeFrom(this.sessionsByProject, session.projectId, id);
    this.changed({ kind: 'session', id, entity: null });
  }

  /**
   * Fill the store from disk, oldest first, with no events and no writes.
   * Link repair happens before this, on the plain loaded data.
   */
  load(projects: Project[], tasks: Task[], sessions: Session[]) {
    const byAge = (a: { createdAt: number; id: string }, b: { createdAt: number; id: string }) =>
      a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1);
    for (const p of projects.sort(byAge)) this.projects.set(p.id, p);
    for (const t of tasks.sort(byAge)) {
      this.tasks.set(t.id, t);
      addTo(this.tasksByProject, t.projectId, t.id);
      if (t.parentId) addTo(this.tasksByParent, t.parentId, t.id);
    }
    const sessionsByAge = sessions.map((s) => ({ createdAt: s.startedAt, id: s.id, s })).sort(byAge);
    for (const { s } of sessionsByAge) {
      this.sessions.set(s.id, s);
      addTo(this.sessionsByProject, s.projectId, s.id);
    }
  }
}
