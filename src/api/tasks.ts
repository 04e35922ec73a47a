import * as v from 'valibot';
import { addTaskTimeline, childrenOf, createTask, deleteTask, getTask, listTasks, updateTask } from '../store/tasks.ts';
import { toJson } from '../store/store.ts';
import { type Ctx, entityReply, entityRoutes, listReply, parseBody, queryList, type RouteDef } from './context.ts';
import { clientRequestId, id, idList, nameList, nonEmptyString, priority, taskStatus, timelineEntry, timelineType } from './schemas.ts';

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
  timeline: v.optional(v.array(timelineEntry('update'))),
});

const TimelinePost = v.object({ message: v.string(), type: v.optional(timelineType, 'update'), sessionId: v.optional(id) });

function listHandler({ services, query }: Ctx) {
  const parentId = query.get('parentId');
  const status = queryList(query, 'status')?.map((s) => (s === 'todo' ? 'pending' : s));
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
    update: (store, id, body, ifMatch) => updateTask(store, id, parseBody(UpdateTask, body), ifMatch),
    remove: deleteTask,
  }, { clientRequestId: true }),
  { method: 'GET', path: '/api/tasks/:id/children', handler: ({ services, params }) => listReply(childrenOf(services.store, params.id)) },
  {
    method: 'POST', path: '/api/tasks/:id/timeline', body: true,
    handler: ({ services, params, body }) =>
      entityReply(201, addTaskTimeline(services.store, params.id, parseBody(TimelinePost, body))),
  },
];
