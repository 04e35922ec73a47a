import * as v from 'valibot';
import { SessionFile } from '../persistence/schemas.ts';
import { link, unlink } from '../store/links.ts';
import {
  addSessionEvent, addSessionTimeline, createSession, deleteSession, getSession, listSessions, updateSession,
} from '../store/sessions.ts';
import type { Store } from '../store/store.ts';
import { normalStatuses } from '../store/list-cache.ts';
import { SESSION_STATUSES } from '../types.ts';
import { cachedListReply, type Ctx, entityReply, entityRoutes, queryList, type RouteDef } from './context.ts';
import { id, idList, jsonObject, nonEmptyString, queryParam, sessionStatus, strategy, stringMap, timelineType } from './schemas.ts';

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

const SessionListQuery = v.object({
  projectId: queryParam('Only sessions of this project'),
  taskId: queryParam('Only sessions linked to this task'),
  status: queryParam('Comma list of statuses'),
  active: queryParam('"true": only sessions not completed, failed or stopped'),
});

function listHandler({ services, query }: Ctx) {
  const filter = {
    projectId: query.get('projectId') ?? undefined,
    taskId: query.get('taskId') ?? undefined,
    status: normalStatuses(queryList(query, 'status'), SESSION_STATUSES),
    active: query.get('active') === 'true',
  };
  return cachedListReply(services.store, `sessions:${JSON.stringify(filter)}`, () => listSessions(services.store, filter));
}

function create(store: Store, input: v.InferOutput<typeof CreateSession>) {
  const { taskId, taskIds, ...rest } = input;
  return createSession(store, { ...rest, taskIds: [...(taskIds ?? []), ...(taskId ? [taskId] : [])] });
}

const session = { status: 201, description: 'The session', schema: SessionFile };
const linkErrors = ['SESSION_NOT_FOUND', 'TASK_NOT_FOUND'] as const;

export const sessionRoutes: RouteDef[] = [
  ...entityRoutes('/api/sessions', {
    name: 'session',
    entity: SessionFile,
    notFound: 'SESSION_NOT_FOUND',
    list: { summary: 'Sessions, oldest first, filtered', query: SessionListQuery, errors: [], handler: listHandler },
    create: { body: CreateSession, errors: ['PROJECT_NOT_FOUND', 'TASK_NOT_FOUND', 'VALIDATION_ERROR'], run: create },
    get: getSession,
    update: { body: UpdateSession, errors: ['TASK_NOT_FOUND', 'VALIDATION_ERROR'], run: updateSession },
    remove: { errors: [], run: deleteSession },
  }),
  {
    method: 'POST', path: '/api/sessions/:id/events', summary: "Append an event to a session's events", body: SessionEventBody, query: null,
    response: session, errors: ['SESSION_NOT_FOUND'],
    handler: ({ services, params, body }: Ctx<v.InferOutput<typeof SessionEventBody>>) =>
      entityReply(201, addSessionEvent(services.store, params.id, body)),
  },
  {
    method: 'POST', path: '/api/sessions/:id/timeline', body: TimelineBody, query: null,
    summary: "Append to a session's timeline (and with taskId to that task's too)",
    response: session, errors: [...linkErrors, 'VALIDATION_ERROR'],
    handler: ({ services, params, body }: Ctx<v.InferOutput<typeof TimelineBody>>) =>
      entityReply(201, addSessionTimeline(services.store, params.id, body)),
  },
  {
    method: 'POST', path: '/api/sessions/:id/tasks/:taskId', summary: 'Link a task to a session', body: null, query: null,
    response: { ...session, status: 200 }, errors: [...linkErrors, 'VALIDATION_ERROR'],
    handler: ({ services, params }) => entityReply(200, link(services.store, params.id, params.taskId)),
  },
  {
    method: 'DELETE', path: '/api/sessions/:id/tasks/:taskId', summary: 'Unlink a task from a session', body: null, query: null,
    response: { ...session, status: 200 }, errors: [...linkErrors],
    handler: ({ services, params }) => entityReply(200, unlink(services.store, params.id, params.taskId)),
  },
];
