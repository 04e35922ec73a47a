export const TASK_STATUSES = ['pending', 'in_progress', 'completed', 'blocked', 'cancelled'] as const;
export const PRIORITIES = ['low', 'medium', 'high'] as const;
export const SESSION_STATUSES = ['spawning', 'running', 'needs_input', 'completed', 'failed', 'stopped'] as const;
/** A session in one of these has ended; `completedAt` is set. */
export const ENDED_SESSION_STATUSES: readonly string[] = ['completed', 'failed', 'stopped'];

export type TaskStatus = (typeof TASK_STATUSES)[number];
export type Priority = (typeof PRIORITIES)[number];
export type SessionStatus = (typeof SESSION_STATUSES)[number];

export interface TimelineEvent {
  id: string;
  type: string;
  timestamp: number;
  message?: string;
  sessionId?: string;
  taskId?: string;
}

export interface Subtask {
  id: string;
  taskId: string;
  title: string;
  description: string;
  completed: boolean;
  order: number;
  createdAt: number;
  updatedAt: number;
  completedAt: number | null;
}

export interface Project {
  id: string;
  name: string;
  workingDir: string;
  description: string;
  createdAt: number;
  updatedAt: number;
  version: number;
}

export interface Task {
  id: string;
  projectId: string;
  parentId: string | null;
  title: string;
  description: string;
  initialPrompt: string;
  status: TaskStatus;
  priority: Priority;
  sessionIds: string[];
  skillIds: string[];
  agentIds: string[];
  dependencies: string[];
  subtasks: Subtask[];
  timeline: TimelineEvent[];
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  completedAt: number | null;
  version: number;
}

export interface SessionEvent {
  id: string;
  timestamp: number;
  type: string;
  data?: unknown;
}

export interface Session {
  id: string;
  projectId: string;
  taskIds: string[];
  name: string;
  agentId: string | null;
  status: SessionStatus;
  env: Record<string, string>;
  events: SessionEvent[];
  timeline: TimelineEvent[];
  metadata: Record<string, unknown>;
  startedAt: number;
  lastActivity: number;
  completedAt: number | null;
  hostname: string;
  platform: string;
  version: number;
}

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
