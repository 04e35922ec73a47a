import * as v from 'valibot';
import { newId } from '../ids.ts';
import { getProject } from '../store/projects.ts';
import { createSession } from '../store/sessions.ts';
import { uniq } from '../store/common.ts';
import { isPlainFolderName, PLAIN_FOLDER_NAME } from '../skills/library.ts';
import { SessionFile } from '../persistence/schemas.ts';
import { describedAs } from './json-schema.ts';
import { type Ctx, jsonReply, type RouteDef } from './context.ts';
import { id, jsonObject } from './schemas.ts';

const SPAWN_SOURCES = ['manual', 'orchestrator', 'ui', 'cli', 'api', 'session'] as const;

const skillName = v.pipe(v.string(), describedAs(v.check(isPlainFolderName, 'must be a plain folder name'), PLAIN_FOLDER_NAME));

const SpawnBody = v.object({
  projectId: id,
  taskIds: v.pipe(v.array(id), v.minLength(1, 'must name at least one task')),
  role: v.optional(v.picklist(['worker', 'orchestrator']), 'worker'),
  skills: v.optional(v.array(skillName), []),
  sessionName: v.optional(v.pipe(v.string(), v.minLength(1))),
  spawnSource: v.optional(v.picklist(SPAWN_SOURCES), 'api'),
  spawnedBy: v.optional(v.string()),
  // The original CLI names the parent session `sessionId`.
  sessionId: v.optional(v.string()),
  context: v.optional(jsonObject),
  model: v.optional(v.string()),
  permissionMode: v.optional(v.string()),
});

/** SPEC §5: create a `spawning` session, link its tasks, ask the UI for a terminal. */
async function spawnHandler({ services, body: input }: Ctx<v.InferOutput<typeof SpawnBody>>) {
  const { store, skills, logger } = services;
  const project = getProject(store, input.projectId);
  const onDisk = await skills.all();
  const missingSkills = input.skills.filter((s) => !onDisk.has(s));
  if (missingSkills.length) logger.warn(`spawn: skills not in ${skills.dir}: ${missingSkills.join(', ')}`);
  const skillIds = uniq([`maestro-${input.role}`, ...input.skills]);
  const sessionId = newId('sess');
  const taskIds = uniq(input.taskIds);
  const env = {
    MAESTRO_SESSION_ID: sessionId,
    MAESTRO_PROJECT_ID: project.id,
    MAESTRO_TASK_IDS: taskIds.join(','),
    MAESTRO_SERVER_URL: services.serverUrl(),
    MAESTRO_SKILLS: skillIds.join(','),
    MAESTRO_ROLE: input.role,
  };
  const metadata = {
    role: input.role,
    skills: input.skills,
    spawnSource: input.spawnSource,
    spawnedBy: input.spawnedBy ?? input.sessionId ?? null,
    spawnReason: typeof input.context?.reason === 'string' ? input.context.reason : null,
    context: input.context ?? null,
    model: input.model ?? null,
    permissionMode: input.permissionMode ?? null,
  };
  const session = createSession(store, {
    id: sessionId, projectId: project.id, taskIds, name: input.sessionName, status: 'spawning', env, metadata,
  });
  store.emit('session:spawn_request', {
    session, projectId: project.id, taskIds, skillIds, name: session.name, role: input.role,
    workingDir: project.workingDir, env, missingSkills,
  });
  return jsonReply(201, { success: true, sessionId, session, env, missingSkills });
}

const SpawnResult = v.object({
  success: v.literal(true),
  sessionId: v.string(),
  session: SessionFile,
  env: v.record(v.string(), v.string()),
  missingSkills: v.array(v.string()),
});

export const spawnRoutes: RouteDef[] = [{
  method: 'POST', path: '/api/sessions/spawn', summary: 'Spawn an agent session: the UI opens a terminal for it (SPEC §5)',
  body: SpawnBody, query: null, response: { status: 201, description: 'The session and its environment', schema: SpawnResult },
  errors: ['PROJECT_NOT_FOUND', 'TASK_NOT_FOUND', 'VALIDATION_ERROR'], handler: spawnHandler,
}];
