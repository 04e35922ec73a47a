import * as v from 'valibot';
import { templateNotFound, validationError } from '../errors.ts';
import { TemplateFile } from '../persistence/schemas.ts';
import {
  createTemplate, deleteTemplate, getTemplate, resetTemplate, templateOfRole, updateTemplate,
} from '../store/templates.ts';
import { BUILTIN_TEMPLATES } from '../templates/builtin.ts';
import { ROLES, type Role } from '../types.ts';
import { entityReply, entityRoutes, jsonReply, listReply, type RouteDef } from './context.ts';
import { nonEmptyString } from './schemas.ts';

const role = v.picklist(ROLES);
const CreateTemplate = v.object({ name: nonEmptyString, role, content: v.string() });
const UpdateTemplate = v.object({ name: v.optional(nonEmptyString), content: v.optional(v.string()) });
const DefaultTemplate = v.object({ role, content: v.string() });

function roleParam(value: string): Role {
  if (!(ROLES as readonly string[]).includes(value)) {
    throw validationError(`role must be one of ${ROLES.join(', ')}`, { field: 'role' });
  }
  return value as Role;
}

export const templateRoutes: RouteDef[] = [
  ...entityRoutes('/api/templates', {
    name: 'template',
    entity: TemplateFile,
    notFound: 'TEMPLATE_NOT_FOUND',
    list: { summary: 'All templates', query: null, errors: [], handler: ({ services }) => listReply([...services.store.all('template')]) },
    create: { body: CreateTemplate, errors: [], run: createTemplate },
    get: getTemplate,
    update: { body: UpdateTemplate, errors: [], run: updateTemplate },
    remove: { errors: ['TEMPLATE_IS_DEFAULT'], run: deleteTemplate },
  }, { put: true }),
  {
    method: 'GET', path: '/api/templates/role/:role', rawParams: true, summary: "A role's template (its default unless another was made)",
    body: null, query: null, response: { status: 200, description: 'The template', schema: TemplateFile },
    errors: ['TEMPLATE_NOT_FOUND', 'VALIDATION_ERROR'],
    handler: ({ services, params }) => {
      const template = templateOfRole(services.store, roleParam(params.role));
      if (!template) throw templateNotFound(`role ${params.role}`);
      return entityReply(200, template);
    },
  },
  {
    method: 'GET', path: '/api/templates/default/:role', rawParams: true, summary: "A role's built-in template text",
    body: null, query: null, response: { status: 200, description: 'The built-in content', schema: DefaultTemplate },
    errors: ['VALIDATION_ERROR'],
    handler: ({ params }) => {
      const r = roleParam(params.role);
      return jsonReply(200, { role: r, content: BUILTIN_TEMPLATES[r].content });
    },
  },
  // No body: the original UI sends a JSON Content-Type and nothing else.
  {
    method: 'POST', path: '/api/templates/:id/reset', summary: 'Put the built-in content back into a template', body: null, query: null,
    response: { status: 200, description: 'The template', schema: TemplateFile }, errors: ['TEMPLATE_NOT_FOUND'],
    handler: ({ services, params }) => entityReply(200, resetTemplate(services.store, params.id)),
  },
];
