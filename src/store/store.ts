import type { Entity, EntityKind, EntityOf, Project, Session, StoreEvent, Task, Template } from '../types.ts';
import { changedFields } from './common.ts';
import { ListCache } from './list-cache.ts';

/** The lists of each kind that are bounded; older entries move to the archive (SPEC §7). */
export const HISTORY_FIELDS = { project: [], task: ['timeline'], session: ['timeline', 'events'], template: [] } as const satisfies Record<EntityKind, readonly string[]>;
export type HistoryKind = 'task' | 'session';
export type HistoryField = 'timeline' | 'events';
export type HistoryEntry = { id: string } & Record<string, unknown>;

/** Entries that left an entity's bounded list, oldest first: the archive must keep them. */
export interface ArchivedEntries {
  kind: HistoryKind;
  id: string;
  field: HistoryField;
  entries: readonly HistoryEntry[];
}

/** What persistence hears: an entity was written (`entity`) or removed (`entity` null). */
export interface EntityChange {
  kind: EntityKind;
  id: string;
  /** Tasks live in a folder per project; needed to find the file of a deleted task. */
  projectId?: string;
  entity: Entity | null;
}

type Listener<T> = (value: T) => void;

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
  private readonly lists = new ListCache();
  private readonly eventListeners: Listener<StoreEvent>[] = [];
  private readonly changeListeners: ((change: EntityChange, previous: Entity | undefined) => void)[] = [];
  private readonly archiveListeners: Listener<ArchivedEntries>[] = [];
  /** How many entries of each bounded list an entity keeps. */
  private readonly historyKeep: number;

  constructor(options: { historyKeep?: number } = {}) {
    this.historyKeep = options.historyKeep ?? 500;
  }

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

  /** A serialised list, built once per store generation and (normalised) filter. */
  cachedList(key: string, build: () => string): Buffer {
    return this.lists.get(this.generation, key, build);
  }

  onEvent(fn: Listener<StoreEvent>) { this.eventListeners.push(fn); }
  /** `previous`: the entity before the change (undefined: it did not exist), what a rollback puts back. */
  onChange(fn: (change: EntityChange, previous: Entity | undefined) => void) { this.changeListeners.push(fn); }
  /** Hears entries leaving a bounded list, before the entity that drops them is stored. */
  onArchive(fn: Listener<ArchivedEntries>) { this.archiveListeners.push(fn); }

  /** Broadcasts an event that changes no entity (spawn requests), or one a mutation here orders. */
  emit(type: string, data: unknown) {
    const event = { type, data };
    for (const fn of this.eventListeners) fn(event);
  }

  /** Stores a new entity (version 1, set by the caller) and emits `<kind>:created`. */
  create<K extends EntityKind>(kind: K, entity: EntityOf<K>): EntityOf<K> {
    const stored = this.put(kind, entity);
    this.emit(`${kind}:created`, stored);
    return stored;
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
    return this.put(kind, { ...current, ...changed, [TOUCHED_FIELD[kind]]: now, version: current.version + 1 });
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
    this.changed(kind, old, null, old);
    this.emit(`${kind}:deleted`, { id });
  }

  private put<K extends EntityKind>(kind: K, given: EntityOf<K>): EntityOf<K> {
    const entity = this.bounded(kind, given);
    const map: Map<string, Entity> = this.byKind[kind];
    const old = map.get(entity.id);
    map.set(entity.id, entity);
    this.reindex(kind, old, entity);
    this.changed(kind, entity, entity, old);
    return entity;
  }

  /**
   * Puts an entity back as it was (`entity` null: absent), with no event and no
   * version bump: the rollback of a change the journal could not make durable.
   */
  restore(change: EntityChange) {
    const map: Map<string, Entity> = this.byKind[change.kind];
    const old = map.get(change.id);
    const next = change.entity ?? undefined;
    if (next) map.set(change.id, next);
    else map.delete(change.id);
    this.reindex(change.kind, old, next);
    const subject = next ?? old;
    if (subject) this.changed(change.kind, subject, change.entity, old);
  }

  /**
   * The entity with each bounded list cut to its newest `historyKeep` entries; the
   * cut entries go to the archive listeners first. So an append costs the same
   * however long the history is.
   */
  private bounded<K extends EntityKind>(kind: K, entity: EntityOf<K>): EntityOf<K> {
    let out = entity;
    for (const field of HISTORY_FIELDS[kind] as readonly HistoryField[]) {
      const list = (out as unknown as Record<HistoryField, HistoryEntry[]>)[field];
      if (list.length <= this.historyKeep) continue;
      const cut = list.length - this.historyKeep;
      const archived: ArchivedEntries = { kind: kind as HistoryKind, id: entity.id, field, entries: list.slice(0, cut) };
      for (const fn of this.archiveListeners) fn(archived);
      out = { ...out, [field]: list.slice(cut) };
    }
    return out;
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

  private changed(kind: EntityKind, entity: Entity, now: Entity | null, previous: Entity | undefined) {
    this.generation++;
    const projectId = kind === 'task' ? (entity as Task).projectId : undefined;
    const change = { kind, id: entity.id, ...(projectId ? { projectId } : {}), entity: now };
    for (const fn of this.changeListeners) fn(change, previous);
  }

  /**
   * Fill the store from disk, oldest first, with no events and no writes.
   * Link repair happens before this, on the plain loaded data. Returns the
   * entities whose bounded lists were longer than `historyKeep` (older files, a
   * larger setting before): cut here, their entries sent to the archive
   * listeners; they must be written back.
   */
  load(projects: Project[], tasks: Task[], sessions: Session[], templates: Template[] = []): EntityChange[] {
    const byAge = (a: { createdAt: number; id: string }, b: { createdAt: number; id: string }) =>
      a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1);
    const trimmed: EntityChange[] = [];
    const keep = <K extends EntityKind>(kind: K, loaded: EntityOf<K>): EntityOf<K> => {
      const entity = this.bounded(kind, loaded);
      if (entity !== loaded) {
        const projectId = kind === 'task' ? (entity as Task).projectId : undefined;
        trimmed.push({ kind, id: entity.id, ...(projectId ? { projectId } : {}), entity });
      }
      return entity;
    };
    for (const p of projects.sort(byAge)) this.byKind.project.set(p.id, p);
    for (const t of templates.sort(byAge)) this.byKind.template.set(t.id, t);
    for (const loaded of tasks.sort(byAge)) {
      const t = keep('task', loaded);
      this.byKind.task.set(t.id, t);
      this.reindex('task', undefined, t);
    }
    const sessionsByAge = sessions.map((s) => ({ createdAt: s.startedAt, id: s.id, s })).sort(byAge);
    for (const { s: loaded } of sessionsByAge) {
      const s = keep('session', loaded);
      this.byKind.session.set(s.id, s);
      this.reindex('session', undefined, s);
    }
    return trimmed;
  }
}
