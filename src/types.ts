import type * as v from 'valibot';
import type {
  ProjectFile, SessionEventFile, SessionFile, SubtaskFile, TaskFile, TimelineEventFile,
} from './persistence/schemas.ts';

export const TASK_STATUSES = ['pending', 'in_progress', 'completed', 'blocked', 'cancelled'] as const;
export const PRIORITIES = ['low', 'medium', 'high'] as const;
export const SESSION_STATUSES = ['spawning', 'running', 'needs_input', 'stale', 'completed', 'failed', 'stopped'] as const;
/** A session in one of these has ended; `completedAt` is set. */
export const ENDED_SESSION_STATUSES: readonly string[] = ['completed', 'failed', 'stopped'];
/** SPEC §10: a `stale` session has gone silent; it is neither active nor ended. */
export const STALE_SESSION_STATUS = 'stale';
export const isEndedSession = (status: string) => ENDED_SESSION_STATUSES.includes(status);
export const isActiveSession = (status: string) => status !== STALE_SESSION_STATUS && !isEndedSession(status);

export type TaskStatus = (typeof TASK_STATUSES)[number];
export type Priority = (typeof PRIORITIES)[number];
export type SessionStatus = (typeof SESSION_STATUSES)[number];

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

/** Every stored entity kind and its shape; a new kind starts here. */
export interface EntityKinds {
  project: Project;
  task: Task;
  session: Session;
}
export type EntityKind = keyof EntityKinds;
export type EntityOf<K extends EntityKind> = EntityKinds[K];
export type Entity = EntityKinds[EntityKind];

/** A change the store made, in the order it made it; the hub numbers and broadcasts these. */
export interface StoreEvent {
  type: string;
  data: unknown;
}
