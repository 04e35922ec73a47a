import * as v from 'valibot';
import { createProject, deleteProject, getProject, updateProject } from '../store/projects.ts';
import { cachedListReply, entityRoutes, parseBody } from './context.ts';
import { nonEmptyString } from './schemas.ts';

const CreateProject = v.object({
  name: nonEmptyString,
  workingDir: v.optional(v.string()),
  description: v.optional(v.string()),
});
const UpdateProject = v.partial(CreateProject);

export const projectRoutes = entityRoutes('/api/projects', {
  list: ({ services }) => cachedListReply(services.store, 'projects', () => [...services.store.all('project')]),
  create: (store, body) => createProject(store, parseBody(CreateProject, body)),
  get: getProject,
  update: (store, id, body, ifMatch) => updateProject(store, id, parseBody(UpdateProject, body), ifMatch),
  remove: deleteProject,
}, { put: true });
