import * as v from 'valibot';
import { createProject, deleteProject, getProject, updateProject } from '../store/projects.ts';
import { type Ctx, deletedReply, entityReply, listReply, parseBody, type RouteDef } from './context.ts';
import { nonEmptyString } from './schemas.ts';

const CreateProject = v.object({
  name: nonEmptyString,
  workingDir: v.optional(v.string()),
  description: v.optional(v.string()),
});
const UpdateProject = v.partial(CreateProject);

export const projectRoutes: RouteDef[] = [
  { method: 'GET', path: '/api/projects', handler: ({ services }) => listReply([...services.store.projects.values()]) },
  {
    method: 'POST', path: '/api/projects', body: true,
    handler: ({ services, body }) => entityReply(201, createProject(services.store, parseBody(CreateProject, body))),
  },
  { method: 'GET', path: '/api/projects/:id', handler: ({ services, params }) => entityReply(200, getProject(services.store, params.id)) },
  ...['PUT', 'PATCH'].map((method) => ({
    method, path: '/api/projects/:id', body: true,
    handler: ({ services, params, body, ifMatch }: Ctx) =>
      entityReply(200, updateProject(services.store, params.id, parseBody(UpdateProject, body), ifMatch)),
  })),
  {
    method: 'DELETE', path: '/api/projects/:id',
    handler: ({ services, params, ifMatch }) => {
      deleteProject(services.store, params.id, ifMatch);
      return deletedReply(params.id);
    },
  },
];
