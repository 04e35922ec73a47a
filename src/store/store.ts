import type { Entity, EntityKind, EntityOf, Project, Session, StoreEvent, Task, Template } from '../types.ts';
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

const NONE: ReadonlySet<string> = new Set();

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
const TOUCHED_FIELD = { project: 'updatedAt', task: 'updatedAt', session: 'lastActivity', template: 'updatedAt' } as const satisfies Record<EntityKind, string>;

/**
 * The one source of truth: private Maps of immutable entity objects plus the
 * indexes the list filters need; readers get entities and read-only id sets.
 * A change replaces the object, so caches keyed by object identity (`toJson`)
 * never go stale. Every change goes through `create`, `save`/`update` and
 * `remove` here, synchronously, so a request's events are broadcast before its
 * response is written. A new entity kind: its type in `EntityKinds`, a Map in
 * `byKind`, its touched field in `TOUCHED_FIELD`, and its indexes in `reindex`.
 */
export class Store {
  private readonly byKind: { [K in EntityKind]: Map<string, EntityOf<K>> } = {
    project: new Map(), task: new Map(), session: new Map(), template: new Map(),
  };
  private readonly tasksByProject = new Map<string, Set<string>>();
  private readonly tasksByParent = new Map<string, Set<string>>();
  private readonly sessionsByProject = new Map<string, Set<string>>();
  /** Grows on every change; list caches compare against it. */
  private generation = 0;
  private readonly lists = new Map<string, Buffer>();
  private listsGeneration = 0;
  private readonly eventListeners: Listener<StoreEvent>[] = [];
  private readonly changeListeners: Listener<EntityChange>[] = [];

  get<K extends EntityKind>(kind: K, id: string): EntityOf<K> | undefined {
    return this.byKind[kind].get(id);
  }

  has(kind: EntityKind, id: string): boolean {
    return this.byKind[kind].has(id);
  }

  /** Every entity of a kind, oldest first. */
  all<K extends EntityKind>(kind: K): IterableIterator<EntityOf<K>> {
    return this.byKind[kind].values();
  }

  ids(kind: EntityKind): IterableIterator<string> {
    return this.byKind[kind].keys();
  }

  /** The entities named in `ids` that exist and pass `keep`, in the order of `ids`. */
  select<K extends EntityKind>(kind: K, ids: Iterable<string>, keep: (entity: EntityOf<K>) => boolean): EntityOf<K>[] {
    const out: EntityOf<K>[] = [];
    for (const id of ids) {
      const entity = this.byKind[kind].get(id);
      if (entity && keep(entity)) out.push(entity);
    }
    return out;
  }

  count(kind: EntityKind): number {
    return this.byKind[kind].size;
  }

  taskIdsOfProject(projectId: string): ReadonlySet<string> { return this.tasksByProject.get(projectId) ?? NONE; }
  childIdsOf(taskId: string): ReadonlySet<string> { return this.tasksByParent.get(taskId) ?? NONE; }
  sessionIdsOfProject(projectId: string): ReadonlySet<string> { return this.sessionsByProject.get(projectId) ?? NONE; }

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

  /** Broadcasts an event that changes no entity (spawn requests), or one a mutation here orders. */
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
    const map: Map<string, Entity> = this.byKind[kind];
    const old = map.get(id);
    if (!old) return;
    map.delete(id);
    this.reindex(kind, old, undefined);
    this.changed(kind, old, null);
    this.emit(`${kind}:deleted`, { id });
  }

  private put(kind: EntityKind, entity: Entity) {
    const map: Map<string, Entity> = this.byKind[kind];
    const old = map.get(entity.id);
    map.set(entity.id, entity);
    this.reindex(kind, old, entity);
    this.changed(kind, entity, entity);
  }

  /** Keeps the indexes in step with one entity going from `old` to `next` (either may be absent). */
  private reindex(kind: EntityKind, old: Entity | undefined, next: Entity | undefined) {
    if (kind === 'task') {
      const [a, b] = [old as Task | undefined, next as Task | undefined];
      if (!a && b) addTo(this.tasksByProject, b.projectId, b.id);
      if (a && !b) removeFrom(this.tasksByProject, a.projectId, a.id);
      if (a?.parentId !== b?.parentId) {
        if (a?.parentId) removeFrom(this.tasksByParent, a.parentId, a.id);
        if (b?.parentId) addTo(this.tasksByParent, b.parentId, b.id);
      }
    } else if (kind === 'session') {
      const [a, b] = [old as Session | undefined, next as Session | undefined];
      if (!a && b) addTo(this.sessionsByProject, b.projectId, b.id);
      if (a && !b) removeFrom(this.sessionsByProject, a.projectId, a.id);
    }
  }

  private changed(kind: EntityKind, entity: Entity, now: Entity | null) {
    this.generation++;
    const projectId = kind === 'task' ? (entity as Task).projectId : undefined;
    for (const fn of this.changeListeners) fn({ kind, id: entity.id, ...(projectId ? { projectId } : {}), entity: now });
  }

  /**
   * Fill the store from disk, oldest first, with no events and no writes.
   * Link repair happens before this, on the plain loaded data.
   */
  load(projects: Project[], tasks: Task[], sessions: Session[], templates: Template[] = []) {
    const byAge = (a: { createdAt: number; id: string }, b: { createdAt: number; id: string }) =>
      a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1);
    for (const p of projects.sort(byAge)) this.byKind.project.set(p.id, p);
    for (const t of templates.sort(byAge)) this.byKind.template.set(t.id, t);
    for (const t of tasks.sort(byAge)) {
      this.byKind.task.set(t.id, t);
      this.reindex('task', undefined, t);
    }
    const sessionsByAge = sessions.map((s) => ({ createdAt: s.startedAt, id: s.id, s })).sort(byAge);
    for (const { s } of sessionsByAge) {
      this.byKind.session.set(s.id, s);
      this.reindex('session', undefined, s);
    }
  }
}
