import { ID_PATTERN } from '../ids.ts';
import {
  PRIORITIES, type Project, type Queue, type QueueItem, QUEUE_ITEM_STATUSES, ROLES, type Session, type SessionEvent,
  SESSION_STATUSES, STRATEGIES, type Subtask, type Task, TASK_SESSION_STATUSES, TASK_STATUSES, type Template, type TimelineEvent,
} from '../types.ts';

/**
 * A quick yes/no for entity files in exactly the current format, which is nearly
 * all of them. Start-up reads every file, and valibot costs about ten times more
 * per entity than these checks. A file this does not accept still goes through
 * the valibot schemas in `schemas.ts`, which fill defaults for older files or say
 * why a file is corrupt; so this must never accept what those would refuse.
 */
type Check = (x: unknown) => boolean;
type Guard<T> = (x: unknown) => x is T;
type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
type OptionalKeys<T> = Exclude<keyof T, RequiredKeys<T>>;

const str: Check = (x) => typeof x === 'string';
const num: Check = (x) => typeof x === 'number';
const bool: Check = (x) => typeof x === 'boolean';
const any: Check = () => true;
const id: Check = (x) => typeof x === 'string' && ID_PATTERN.test(x);
const nullable = (check: Check): Check => (x) => x === null || check(x);
const oneOf = (values: readonly string[]): Check => {
  const set = new Set<unknown>(values);
  return (x) => set.has(x);
};
const arrayOf = (check: Check): Check => (x) => Array.isArray(x) && x.every(check);
const isPlainObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const recordOf = (check: Check): Check => (x) => isPlainObject(x) && Object.values(x).every(check);

/**
 * Exactly these keys: every required one, optional ones allowed, nothing else.
 * The key lists are typed from `T`, so a field added to a schema fails to compile here until it has a check.
 */
function shape<T>(required: Record<RequiredKeys<T>, Check>, optional: Record<OptionalKeys<T>, Check>): Guard<T> {
  const checks: Record<string, Check> = required;
  const optionalChecks: Record<string, Check> = optional;
  const requiredCount = Object.keys(required).length;
  return (x): x is T => {
    if (!isPlainObject(x)) return false;
    let seen = 0;
    for (const key of Object.keys(x)) {
      const check = Object.hasOwn(checks, key) ? checks[key] : Object.hasOwn(optionalChecks, key) ? optionalChecks[key] : undefined;
      if (!check || !check(x[key])) return false;
      if (check === checks[key]) seen++;
    }
    return seen === requiredCount;
  };
}

const ids = arrayOf(str);
const timelineEvent = shape<TimelineEvent>({ id: str, type: str, timestamp: num }, { message: str, sessionId: str, taskId: str });

const subtaskShape = shape<Subtask>({
  id: str, taskId: str, title: str, description: str, completed: bool, status: oneOf(['todo', 'completed']), order: num,
  createdAt: num, updatedAt: num, completedAt: nullable(num),
}, {});
/** `status` is derived from `completed`; a file where they disagree goes through the schema, which derives it. */
const subtask: Check = (x) => subtaskShape(x) && x.status === (x.completed ? 'completed' : 'todo');

export const isCurrentProject = shape<Project>({
  id, name: str, workingDir: str, description: str, createdAt: num, updatedAt: num, version: num,
}, {});

export const isCurrentTask = shape<Task>({
  id, projectId: id, parentId: nullable(str), title: str, description: str, initialPrompt: str,
  status: oneOf(TASK_STATUSES), sessionStatus: nullable(oneOf(TASK_SESSION_STATUSES)), priority: oneOf(PRIORITIES), sessionIds: ids, skillIds: ids, agentIds: ids,
  dependencies: ids, claimedBy: nullable(str), claimedAt: nullable(num), subtasks: arrayOf(subtask), timeline: arrayOf(timelineEvent), createdAt: num, updatedAt: num,
  startedAt: nullable(num), completedAt: nullable(num), version: num,
}, {});

const queueItem = shape<QueueItem>({
  taskId: str, status: oneOf(QUEUE_ITEM_STATUSES), addedAt: num, startedAt: nullable(num), completedAt: nullable(num),
  failReason: nullable(str),
}, {});
const queue = shape<Queue>({ items: arrayOf(queueItem), currentIndex: num }, {});

export const isCurrentSession = shape<Session>({
  id, projectId: id, taskIds: ids, name: str, agentId: nullable(str), status: oneOf(SESSION_STATUSES),
  strategy: oneOf(STRATEGIES), role: nullable(str), spawnSource: nullable(str), spawnedBy: nullable(str), model: nullable(str),
  queue: nullable(queue),
  env: recordOf(str), events: arrayOf(shape<SessionEvent>({ id: str, timestamp: num, type: str }, { data: any })),
  timeline: arrayOf(timelineEvent), metadata: recordOf(any), startedAt: num, lastActivity: num,
  completedAt: nullable(num), hostname: str, platform: str, version: num,
}, {});

export const isCurrentTemplate = shape<Template>({
  id, name: str, role: oneOf(ROLES), content: str, isDefault: bool, createdAt: num, updatedAt: num, version: num,
}, {});
