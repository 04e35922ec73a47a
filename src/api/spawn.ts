import * as v from 'valibot';
import { newId } from '../ids.ts';
import { manifestPath, removeManifest, writeManifest } from '../persistence/manifest.ts';
import { uniq } from '../store/common.ts';
import { requireLinkable } from '../store/links.ts';
import { buildManifest } from '../store/spawn-manifest.ts';
import { getProject } from '../store/projects.ts';
import { createSession } from '../store/sessions.ts';
import type { Store } from '../store/store.ts';
import { templateOfRole } from '../store/templates.ts';
import { isPlainFolderName, PLAIN_FOLDER_NAME } from '../skills/library.ts';
import { SessionFile } from '../persistence/schemas.ts';
import { describedAs } from './json-schema.ts';
import { type Ctx, jsonReply, type RouteDef } from './context.ts';
import { checkSpawnCap } from '../store/spawn-cap.ts';
import { clientRequestId, id, jsonObject } from './schemas.ts';

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
  // `tree` is refused: the original CLI refuses a manifest that names it.
  strategy: v.optional(v.picklist(['simple', 'queue'], 'must be simple or queue (tree cannot be run by the CLI)'), 'simple'),
  context: v.optional(jsonObject),
  model: v.optional(v.string()),
  permissionMode: v.optional(v.string()),
  // Read by the request pipeline (SPEC §11), never stored.
  clientRequestId,
});

type SpawnInput = v.InferOutput<typeof SpawnBody>;

/** The session's environment (SPEC §5 step 2): what the terminal and the CLI inside it get. */
function spawnEnv(input: SpawnInput, ids: { sessionId: string; taskIds: string[] }, serverUrl: string, manifestFile: string) {
  return {
    MAESTRO_SESSION_ID: ids.sessionId,
    MAESTRO_PROJECT_ID: input.projectId,
    MAESTRO_TASK_IDS: ids.taskIds.join(','),
    MAESTRO_SERVER_URL: serverUrl,
    MAESTRO_SKILLS: skillIdsOf(input).join(','),
    MAESTRO_ROLE: input.role,
    MAESTRO_STRATEGY: input.strategy,
    MAESTRO_MANIFEST_PATH: manifestFile,
  };
}

const skillIdsOf = (input: SpawnInput) => uniq([`maestro-${input.role}`, ...input.skills]);
const reasonOf = (input: SpawnInput) => (typeof input.context?.reason === 'string' ? input.context.reason : null);
const parentOf = (input: SpawnInput) => input.spawnedBy ?? input.sessionId ?? null;

function spawnMetadata(input: SpawnInput) {
  return {
    role: input.role,
    skills: input.skills,
    spawnSource: input.spawnSource,
    spawnedBy: parentOf(input),
    spawnReason: reasonOf(input),
    context: input.context ?? null,
    model: input.model ?? null,
    permissionMode: input.permissionMode ?? null,
  };
}

/** 404/400 unless the project exists and every task is one of its own. */
function checkTargets(store: Store, input: SpawnInput, taskIds: string[]) {
  const project = getProject(store, input.projectId);
  return { project, tasks: taskIds.map((taskId) => requireLinkable(store, project.id, taskId)) };
}

/**
 * SPEC §5: check, write the manifest durably, then (checking again, since the
 * write let other requests run) create a `spawning` session linked to its tasks
 * and ask every UI for a terminal. Nothing is created or broadcast if any step fails.
 */
async function spawnHandler({ services, body: input }: Ctx<SpawnInput>) {
  const { store, skills, logger, config } = services;
  const taskIds = uniq(input.taskIds);
  const target = checkTargets(store, input, taskIds);
  checkSpawnCap(store, target.project.id, config.maxActiveSessions); // SPEC §5 order: tasks (404/400), then the cap (429)
  const onDisk = await skills.all();
  const missingSkills = input.skills.filter((s) => !onDisk.has(s));
  if (missingSkills.length) logger.warn(`spawn: skills not in ${skills.dir}: ${missingSkills.join(', ')}`);

  const { project, tasks } = checkTargets(store, input, taskIds);
  const sessionId = newId('sess');
  const manifest = buildManifest({
    role: input.role, strategy: input.strategy, project, tasks, skills: input.skills, model: input.model,
    permissionMode: input.permissionMode, reason: reasonOf(input), templateId: templateOfRole(store, input.role)?.id,
  });
  const env = spawnEnv(input, { sessionId, taskIds }, services.serverUrl(), manifestPath(config.dataDir, sessionId));
  await writeManifest(config.dataDir, sessionId, manifest);

  let session;
  try {
    // Again after the awaits, in one step with the creation: other spawns may have run meanwhile.
    checkSpawnCap(store, project.id, config.maxActiveSessions);
    session = createSession(store, {
      id: sessionId, projectId: project.id, taskIds, name: input.sessionName, status: 'spawning', strategy: input.strategy,
      role: input.role, spawnSource: input.spawnSource, spawnedBy: parentOf(input), model: input.model ?? null, env,
      metadata: spawnMetadata(input),
    });
  } catch (err) {
    await removeManifest(config.dataDir, sessionId).catch(() => {});
    throw err;
  }
  const cwd = getProject(store, project.id).workingDir;
  store.emit('session:spawn_request', {
    session, projectId: project.id, taskIds, skillIds: skillIdsOf(input), name: session.name, role: input.role, workingDir: cwd, env,
    missingSkills,
  });
  store.emit('session:spawn', {
    session, command: `maestro ${input.role} init`, cwd, envVars: env, manifest, projectId: project.id, taskIds,
    spawnSource: input.spawnSource, parentSessionId: parentOf(input),
  });
  return jsonReply(201, { success: true, sessionId, session, env, manifestPath: env.MAESTRO_MANIFEST_PATH, missingSkills });
}

const SpawnResult = v.object({
  success: v.literal(true),
  sessionId: v.string(),
  session: SessionFile,
  env: v.record(v.string(), v.string()),
  manifestPath: v.string(),
  missingSkills: v.array(v.string()),
});

export const spawnRoutes: RouteDef[] = [{
  method: 'POST', path: '/api/sessions/spawn', summary: 'Spawn an agent session: the UI opens a terminal for it (SPEC §5)',
  body: SpawnBody, query: null, response: { status: 201, description: 'The session and its environment', schema: SpawnResult },
  errors: ['PROJECT_NOT_FOUND', 'TASK_NOT_FOUND', 'VALIDATION_ERROR', 'SESSION_LIMIT'], clientRequestId: true, handler: spawnHandler,
}];
