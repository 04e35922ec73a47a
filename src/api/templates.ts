import * as v from 'valibot';
import { templateNotFound, validationError } from '../errors.ts';
import {
  createTemplate, deleteTemplate, getTemplate, resetTemplate, templateOfRole, updateTemplate,
} from '../store/templates.ts';
import { BUILTIN_TEMPLATES } from '../templates/builtin.ts';
import { ROLES, type Role } from '../types.ts';
import { entityReply, entityRoutes, jsonReply, listReply, parseBody, type RouteDef } from './context.ts';
import { nonEmptyString } from './schemas.ts';

const role = v.picklist(ROLES);
const CreateTemplate = v.object({ name: nonEmptyString, role, content: v.string() });
const UpdateTemplate = v.object({ name: v.optional(nonEmptyString), content: v.optional(v.string()) });

function roleParam(value: string): Role {
  if (!(ROLES as readonly string[]).includes(value)) {
    throw validationError(`role must be one of ${ROLES.join(', ')}`, { field: 'role' });
  }
  return value as Role;
}

export const templateRoutes: RouteDef[] = [
  ...entityRoutes('/api/templates', {
    list: ({ services }) => listReply([...services.store.all('template')]),
    create: (store, body) => createTemplate(store, parseBody(CreateTemplate, body)),
    get: getTemplate,
    update: (store, id, body, ifMatch) => updateTemplate(store, id, parseBody(UpdateTemplate, body), ifMatch),
    remove: deleteTemplate,
  }, { put: true }),
  {
    method: 'GET', path: '/api/templates/role/:role', rawParams: true,
    handler: ({ services, params }) => {
      const template = templateOfRole(services.store, roleParam(params.role));
      if (!template) throw templateNotFound(`role ${params.role}`);
      return entityReply(200, template);
    },
  },
  {
    method: 'GET', path: '/api/templates/default/:role', rawParams: true,
    handler: ({ params }) => {
      const r = roleParam(params.role);
      return jsonReply(200, { role: r, content: BUILTIN_TEMPLATES[r].content });
    },
  },
  // No body: the original UI sends a JSON Content-Type and nothing else.
  {
    method: 'POST', path: '/api/templates/:id/reset',
    handler: ({ services, params }) => entityReply(200, resetTemplate(services.store, params.id)),
  },
];
