import { mkdir, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { syncFolder } from './atomic.ts';
import { realFs } from './fs.ts';
import * as v from 'valibot';
import type { Logger } from '../log.ts';
import type { ArchivedEntries, EntityChange } from '../store/store.ts';
import type { JournalRecord } from './journal.ts';
import type { Entity, EntityKind, Project, Session, Task, Template } from '../types.ts';
import { CORRUPT_FOLDER, FOLDERS, TMP_MARKER } from './paths.ts';
import { isCurrentProject, isCurrentSession, isCurrentTask, isCurrentTemplate } from './quick-check.ts';
import { ProjectFile, SessionFile, TaskFile, TemplateFile } from './schemas.ts';
import { readFiles } from './read-files.ts';
import { breakDependencyCycles, breakParentLoops } from './repair-graph.ts';

export interface LoadedData {
  projects: Project[];
  tasks: Task[];
  sessions: Session[];
  templates: Template[];
  /** Entities changed by link repair; they must be written back. */
  repaired: EntityChange[];
  /** Entities the journal replay set or removed (SPEC §16); they must be written back. */
  replayed: EntityChange[];
  /** Entries the journal says were cut to an entity's archive, oldest first (entities that exist). */
  archived: ArchivedEntries[];
  quarantined: string[];
}

const SCHEMAS = { project: ProjectFile, task: TaskFile, session: SessionFile, template: TemplateFile };
const QUICK_CHECKS = { project: isCurrentProject, task: isCurrentTask, session: isCurrentSession, template: isCurrentTemplate };

interface FileRef { kind: EntityKind; path: string; projectId?: string }

async function listJson(dir: string, logger: Logger): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (name.includes(TMP_MARKER)) {
      logger.info(`removing leftover temporary file ${path}`);
      await unlink(path).catch(() => {});
    } else if (name.endsWith('.json')) out.push(path);
  }
  return out;
}

async function findFiles(dataDir: string, logger: Logger): Promise<FileRef[]> {
  const refs: FileRef[] = [];
  for (const path of await listJson(join(dataDir, FOLDERS.project), logger)) refs.push({ kind: 'project', path });
  for (const path of await listJson(join(dataDir, FOLDERS.session), logger)) refs.push({ kind: 'session', path });
  for (const path of await listJson(join(dataDir, FOLDERS.template), logger)) refs.push({ kind: 'template', path });
  const taskRoot = join(dataDir, FOLDERS.task);
  for (const entry of await readdir(taskRoot, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory()) continue;
    for (const path of await listJson(join(taskRoot, entry.name), logger)) refs.push({ kind: 'task', path, projectId: entry.name });
  }
  return refs;
}

/** Why a file cannot be loaded, or its entity. */
function parseEntity(ref: FileRef, text: string): { entity?: Entity; problem?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { problem: 'not valid JSON' };
  }
  let entity: Entity;
  const isCurrent: (x: unknown) => x is Entity = QUICK_CHECKS[ref.kind];
  if (isCurrent(raw)) entity = raw;
  else {
    const result = v.safeParse(SCHEMAS[ref.kind], raw);
    if (!result.success) return { problem: `not a valid ${ref.kind}: ${v.getDotPath(result.issues[0]) ?? ''} ${result.issues[0].message}` };
    entity = result.output;
  }
  if (`${entity.id}.json` !== basename(ref.path)) return { problem: `holds id ${entity.id}, not its file name` };
  if (ref.kind === 'task' && (entity as Task).projectId !== ref.projectId) return { problem: 'is in another project\'s folder' };
  return { entity };
}

async function quarantine(dataDir: string, ref: FileRef, problem: string, logger: Logger): Promise<string> {
  const name = [ref.kind, ref.projectId, basename(ref.path), Date.now()].filter(Boolean).join('-');
  const target = join(dataDir, CORRUPT_FOLDER, name);
  await rename(ref.path, target);
  logger.warn(`${ref.path} is ${problem}; moved to ${target}`);
  return target;
}

/** A data folder that cannot be used: a one-line start-up error, never a stack trace. */
export class DataFolderError extends Error {}

/** Creates `path` if missing; a file in its place is a DataFolderError. */
export async function ensureFolder(path: string): Promise<void> {
  try {
    const made = await mkdir(path, { recursive: true });
    // A new folder survives a power loss only once its parent is fsynced.
    if (made !== undefined) for (let dir = path; dir !== dirname(made); dir = dirname(dir)) await syncFolder(realFs, dirname(dir));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new DataFolderError(`${path} must be a folder, but it is a file`);
    throw err;
  }
}

const keyOfRef = (ref: FileRef) => `${ref.kind}:${basename(ref.path, '.json')}`;

/**
 * The journal's records over the loaded entities, in order: each one's last record
 * replaces the entity or removes it. Returns what must be written back.
 */
