import * as v from 'valibot';
import { SubtaskFile } from '../persistence/schemas.ts';
import { createSubtask, deleteSubtask, listSubtasks, updateSubtask } from '../store/subtasks.ts';
import { DeletedBody, deletedReply, jsonReply, type RouteDef } from './context.ts';
import { nonEmptyString } from './schemas.ts';

const order = v.pipe(v.number(), v.integer());
export const CreateSubtask = v.object({ title: nonEmptyString, description: v.optional(v.string()), order: v.optional(order) });
const UpdateSubtask = v.object({
  title: v.optional(nonEmptyString),
  description: v.optional(v.string()),
  completed: v.optional(v.boolean()),
  order: v.optional(order),
});

const list = '/api/tasks/:id/subtasks';
const one = '/api/tasks/:id/subtasks/:subtaskId';
const subtask = { status: 200, description: 'The subtask', schema: SubtaskFile };

const update: RouteDef<v.InferOutput<typeof UpdateSubtask>> = {
  method: 'PATCH', path: one, summary: 'Update a subtask', body: UpdateSubtask, query: null, response: subtask,
  errors: ['TASK_NOT_FOUND', 'SUBTASK_NOT_FOUND', 'VERSION_CONFLICT'],
  handler: ({ services, params, body, ifMatch }) => jsonReply(200, updateSubtask(services.store, params.id, params.subtaskId, body, ifMatch)),
};

export const subtaskRoutes: RouteDef[] = [
  {
    method: 'GET', path: list, summary: "A task's subtasks, by order", body: null, query: null,
    response: { status: 200, description: 'The subtasks', schema: v.array(SubtaskFile) }, errors: ['TASK_NOT_FOUND'],
    handler: ({ services, params }) => jsonReply(200, listSubtasks(services.store, params.id)),
  },
  {
    method: 'POST', path: list, summary: 'Add a subtask (last unless order says otherwise)', body: CreateSubtask, query: null,
    response: { ...subtask, status: 201 }, errors: ['TASK_NOT_FOUND', 'VERSION_CONFLICT'],
    handler: ({ services, params, body, ifMatch }) => jsonReply(201, createSubtask(services.store, params.id, body, ifMatch)),
  },
  update,
  {
    method: 'DELETE', path: one, summary: 'Delete a subtask', body: null, query: null,
    response: { status: 200, description: 'The id deleted', schema: DeletedBody },
    errors: ['TASK_NOT_FOUND', 'SUBTASK_NOT_FOUND', 'VERSION_CONFLICT'],
    handler: ({ services, params, ifMatch }) => {
      deleteSubtask(services.store, params.id, params.subtaskId, ifMatch);
      return deletedReply(params.subtaskId);
    },
  },
];
