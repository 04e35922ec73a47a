import { skillNotFound, validationError } from '../errors.ts';
import { isPlainFolderName, type Skill } from '../skills/library.ts';
import { formatPrompt, planPrompt } from '../skills/prompt.ts';
import { type Ctx, jsonReply, queryList, type RouteDef } from './context.ts';

function summary(skill: Skill, all: Map<string, Skill>) {
  const { id, name, version, description, type, assignTo, capabilities, dependencies } = skill;
  const missingDependencies = dependencies.filter((d) => !all.has(d));
  return { id, name, version, description, type, assignTo, capabilities, dependencies, missingDependencies };
}

async function getSkill({ services, params }: Ctx) {
  if (!isPlainFolderName(params.id)) throw validationError('A skill id is a plain folder name', { field: 'id' });
  const all = await services.skills.all();
  const skill = all.get(params.id);
  if (!skill) throw skillNotFound(params.id);
  return jsonReply(200, { ...summary(skill, all), instructions: skill.instructions, config: skill.config ?? {} });
}

async function prompt({ services, query }: Ctx) {
  const role = query.get('role') || 'worker';
  const named = queryList(query, 'skills') ?? [];
  const bad = named.find((id) => !isPlainFolderName(id));
  if (bad !== undefined) throw validationError(`Not a skill id: ${bad}`, { field: 'skills' });
  const all = await services.skills.all();
  const plan = planPrompt(all, role, named);
  return jsonReply(200, { role, skills: plan.skills, missing: plan.missing, prompt: formatPrompt(plan.skills.map((id) => all.get(id)!)) });
}

export const skillRoutes: RouteDef[] = [
  {
    method: 'GET', path: '/api/skills',
    handler: async ({ services }) => {
      const all = await services.skills.all();
      return jsonReply(200, [...all.values()].map((s) => summary(s, all)));
    },
  },
  { method: 'GET', path: '/api/skills/prompt', handler: prompt },
  { method: 'GET', path: '/api/skills/:id', handler: getSkill, rawParams: true },
];