function replay(data: LoadedData, records: readonly JournalRecord[]): EntityChange[] {
  const last = new Map<string, EntityChange>();
  for (const r of records) if ('kind' in r) last.set(`${r.kind}:${r.id}`, r);
  if (last.size === 0) return [];
  const lists = { project: data.projects, task: data.tasks, session: data.sessions, template: data.templates } as Record<EntityKind, Entity[]>;
  for (const kind of Object.keys(lists) as EntityKind[]) {
    const kept = lists[kind].filter((e) => !last.has(`${kind}:${e.id}`));
    for (const change of last.values()) if (change.kind === kind && change.entity) kept.push(change.entity);
    lists[kind].splice(0, lists[kind].length, ...kept);
  }
  return [...last.values()];
}

/** Every file in the data folder, checked, the journal replayed over them, links repaired. */
export async function loadData(dataDir: string, logger: Logger, workerThreshold?: number, journal: readonly JournalRecord[] = []): Promise<LoadedData> {
  for (const folder of [...Object.values(FOLDERS), CORRUPT_FOLDER]) await ensureFolder(join(dataDir, folder));
  const data: LoadedData = { projects: [], tasks: [], sessions: [], templates: [], repaired: [], replayed: [], archived: [], quarantined: [] };
  const inJournal = new Set(journal.flatMap((r) => ('kind' in r ? [`${r.kind}:${r.id}`] : [])));
  const refs = await findFiles(dataDir, logger);
  const bad: { ref: FileRef; problem: string }[] = [];
  await readFiles(refs.map((r) => r.path), (i, text) => {
    const ref = refs[i];
    const { entity, problem } = text === null ? { problem: 'unreadable' } : parseEntity(ref, text);
    if (problem !== undefined) bad.push({ ref, problem });
    else if (ref.kind === 'project') data.projects.push(entity as Project);
    else if (ref.kind === 'task') data.tasks.push(entity as Task);
    else if (ref.kind === 'session') data.sessions.push(entity as Session);
    else data.templates.push(entity as Template);
  }, workerThreshold);
  for (const { ref, problem } of bad) {
    // Written after the last checkpoint, so not yet durable: the journal holds its state.
    if (inJournal.has(keyOfRef(ref))) logger.warn(`${ref.path} is ${problem}; recovered from the journal`);
    else data.quarantined.push(await quarantine(dataDir, ref, problem, logger));
  }
  data.replayed = replay(data, journal);
  const ids = { task: new Set(data.tasks.map((t) => t.id)), session: new Set(data.sessions.map((x) => x.id)) };
  data.archived = journal.flatMap((r) => ('archived' in r && ids[r.archived.kind].has(r.archived.id) ? [r.archived] : []));
  data.repaired = repairLinks(data.tasks, data.sessions);
  for (const change of data.repaired) logger.warn(`repaired links of ${change.kind} ${change.id}`);
  const graphRepairs = [...breakParentLoops(data.tasks), ...breakDependencyCycles(data.tasks)];
  for (const { task, message } of graphRepairs) {
    logger.warn(`repaired ${message}`);
    if (!data.repaired.some((c) => c.entity === task)) data.repaired.push({ kind: 'task', id: task.id, projectId: task.projectId, entity: task });
  }
  return data;
}

/**
 * Makes the loaded data consistent, in place: ids of entities that do not exist
 * are dropped, and half links (one side names the other, not back) are completed
 * on both sides, since a crash between two writes leaves exactly that.
 */
export function repairLinks(tasks: Task[], sessions: Session[]): EntityChange[] {
  const taskById = new Map(tasks.map((t) => [t.id, t]));
  const sessionById = new Map(sessions.map((s) => [s.id, s]));
  const changed = new Set<Task | Session>();
  const edit = <T extends Task | Session>(entity: T, update: Partial<T>) => {
    Object.assign(entity, update);
    changed.add(entity);
  };
  const isSession = (id: string) => sessionById.has(id);
  for (const task of tasks) {
    const isOtherTask = (id: string) => taskById.has(id) && id !== task.id;
    if (!task.sessionIds.every(isSession)) edit(task, { sessionIds: task.sessionIds.filter(isSession) });
    if (!task.dependencies.every(isOtherTask)) edit(task, { dependencies: task.dependencies.filter(isOtherTask) });
    if (task.parentId !== null && !isOtherTask(task.parentId)) edit(task, { parentId: null });
  }
  const isTask = (id: string) => taskById.has(id);
  for (const session of sessions) {
    if (!session.taskIds.every(isTask)) edit(session, { taskIds: session.taskIds.filter(isTask) });
    for (const taskId of session.taskIds) {
      const task = taskById.get(taskId)!;
      if (!task.sessionIds.includes(session.id)) edit(task, { sessionIds: [...task.sessionIds, session.id] });
    }
  }
  for (const task of tasks) {
    for (const sessionId of task.sessionIds) {
      const session = sessionById.get(sessionId)!;
      if (!session.taskIds.includes(task.id)) edit(session, { taskIds: [...session.taskIds, task.id] });
    }
  }
  return [...changed].map((entity) =>
    'title' in entity
      ? { kind: 'task', id: entity.id, projectId: entity.projectId, entity }
      : { kind: 'session', id: entity.id, entity });
}
