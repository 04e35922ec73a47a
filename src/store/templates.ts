import { ApiError, templateNotFound } from '../errors.ts';
import { newId } from '../ids.ts';
import { BUILTIN_TEMPLATES } from '../templates/builtin.ts';
import { ROLES, type Role, type Template } from '../types.ts';
import { checkVersion } from './common.ts';
import type { Store } from './store.ts';

/** Role templates (SPEC §15): the prompts the original UI edits. */

export interface TemplateInput {
  name: string;
  role: Role;
  content: string;
}

export interface TemplatePatch {
  name?: string;
  content?: string;
}

function newTemplate(input: TemplateInput, isDefault: boolean, now = Date.now()): Template {
  return { id: newId('tmpl'), name: input.name, role: input.role, content: input.content, isDefault, createdAt: now, updatedAt: now, version: 1 };
}

/** The defaults to add at start: one per role that has no template at all. */
export function missingDefaults(existing: Iterable<Template>, now = Date.now()): Template[] {
  const roles = new Set([...existing].map((t) => t.role));
  return ROLES.filter((role) => !roles.has(role)).map((role) => newTemplate({ role, ...BUILTIN_TEMPLATES[role] }, true, now));
}

export function getTemplate(store: Store, id: string): Template {
  const template = store.get('template', id);
  if (!template) throw templateNotFound(id);
  return template;
}

/** The role's template: its default, else its oldest; `undefined` if it has none. */
export function templateOfRole(store: Store, role: Role): Template | undefined {
  let oldest: Template | undefined;
  for (const template of store.all('template')) {
    if (template.role !== role) continue;
    if (template.isDefault) return template;
    oldest ??= template;
  }
  return oldest;
}

export function createTemplate(store: Store, input: TemplateInput): Template {
  return store.create('template', newTemplate(input, false));
}

export function updateTemplate(store: Store, id: string, patch: TemplatePatch, ifMatch?: string): Template {
  const current = getTemplate(store, id);
  checkVersion(current, ifMatch);
  return store.update('template', current, patch);
}

/** `content` back to the built-in text of its role; name and `isDefault` stay. */
export function resetTemplate(store: Store, id: string): Template {
  const current = getTemplate(store, id);
  return store.update('template', current, { content: BUILTIN_TEMPLATES[current.role].content });
}

export function deleteTemplate(store: Store, id: string, ifMatch?: string) {
  const current = getTemplate(store, id);
  checkVersion(current, ifMatch);
  if (current.isDefault) throw new ApiError(400, 'TEMPLATE_IS_DEFAULT', `Template ${id} is its role's default and cannot be deleted`, { id });
  store.remove('template', id);
}
