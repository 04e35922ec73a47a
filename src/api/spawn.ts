import * as v from 'valibot';
import { newId } from '../ids.ts';
import { getProject } from '../store/projects.ts';
import { createSession } from '../store/sessions.ts';
import { uniq } from '../store/common.ts';
import { isPlainFolderName } from '../skills/library.ts';
import { type Ctx, jsonReply, parseBody, type RouteDef } from './context.ts';
import { requireLinkable } from '../store/links.ts';
import { checkSpawnCap } from '../store/spawn-cap.ts';
import { clientRequestId, id, jsonObject } from './schemas.ts';

const SPAWN_SOURCES = ['manual', 'orchestrator', 'ui', 'cli', 'api', 'session'] as const;

const skillName = v.pipe(v.string(), v.check(isPlainFolderName, 'must be a plain folder name'));

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
  // Read by the request pipeline (SPEC §11), never stored.
  clientRequestId,
});

/** SPEC §5: create a `spawning` session, link its tasks, ask the UI for a terminal. */
async function spawnHandler({ services, body }: Ctx) {
  const input = parseBody(SpawnBody, body);
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
  // SPEC §5 order: the tasks (404/400) before the cap (429); after the last await, in one step with the creation.
  for (const taskId of taskIds) requireLinkable(store, project.id, taskId);
  checkSpawnCap(store, project.id, services.config.maxActiveSessions);
  const session = createSession(store, {
    id: sessionId, projectId: project.id, taskIds, name: input.sessionName, status: 'spawning', env, metadata,
  });
  store.emit('session:spawn_request', {
    session, projectId: project.id, taskIds, skillIds, name: session.name, role: input.role,
    workingDir: project.workingDir, env, missingSkills,
  });
  return jsonReply(201, { success: true, sessionId, session, env, missingSkills });
}

export const spawnRoutes: RouteDef[] = [
  { method: 'POST', path: '/api/sessions/spawn', body: true, clientRequestId: true, handler: spawnHandler },
];
