import type * as v from 'valibot';
import type {
  ProjectFile, QueueFile, QueueItemFile, SessionEventFile, SessionFile, SubtaskFile, TaskFile, TemplateFile, TimelineEventFile,
} from './persistence/schemas.ts';

export const TASK_STATUSES = ['todo', 'in_progress', 'completed', 'blocked', 'cancelled'] as const;
/** What an agent last reported for a task (SPEC §1, §15). */
export const TASK_SESSION_STATUSES = ['queued', 'working', 'needs_input', 'blocked', 'completed', 'failed', 'skipped'] as const;
export const PRIORITIES = ['low', 'medium', 'high'] as const;
/** `idle` and `working` are the original UI's words, stored as given. */
export const SESSION_STATUSES = ['spawning', 'idle', 'working', 'running', 'needs_input', 'stale', 'completed', 'failed', 'stopped'] as const;
/** A session in one of these has ended; `completedAt` is set. */
export const ENDED_SESSION_STATUSES: readonly string[] = ['completed', 'failed', 'stopped'];
/** A session in one of these keeps its project from being deleted (SPEC §1 "active"). */
export const ACTIVE_SESSION_STATUSES: readonly string[] = ['spawning', 'idle', 'working', 'running', 'needs_input'];
/** SPEC §10: a `stale` session has gone silent; it is neither active nor ended. */
export const STALE_SESSION_STATUS = 'stale';
export const isEndedSession = (status: string) => ENDED_SESSION_STATUSES.includes(status);
export const isActiveSession = (status: string) => ACTIVE_SESSION_STATUSES.includes(status);
export const STRATEGIES = ['simple', 'queue', 'tree'] as const;
export const ROLES = ['worker', 'orchestrator'] as const;
export const QUEUE_ITEM_STATUSES = ['queued', 'processing', 'completed', 'failed', 'skipped'] as const;

export type TaskStatus = (typeof TASK_STATUSES)[number];
export type Priority = (typeof PRIORITIES)[number];
export type SessionStatus = (typeof SESSION_STATUSES)[number];
export type TaskSessionStatus = (typeof TASK_SESSION_STATUSES)[number];
export type Strategy = (typeof STRATEGIES)[number];
export type Role = (typeof ROLES)[number];

/*
 * The shapes of stored entities are the valibot file schemas in
 * `persistence/schemas.ts`: a field is added there, and the compiler then points
 * at every place that builds one (creation defaults, the quick load check).
 */
export type TimelineEvent = v.InferOutput<typeof TimelineEventFile>;
export type Subtask = v.InferOutput<typeof SubtaskFile>;
export type SessionEvent = v.InferOutput<typeof SessionEventFile>;
export type Project = v.InferOutput<typeof ProjectFile>;
export type Task = v.InferOutput<typeof TaskFile>;
export type Session = v.InferOutput<typeof SessionFile>;
export type QueueItem = v.InferOutput<typeof QueueItemFile>;
export type Queue = v.InferOutput<typeof QueueFile>;
export type Template = v.InferOutput<typeof TemplateFile>;

/** Every stored entity kind and its shape; a new kind starts here. */
export interface EntityKinds {
  project: Project;
  task: Task;
  session: Session;
  template: Template;
}
export type EntityKind = keyof EntityKinds;
export type EntityOf<K extends EntityKind> = EntityKinds[K];
export type Entity = EntityKinds[EntityKind];

/** A change the store made, in the order it made it; the hub numbers and broadcasts these. */
export interface StoreEvent {
  type: string;
  data: unknown;
}
