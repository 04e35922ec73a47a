import * as v from 'valibot';
import { link, unlink } from '../store/links.ts';
import {
  addSessionEvent, addSessionTimeline, createSession, deleteSession, getSession, listSessions, updateSession,
} from '../store/sessions.ts';
import type { Store } from '../store/store.ts';
import { normalStatuses } from '../store/list-cache.ts';
import { SESSION_STATUSES } from '../types.ts';
import { cachedListReply, type Ctx, entityReply, entityRoutes, parseBody, queryList, type RouteDef } from './context.ts';
import { id, idList, jsonObject, nonEmptyString, sessionStatus, strategy, stringMap, timelineType } from './schemas.ts';

const agentId = v.optional(v.nullable(v.string()));
const SessionEventBody = v.object({ type: nonEmptyString, data: v.optional(v.unknown()) });

const CreateSession = v.object({
  projectId: id,
  taskIds: v.optional(idList),
  taskId: v.optional(id),
  id: v.optional(id),
  name: v.optional(nonEmptyString),
  agentId,
  status: v.optional(sessionStatus),
  strategy: v.optional(strategy),
  env: v.optional(stringMap),
  metadata: v.optional(jsonObject),
});

const UpdateSession = v.object({
  name: v.optional(nonEmptyString),
  status: v.optional(sessionStatus),
  strategy: v.optional(strategy),
  agentId,
  env: v.optional(stringMap),
  metadata: v.optional(jsonObject),
  taskIds: v.optional(idList),
  events: v.optional(v.array(SessionEventBody)),
});

const TimelineBody = v.object({ message: v.string(), type: v.optional(timelineType, 'progress'), taskId: v.optional(id) });

function listHandler({ services, query }: Ctx) {
  const filter = {
    projectId: query.get('projectId') ?? undefined,
    taskId: query.get('taskId') ?? undefined,
    status: normalStatuses(queryList(query, 'status'), SESSION_STATUSES),
    active: query.get('active') === 'true',
  };
  return cachedListReply(services.store, `sessions:${JSON.stringify(filter)}`, () => listSessions(services.store, filter));
}

function create(store: Store, body: unknown) {
  const { taskId, taskIds, ...input } = parseBody(CreateSession, body);
  return createSession(store, { ...input, taskIds: [...(taskIds ?? []), ...(taskId ? [taskId] : [])] });
}

export const sessionRoutes: RouteDef[] = [
  ...entityRoutes('/api/sessions', {
    list: listHandler,
    create,
    get: getSession,
    update: (store, id, body, ifMatch) => updateSession(store, id, parseBody(UpdateSession, body), ifMatch),
    remove: deleteSession,
  }),
  {
    method: 'POST', path: '/api/sessions/:id/events', body: true,
    handler: ({ services, params, body }) =>
      entityReply(201, addSessionEvent(services.store, params.id, parseBody(SessionEventBody, body))),
  },
  {
    method: 'POST', path: '/api/sessions/:id/timeline', body: true,
    handler: ({ services, params, body }) =>
      entityReply(201, addSessionTimeline(services.store, params.id, parseBody(TimelineBody, body))),
  },
  {
    method: 'POST', path: '/api/sessions/:id/tasks/:taskId',
    handler: ({ services, params }) => entityReply(200, link(services.store, params.id, params.taskId)),
  },
  {
    method: 'DELETE', path: '/api/sessions/:id/tasks/:taskId',
    handler: ({ services, params }) => entityReply(200, unlink(services.store, params.id, params.taskId)),
  },
];
