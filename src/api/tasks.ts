import * as v from 'valibot';
import { TaskFile } from '../persistence/schemas.ts';
import { addTaskTimeline, childrenOf, createTask, deleteTask, getTask, listTasks, updateTask } from '../store/tasks.ts';
import { renewLease } from '../store/leases.ts';
import type { Store } from '../store/store.ts';
import { normalStatuses } from '../store/list-cache.ts';
import { TASK_STATUSES } from '../types.ts';
import { cachedListReply, type Ctx, entityReply, entityRoutes, listReply, queryList, type RouteDef } from './context.ts';
import { describedAs } from './json-schema.ts';
import {
  clientRequestId, id, idList, nameList, nonEmptyString, priority, queryParam, taskSessionStatus, taskStatus, taskStatusInput,
  timelineEntry, timelineType,
} from './schemas.ts';

const taskFields = {
  description: v.optional(v.string()),
  initialPrompt: v.optional(v.string()),
  status: v.optional(taskStatus),
  priority: v.optional(priority),
  parentId: v.optional(v.nullable(id)),
  dependencies: v.optional(idList),
  skillIds: v.optional(nameList),
  agentIds: v.optional(nameList),
};

// `clientRequestId` is read by the request pipeline (SPEC §11), never stored.
const CreateTask = v.object({ projectId: id, title: nonEmptyString, ...taskFields, clientRequestId });

export const UpdateTask = v.object({
  title: v.optional(nonEmptyString),
  ...taskFields,
  sessionIds: v.optional(idList),
  sessionStatus: v.optional(taskSessionStatus),
  timeline: v.optional(v.array(timelineEntry('update'))),
});

/**
 * An agent's report (SPEC §15: what the original CLI sends): only `sessionStatus`
 * applies; every other field is ignored, valid or not.
 */
const SessionReport = v.object({
  updateSource: v.literal('session'), sessionStatus: v.optional(taskSessionStatus), sessionId: v.optional(v.string()),
});

/** Any `updateSource` but `"session"` is a plain update (the field itself is ignored). */
const notReport = describedAs(v.custom<unknown>((x) => x !== 'session', 'a report has its own fields'), { not: { const: 'session' } });

/** PATCH /api/tasks/:id: a report when `updateSource` is `"session"`, else an update. */
const PatchTask = v.variant('updateSource', [
  SessionReport,
  v.object({ ...UpdateTask.entries, updateSource: v.optional(notReport) }),
]);

type Report = v.InferOutput<typeof SessionReport>;
const isReport = (body: v.InferOutput<typeof PatchTask>): body is Report => body.updateSource === 'session';

/** A report naming a live session renews its lease (SPEC §15); one naming no session still applies. */
function patchTask(store: Store, id: string, body: v.InferOutput<typeof PatchTask>, ifMatch?: string) {
  if (!isReport(body)) {
    const { updateSource: _, ...input } = body;
    return updateTask(store, id, input, ifMatch);
  }
  if (body.sessionId !== undefined) renewLease(store, body.sessionId);
  return updateTask(store, id, { sessionStatus: body.sessionStatus }, ifMatch);
}

const TimelinePost = v.object({ message: v.string(), type: v.optional(timelineType, 'update'), sessionId: v.optional(id) });

const TaskListQuery = v.object({
  projectId: queryParam('Only tasks of this project'),
  status: queryParam('Comma list of statuses (pending = todo)'),
  parentId: queryParam('Only children of this task; "null" or empty: root tasks'),
  sessionId: queryParam('Only tasks linked to this session'),
  ready: queryParam('"true": only to-do tasks nobody holds whose dependencies are all completed (SPEC §10)'),
});

function listHandler({ services, query }: Ctx) {
  const parentId = query.get('parentId');
  // One spelling per filter (issue 9): `status=todo,pending,todo` is `status=todo`.
  const status = normalStatuses(queryList(query, 'status')?.map(taskStatusInput), TASK_STATUSES);
  const filter = {
    projectId: query.get('projectId') ?? undefined,
    status,
    parentId: parentId === null ? undefined : parentId === 'null' || parentId === '' ? null : parentId,
    sessionId: query.get('sessionId') ?? undefined,
    ready: query.get('ready') === 'true',
  };
  return cachedListReply(services.store, `tasks:${JSON.stringify(filter)}`, () => listTasks(services.store, filter));
}

export const taskRoutes: RouteDef[] = [
  ...entityRoutes('/api/tasks', {
    name: 'task',
    entity: TaskFile,
    notFound: 'TASK_NOT_FOUND',
    list: { summary: 'Tasks, oldest first, filtered', query: TaskListQuery, errors: [], handler: listHandler },
    create: { body: CreateTask, errors: ['PROJECT_NOT_FOUND', 'TASK_NOT_FOUND', 'VALIDATION_ERROR'], run: createTask },
    get: getTask,
    update: {
      body: PatchTask, errors: ['TASK_NOT_FOUND', 'SESSION_NOT_FOUND', 'VALIDATION_ERROR', 'TASK_CLAIMED', 'SESSION_ENDED'], run: patchTask,
    },
    remove: { errors: [], run: deleteTask },
  }, { clientRequestId: true }),
  {
    method: 'GET', path: '/api/tasks/:id/children', summary: "A task's direct children", body: null, query: null,
    response: { status: 200, description: 'The children', schema: v.array(TaskFile) }, errors: ['TASK_NOT_FOUND'],
    handler: ({ services, params }) => listReply(childrenOf(services.store, params.id)),
  },
  {
    method: 'POST', path: '/api/tasks/:id/timeline', summary: "Append an event to a task's timeline", body: TimelinePost, query: null,
    response: { status: 201, description: 'The task', schema: TaskFile }, errors: ['TASK_NOT_FOUND', 'SESSION_NOT_FOUND'],
    handler: ({ services, params, body }: Ctx<v.InferOutput<typeof TimelinePost>>) =>
      entityReply(201, addTaskTimeline(services.store, params.id, body)),
  },
];
