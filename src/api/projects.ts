import * as v from 'valibot';
import { ProjectFile } from '../persistence/schemas.ts';
import { createProject, deleteProject, getProject, updateProject } from '../store/projects.ts';
import { cachedListReply, entityRoutes } from './context.ts';
import { nonEmptyString } from './schemas.ts';

const CreateProject = v.object({
  name: nonEmptyString,
  workingDir: v.optional(v.string()),
  description: v.optional(v.string()),
});
const UpdateProject = v.partial(CreateProject);

export const projectRoutes = entityRoutes('/api/projects', {
  name: 'project',
  entity: ProjectFile,
  notFound: 'PROJECT_NOT_FOUND',
  list: {
    summary: 'All projects, oldest first', query: null, errors: [],
    handler: ({ services }) => cachedListReply(services.store, 'projects', () => [...services.store.all('project')]),
  },
  create: { body: CreateProject, errors: [], run: createProject },
  get: getProject,
  update: { body: UpdateProject, errors: [], run: updateProject },
  remove: { errors: ['PROJECT_HAS_DEPENDENCIES'], run: deleteProject },
}, { put: true });
