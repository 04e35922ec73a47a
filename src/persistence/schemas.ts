import * as v from 'valibot';
import { ID_PATTERN } from '../ids.ts';
import {
  PRIORITIES, QUEUE_ITEM_STATUSES, ROLES, SESSION_STATUSES, STRATEGIES, TASK_SESSION_STATUSES, TASK_STATUSES,
} from '../types.ts';

/**
 * What a file on disk must hold to be loaded. Fields added after a file was
 * written get their defaults, so older files keep loading; anything else
 * unexpected sends the file to `corrupt/`. These schemas are also the source of
 * the entity types in `types.ts`.
 */
const id = v.pipe(v.string(), v.regex(ID_PATTERN));
const time = v.number();
const maybeTime = v.optional(v.nullable(v.number()), null);
const ids = v.optional(v.array(v.string()), []);

export const TimelineEventFile = v.object({
  id: v.string(),
  type: v.string(),
  timestamp: time,
  message: v.optional(v.string()),
  sessionId: v.optional(v.string()),
  taskId: v.optional(v.string()),
});

/** `status` is derived from `completed` (the original UI reads it), so a file's own value never counts. */
export const SubtaskFile = v.pipe(
  v.object({
    id: v.string(),
    taskId: v.string(),
    title: v.string(),
    description: v.optional(v.string(), ''),
    completed: v.optional(v.boolean(), false),
    status: v.optional(v.unknown()),
    order: v.optional(v.number(), 0),
    createdAt: time,
    updatedAt: time,
    completedAt: maybeTime,
  }),
  v.transform((s) => ({ ...s, status: subtaskStatus(s.completed) })),
);

export const subtaskStatus = (completed: boolean) => (completed ? 'completed' as const : 'todo' as const);

export const SessionEventFile = v.object({ id: v.string(), timestamp: time, type: v.string(), data: v.optional(v.unknown()) });

export const ProjectFile = v.object({
  id,
  name: v.string(),
  workingDir: v.optional(v.string(), ''),
  description: v.optional(v.string(), ''),
  createdAt: time,
  updatedAt: time,
  version: v.optional(v.number(), 1),
});

export const TaskFile = v.object({
  id,
  projectId: id,
  parentId: v.optional(v.nullable(v.string()), null),
  title: v.string(),
  description: v.optional(v.string(), ''),
  initialPrompt: v.optional(v.string(), ''),
  // Files written before `todo` replaced `pending` load as `todo`.
  status: v.pipe(v.picklist([...TASK_STATUSES, 'pending']), v.transform((s) => (s === 'pending' ? 'todo' : s))),
  sessionStatus: v.optional(v.nullable(v.picklist(TASK_SESSION_STATUSES)), null),
  priority: v.optional(v.picklist(PRIORITIES), 'medium'),
  sessionIds: ids,
  skillIds: ids,
  agentIds: ids,
  dependencies: ids,
  claimedBy: v.optional(v.nullable(v.string()), null),
  claimedAt: maybeTime,
  subtasks: v.optional(v.array(SubtaskFile), []),
  timeline: v.optional(v.array(TimelineEventFile), []),
  createdAt: time,
  updatedAt: time,
  startedAt: maybeTime,
  completedAt: maybeTime,
  version: v.optional(v.number(), 1),
});

export const QueueItemFile = v.object({
  taskId: v.string(),
  status: v.picklist(QUEUE_ITEM_STATUSES),
  addedAt: time,
  startedAt: maybeTime,
  completedAt: maybeTime,
  failReason: v.optional(v.nullable(v.string()), null),
});

export const QueueFile = v.object({ items: v.array(QueueItemFile), currentIndex: v.number() });

const maybeString = v.optional(v.nullable(v.string()), null);

export const SessionFile = v.object({
  id,
  projectId: id,
  taskIds: ids,
  name: v.string(),
  agentId: v.optional(v.nullable(v.string()), null),
  status: v.picklist(SESSION_STATUSES),
  strategy: v.optional(v.picklist(STRATEGIES), 'simple'),
  role: maybeString,
  spawnSource: maybeString,
  spawnedBy: maybeString,
  model: maybeString,
  queue: v.optional(v.nullable(QueueFile), null),
  env: v.optional(v.record(v.string(), v.string()), {}),
  events: v.optional(v.array(SessionEventFile), []),
  timeline: v.optional(v.array(TimelineEventFile), []),
  metadata: v.optional(v.record(v.string(), v.unknown()), {}),
  startedAt: time,
  lastActivity: time,
  completedAt: maybeTime,
  hostname: v.optional(v.string(), ''),
  platform: v.optional(v.string(), ''),
  version: v.optional(v.number(), 1),
});

export const TemplateFile = v.object({
  id,
  name: v.string(),
  role: v.picklist(ROLES),
  content: v.string(),
  isDefault: v.optional(v.boolean(), false),
  createdAt: time,
  updatedAt: time,
  version: v.optional(v.number(), 1),
});
