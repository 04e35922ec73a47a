import * as v from 'valibot';
import { TaskFile } from '../persistence/schemas.ts';
import { addTaskTimeline, childrenOf, createTask, deleteTask, getTask, listTasks, updateTask } from '../store/tasks.ts';
import { toJson } from '../store/store.ts';
import { type Ctx, entityReply, entityRoutes, listReply, queryList, type RouteDef } from './context.ts';
import { id, idList, nameList, nonEmptyString, priority, queryParam, taskStatus, timelineEntry, timelineType } from './schemas.ts';

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

const CreateTask = v.object({ projectId: id, title: nonEmptyString, ...taskFields });

export const UpdateTask = v.object({
  title: v.optional(nonEmptyString),
  ...taskFields,
  sessionIds: v.optional(idList),
  timeline: v.optional(v.array(timelineEntry('update'))),
});

const TimelinePost = v.object({ message: v.string(), type: v.optional(timelineType, 'update'), sessionId: v.optional(id) });

const TaskListQuery = v.object({
  projectId: queryParam('Only tasks of this project'),
  status: queryParam('Comma list of statuses (pending = todo)'),
  parentId: queryParam('Only children of this task; "null" or empty: root tasks'),
  sessionId: queryParam('Only tasks linked to this session'),
});

function listHandler({ services, query }: Ctx) {
  const parentId = query.get('parentId');
  const status = queryList(query, 'status')?.map((s) => (s === 'todo' ? 'pending' : s));
  const filter = {
    projectId: query.get('projectId') ?? undefined,
    status,
    parentId: parentId === null ? undefined : parentId === 'null' || parentId === '' ? null : parentId,
    sessionId: query.get('sessionId') ?? undefined,
  };
  const key = JSON.stringify(filter);
  const json = services.store.cachedList(`tasks:${key}`, () => `[${listTasks(services.store, filter).map(toJson).join(',')}]`);
  return { status: 200, json };
}

export const taskRoutes: RouteDef[] = [
  ...entityRoutes('/api/tasks', {
    name: 'task',
    entity: TaskFile,
    notFound: 'TASK_NOT_FOUND',
    list: { summary: 'Tasks, oldest first, filtered', query: TaskListQuery, errors: [], handler: listHandler },
    create: { body: CreateTask, errors: ['PROJECT_NOT_FOUND', 'TASK_NOT_FOUND', 'VALIDATION_ERROR'], run: createTask },
    get: getTask,
    update: { body: UpdateTask, errors: ['TASK_NOT_FOUND', 'SESSION_NOT_FOUND', 'VALIDATION_ERROR'], run: updateTask },
    remove: { errors: [], run: deleteTask },
  }),
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
