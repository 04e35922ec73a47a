import { skillNotFound, validationError } from '../errors.ts';
import { isPlainFolderName, type Skill } from '../skills/library.ts';
import { formatPrompt, planPrompt } from '../skills/prompt.ts';
import * as v from 'valibot';
import { type Ctx, jsonReply, queryList, type RouteDef } from './context.ts';
import { queryParam } from './schemas.ts';

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

const SkillSummary = v.object({
  id: v.string(),
  name: v.string(),
  version: v.string(),
  description: v.string(),
  type: v.picklist(['system', 'role']),
  assignTo: v.array(v.string()),
  capabilities: v.array(v.string()),
  dependencies: v.array(v.string()),
  missingDependencies: v.array(v.string()),
});
const SkillDetail = v.object({ ...SkillSummary.entries, instructions: v.string(), config: v.record(v.string(), v.unknown()) });
const PromptResult = v.object({ role: v.string(), skills: v.array(v.string()), missing: v.array(v.string()), prompt: v.string() });
const PromptQuery = v.object({
  role: queryParam('The role whose skills lead the prompt (default worker)'),
  skills: queryParam('Comma list of further skill ids, in order'),
});

export const skillRoutes: RouteDef[] = [
  {
    method: 'GET', path: '/api/skills', summary: 'Skills on disk, by id', body: null, query: null,
    response: { status: 200, description: 'The skills', schema: v.array(SkillSummary) }, errors: [],
    handler: async ({ services }) => {
      const all = await services.skills.all();
      return jsonReply(200, [...all.values()].map((s) => summary(s, all)));
    },
  },
  {
    method: 'GET', path: '/api/skills/prompt', summary: "A role's skill prompt", body: null, query: PromptQuery,
    response: { status: 200, description: 'The prompt and the skills in it', schema: PromptResult }, errors: ['VALIDATION_ERROR'],
    handler: prompt,
  },
  {
    method: 'GET', path: '/api/skills/:id', summary: 'One skill with its instructions', body: null, query: null, rawParams: true,
    response: { status: 200, description: 'The skill', schema: SkillDetail }, errors: ['SKILL_NOT_FOUND', 'VALIDATION_ERROR'],
    handler: getSkill,
  },
];
