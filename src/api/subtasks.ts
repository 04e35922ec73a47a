import * as v from 'valibot';
import { createSubtask, deleteSubtask, listSubtasks, updateSubtask } from '../store/subtasks.ts';
import { type Ctx, deletedReply, jsonReply, parseBody, type RouteDef } from './context.ts';
import { nonEmptyString } from './schemas.ts';

const order = v.pipe(v.number(), v.integer());
const CreateSubtask = v.object({ title: nonEmptyString, description: v.optional(v.string()), order: v.optional(order) });
const UpdateSubtask = v.object({
  title: v.optional(nonEmptyString),
  description: v.optional(v.string()),
  completed: v.optional(v.boolean()),
  order: v.optional(order),
});

const path = '/api/tasks/:id/subtasks/:subtaskId';

export const subtaskRoutes: RouteDef[] = [
  { method: 'GET', path: '/api/tasks/:id/subtasks', handler: ({ services, params }) => jsonReply(200, listSubtasks(services.store, params.id)) },
  {
    method: 'POST', path: '/api/tasks/:id/subtasks', body: true,
    handler: ({ services, params, body, ifMatch }) =>
      jsonReply(201, createSubtask(services.store, params.id, parseBody(CreateSubtask, body), ifMatch)),
  },
  ...['PATCH', 'PUT'].map((method) => ({
    method, path, body: true,
    handler: ({ services, params, body, ifMatch }: Ctx) =>
      jsonReply(200, updateSubtask(services.store, params.id, params.subtaskId, parseBody(UpdateSubtask, body), ifMatch)),
  })),
  {
    method: 'DELETE', path,
    handler: ({ services, params, ifMatch }) => {
      deleteSubtask(services.store, params.id, params.subtaskId, ifMatch);
      return deletedReply(params.subtaskId);
    },
  },
];
