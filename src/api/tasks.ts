import * as v from 'valibot';
import { addTaskTimeline, childrenOf, createTask, deleteTask, getTask, listTasks, updateTask } from '../store/tasks.ts';
import { renewLease } from '../store/leases.ts';
import { type Store, toJson } from '../store/store.ts';
import { normalStatuses } from '../store/list-cache.ts';
import { TASK_STATUSES } from '../types.ts';
import { type Ctx, entityReply, entityRoutes, listReply, parseBody, queryList, type RouteDef } from './context.ts';
import { clientRequestId, id, idList, nameList, nonEmptyString, priority, taskSessionStatus, taskStatus, taskStatusInput, timelineEntry, timelineType } from './schemas.ts';

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

const UpdateTask = v.object({
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
const SessionReport = v.object({ sessionStatus: v.optional(taskSessionStatus), sessionId: v.optional(v.string()) });
const isSessionReport = (body: unknown) =>
  typeof body === 'object' && body !== null && (body as { updateSource?: unknown }).updateSource === 'session';

/** A report naming a live session renews its lease (SPEC §15); one naming no session still applies. */
function applyReport(store: Store, id: string, body: unknown, ifMatch?: string) {
  const { sessionStatus, sessionId } = parseBody(SessionReport, body);
  if (sessionId !== undefined) renewLease(store, sessionId);
  return updateTask(store, id, { sessionStatus }, ifMatch);
}

const TimelinePost = v.object({ message: v.string(), type: v.optional(timelineType, 'update'), sessionId: v.optional(id) });

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
  const key = JSON.stringify(filter);
  const json = services.store.cachedList(`tasks:${key}`, () => `[${listTasks(services.store, filter).map(toJson).join(',')}]`);
  return { status: 200, json };
}

export const taskRoutes: RouteDef[] = [
  ...entityRoutes('/api/tasks', {
    list: listHandler,
    create: (store, body) => createTask(store, parseBody(CreateTask, body)),
    get: getTask,
    update: (store, id, body, ifMatch) =>
      (isSessionReport(body) ? applyReport(store, id, body, ifMatch) : updateTask(store, id, parseBody(UpdateTask, body), ifMatch)),
    remove: deleteTask,
  }, { clientRequestId: true }),
  { method: 'GET', path: '/api/tasks/:id/children', handler: ({ services, params }) => listReply(childrenOf(services.store, params.id)) },
  {
    method: 'POST', path: '/api/tasks/:id/timeline', body: true,
    handler: ({ services, params, body }) =>
      entityReply(201, addTaskTimeline(services.store, params.id, parseBody(TimelinePost, body))),
  },
];
