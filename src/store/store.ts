import type { Entity, EntityKind, EntityOf, Project, Session, StoreEvent, Task } from '../types.ts';
import { changedFields } from './common.ts';

/** What persistence hears: an entity was written (`entity`) or removed (`entity` null). */
export interface EntityChange {
  kind: EntityKind;
  id: string;
  /** Tasks live in a folder per project; needed to find the file of a deleted task. */
  projectId?: string;
  entity: Entity | null;
}

type Listener<T> = (value: T) => void;

/** Distinct list filters cached at once; past this the cache starts again. */
const MAX_CACHED_LISTS = 64;

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

/** The field each kind stamps with the time of its last change. */
const TOUCHED_FIELD = { project: 'updatedAt', task: 'updatedAt', session: 'lastActivity' } as const satisfies Record<EntityKind, string>;

/**
 * The one source of truth: Maps of immutable entity objects plus the indexes the
 * list filters need. A change replaces the object, so caches keyed by object
 * identity (`toJson`) never go stale. Every change goes through `create`,
 * `update`/`save` and `remove` here, synchronously, so a request's events are
 * broadcast before its response is written.
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
  private readonly lists = new Map<string, Buffer>();
  private listsGeneration = 0;
  private readonly eventListeners: Listener<StoreEvent>[] = [];
  private readonly changeListeners: Listener<EntityChange>[] = [];

  /** A serialised list, built once per store generation and filter. */
  cachedList(key: string, build: () => string): Buffer {
    if (this.listsGeneration !== this.generation) {
      this.lists.clear();
      this.listsGeneration = this.generation;
    }
    let bytes = this.lists.get(key);
    if (bytes === undefined) {
      // A bound on memory: odd filters (repeated statuses, unknown ids) are endless.
      if (this.lists.size >= MAX_CACHED_LISTS) this.lists.clear();
      bytes = Buffer.from(build());
      this.lists.set(key, bytes);
    }
    return bytes;
  }

  onEvent(fn: Listener<StoreEvent>) { this.eventListeners.push(fn); }
  onChange(fn: Listener<EntityChange>) { this.changeListeners.push(fn); }

  emit(type: string, data: unknown) {
    const event = { type, data };
    for (const fn of this.eventListeners) fn(event);
  }

  /** Stores a new entity (version 1, set by the caller) and emits `<kind>:created`. */
  create<K extends EntityKind>(kind: K, entity: EntityOf<K>): EntityOf<K> {
    this.put(kind, entity);
    this.emit(`${kind}:created`, entity);
    return entity;
  }

  /**
   * The one write path for an existing entity. Only the fields of `changes` that
   * differ from `current` count (SPEC §3: a no-op changes nothing, not even the
   * version). Otherwise the version goes up by one, the touched time is `now`, and
   * the entity is stored and marked for writing. Emits nothing: `update` does.
   */
  save<K extends EntityKind>(kind: K, current: EntityOf<K>, changes: Partial<EntityOf<K>>, now = Date.now()): EntityOf<K> {
    const changed = changedFields(current, changes);
    if (Object.keys(changed).length === 0) return current;
    const next = { ...current, ...changed, [TOUCHED_FIELD[kind]]: now, version: current.version + 1 };
    this.put(kind, next);
    return next;
  }

  /** `save`, then, if anything changed, the `before` events and `<kind>:updated`. */
  update<K extends EntityKind>(
    kind: K, current: EntityOf<K>, changes: Partial<EntityOf<K>>, now = Date.now(), before: StoreEvent[] = [],
  ): EntityOf<K> {
    const next = this.save(kind, current, changes, now);
    if (next === current) return current;
    for (const event of before) this.emit(event.type, event.data);
    this.emit(`${kind}:updated`, next);
    return next;
  }

  /** Removes an entity and emits `<kind>:deleted`. */
  remove(kind: EntityKind, id: string) {
    if (kind === 'project') this.removeProject(id);
    else if (kind === 'task') this.removeTask(id);
    else this.removeSession(id);
    this.emit(`${kind}:deleted`, { id });
  }

  private put<K extends EntityKind>(kind: K, entity: EntityOf<K>) {
    if (kind === 'project') this.putProject(entity as Project);
    else if (kind === 'task') this.putTask(entity as Task);
    else this.putSession(entity as Session);
  }

  private changed(change: EntityChange) {
    this.generation++;
    for (const fn of this.changeListeners) fn(change);
  }

  private putProject(project: Project) {
    this.projects.set(project.id, project);
    this.changed({ kind: 'project', id: project.id, entity: project });
  }

  private removeProject(id: string) {
    this.projects.delete(id);
    this.changed({ kind: 'project', id, entity: null });
  }

  private putTask(task: Task) {
    const old = this.tasks.get(task.id);
    if (old && old.parentId !== task.parentId) {
      if (old.parentId) removeFrom(this.tasksByParent, old.parentId, task.id);
    }
    if (task.parentId && old?.parentId !== task.parentId) addTo(this.tasksByParent, task.parentId, task.id);
    if (!old) addTo(this.tasksByProject, task.projectId, task.id);
    this.tasks.set(task.id, task);
    this.changed({ kind: 'task', id: task.id, projectId: task.projectId, entity: task });
  }

  private removeTask(id: string) {
    const task = this.tasks.get(id);
    if (!task) return;
    this.tasks.delete(id);
    removeFrom(this.tasksByProject, task.projectId, id);
    if (task.parentId) removeFrom(this.tasksByParent, task.parentId, id);
    this.changed({ kind: 'task', id, projectId: task.projectId, entity: null });
  }

  private putSession(session: Session) {
    if (!this.sessions.has(session.id)) addTo(this.sessionsByProject, session.projectId, session.id);
    this.sessions.set(session.id, session);
    this.changed({ kind: 'session', id: session.id, entity: session });
  }

  private removeSession(id: string) {
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
