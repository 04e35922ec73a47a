import { hostname, platform } from 'node:os';
import { projectNotFound, sessionNotFound, validationError } from '../errors.ts';
import { newId } from '../ids.ts';
import { isActiveSession, isEndedSession, type Session, type SessionEvent, type SessionStatus, type Strategy } from '../types.ts';
import { changedFields, checkVersion, type TimelineInput, timelineEvent, uniq } from './common.ts';
import { releaseClaimsOf } from './claims.ts';
import { renewLease } from './leases.ts';
import { changeLink, linkSessionTasks, requireLinkable } from './links.ts';
import { queueFor } from './queues.ts';
import type { Store } from './store.ts';

export interface SessionInput {
  projectId: string;
  taskIds: string[];
  id?: string;
  name?: string;
  agentId?: string | null;
  status?: SessionStatus;
  strategy?: Strategy;
  /** Set by spawn (SPEC §5); the original UI reads them top-level. */
  role?: string | null;
  spawnSource?: string | null;
  spawnedBy?: string | null;
  model?: string | null;
  env?: Record<string, string>;
  metadata?: Record<string, unknown>;
}

export interface SessionEventInput {
  type: string;
  data?: unknown;
}

export interface SessionPatch {
  name?: string;
  status?: SessionStatus;
  strategy?: Strategy;
  agentId?: string | null;
  env?: Record<string, string>;
  /** Merged one level deep; a `null` value deletes its key. */
  metadata?: Record<string, unknown>;
  taskIds?: string[];
  events?: SessionEventInput[];
}

export interface SessionFilter {
  projectId?: string;
  taskId?: string;
  status?: string[];
  active?: boolean;
}

const HOST = { hostname: hostname(), platform: platform() };

const isEnded = isEndedSession;

export function getSession(store: Store, id: string): Session {
  const session = store.get('session', id);
  if (!session) throw sessionNotFound(id);
  return session;
}

function sessionEvent(input: SessionEventInput, now: number): SessionEvent {
  const event: SessionEvent = { id: newId('evt'), timestamp: now, type: input.type };
  if (input.data !== undefined) event.data = input.data;
  return event;
}

function mergeMetadata(current: Record<string, unknown>, patch: Record<string, unknown>) {
  const out: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = value;
  }
  return out;
}

/** macOS and Windows file systems ignore case: `Agent-1` and `agent-1` would be one file. */
function hasIdIgnoringCase(ids: Iterable<string>, id: string): boolean {
  const folded = id.toLowerCase();
  for (const existing of ids) if (existing.toLowerCase() === folded) return true;
  return false;
}

export function createSession(store: Store, input: SessionInput): Session {
  if (!store.has('project', input.projectId)) throw projectNotFound(input.projectId);
  if (input.id !== undefined && hasIdIgnoringCase(store.ids('session'), input.id)) {
    throw validationError(`A session with id ${input.id} already exists (ids are compared ignoring case)`, { field: 'id' });
  }
  const taskIds = uniq(input.taskIds);
  const tasks = taskIds.map((taskId) => requireLinkable(store, input.projectId, taskId));
  const now = Date.now();
  const id = input.id ?? newId('sess');
  const status = input.status ?? 'running';
  const strategy = input.strategy ?? 'simple';
  const session: Session = {
    id,
    projectId: input.projectId,
    taskIds,
    name: input.name ?? `Session ${id.slice(-6)}`,
    agentId: input.agentId ?? null,
    status,
    strategy,
    role: input.role ?? null,
    spawnSource: input.spawnSource ?? null,
    spawnedBy: input.spawnedBy ?? null,
    model: input.model ?? null,
    queue: queueFor(strategy, taskIds, null, now),
    env: input.env ?? {},
    events: [],
    timeline: [],
    metadata: input.metadata ?? {},
    startedAt: now,
    lastActivity: now,
    completedAt: isEnded(status) ? now : null,
    hostname: HOST.hostname,
    platform: HOST.platform,
    version: 1,
  };
  store.create('session', session);
  for (const task of tasks) changeLink(store, 'added', { sessionId: id, taskId: task.id, task }, now);
  return session;
}

export function updateSession(store: Store, id: string, patch: SessionPatch, ifMatch?: string): Session {
  const current = getSession(store, id);
  renewLease(store, id);
  checkVersion(current, ifMatch);
  const { taskIds, events, metadata, ...fields } = patch;
  if (taskIds) for (const taskId of taskIds) requireLinkable(store, current.projectId, taskId);
  const changes: Partial<Session> = changedFields(current, fields);
  if (metadata) {
    const merged = mergeMetadata(current.metadata, metadata);
    if (JSON.stringify(merged) !== JSON.stringify(current.metadata)) changes.metadata = merged;
  }
  const now = Date.now();
  if (changes.status) changes.completedAt = isEnded(changes.status) ? now : null;
  if (changes.strategy) changes.queue = queueFor(changes.strategy, taskIds ?? current.taskIds, current.queue, now);
  if (events?.length) changes.events = [...current.events, ...events.map((e) => sessionEvent(e, now))];
  if (taskIds) linkSessionTasks(store, current, uniq(taskIds), changes, now);
  const next = store.update('session', current, changes, now);
  if (changes.status && !isActiveSession(changes.status)) releaseClaimsOf(store, next, isEnded(changes.status) ? 'session ended' : 'session stale', now);
  return store.get('session', id)!;
}

export function addSessionEvent(store: Store, id: string, input: SessionEventInput): Session {
  return updateSession(store, id, { events: [input] });
}

/** Appends to the session's timeline, and with `taskId` to that task's timeline too. */
export function addSessionTimeline(store: Store, id: string, input: TimelineInput): Session {
  const session = getSession(store, id);
  renewLease(store, id);
  const task = input.taskId !== undefined ? requireLinkable(store, session.projectId, input.taskId) : undefined;
  const now = Date.now();
  const next = store.update('session', session, {
    timeline: [...session.timeline, timelineEvent({ ...input, sessionId: undefined }, now)],
  }, now);
  if (task) store.update('task', task, { timeline: [...task.timeline, timelineEvent({ ...input, sessionId: id }, now)] }, now);
  return next;
}

export function deleteSession(store: Store, id: string, ifMatch?: string) {
  const session = getSession(store, id);
  checkVersion(session, ifMatch);
  const now = Date.now();
  for (const taskId of session.taskIds) {
    const task = store.get('task', taskId);
    if (task) changeLink(store, 'removed', { sessionId: id, taskId, task, reason: 'session deleted' }, now);
  }
  store.remove('session', id);
}

function candidates(store: Store, filter: SessionFilter): Iterable<string> {
  if (filter.taskId !== undefined) return store.get('task', filter.taskId)?.sessionIds ?? [];
  if (filter.projectId !== undefined) return store.sessionIdsOfProject(filter.projectId);
  return store.ids('session');
}

export function listSessions(store: Store, filter: SessionFilter): Session[] {
  const statuses = filter.status ? new Set(filter.status) : undefined;
  return store.select('session', candidates(store, filter), (session) =>
    (filter.projectId === undefined || session.projectId === filter.projectId)
    && (!statuses || statuses.has(session.status))
    && !(filter.active && !isActiveSession(session.status)));
}
