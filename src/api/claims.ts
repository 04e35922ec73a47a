import * as v from 'valibot';
import { TaskFile } from '../persistence/schemas.ts';
import { claimNextTask, claimTask, heartbeat, releaseTask } from '../store/claims.ts';
import { getTask } from '../store/tasks.ts';
import { type Ctx, entityReply, jsonReply, type RouteDef } from './context.ts';
import { id, priority, sessionStatus } from './schemas.ts';

/** SPEC §10: claims, the ready queue and heartbeats. */

const ClaimBody = v.object({ sessionId: id });
const ClaimNextBody = v.object({ projectId: id, sessionId: id, priority: v.optional(priority) });
// The body is optional (SPEC §10); without sessionId or force the release is refused.
const ReleaseBody = v.optional(v.object({ sessionId: v.optional(id), force: v.optional(v.boolean()) }), {});

const Heartbeat = v.object({ sessionId: v.string(), status: sessionStatus, leaseExpiresAt: v.number() });

const task = { status: 200, description: 'The task', schema: TaskFile };
// SPEC order: an unknown task is 404 whatever the body.
const taskExists = (store: Parameters<typeof getTask>[0], params: Record<string, string>) => getTask(store, params.id);

export const claimRoutes: RouteDef[] = [
  {
    method: 'POST', path: '/api/tasks/:id/claim', summary: 'Claim a ready task for a session (SPEC §10)', body: ClaimBody, query: null,
    response: task,
    errors: ['TASK_NOT_FOUND', 'SESSION_NOT_FOUND', 'SESSION_ENDED', 'TASK_CLAIMED', 'TASK_CLOSED', 'TASK_NOT_READY', 'VALIDATION_ERROR'],
    mustExist: taskExists,
    handler: ({ services, params, body }: Ctx<v.InferOutput<typeof ClaimBody>>) =>
      entityReply(200, claimTask(services.store, params.id, body.sessionId)),
  },
  {
    method: 'POST', path: '/api/tasks/claim-next', summary: "Claim a project's next ready task (priority, then oldest)", body: ClaimNextBody,
    query: null, response: task, errors: ['PROJECT_NOT_FOUND', 'SESSION_NOT_FOUND', 'SESSION_ENDED', 'NO_READY_TASK', 'VALIDATION_ERROR'],
    handler: ({ services, body }: Ctx<v.InferOutput<typeof ClaimNextBody>>) => entityReply(200, claimNextTask(services.store, body)),
  },
  {
    method: 'POST', path: '/api/tasks/:id/release', summary: 'Release a claim (by its holder, or with force)', body: ReleaseBody, query: null,
    response: task, errors: ['TASK_NOT_FOUND', 'TASK_CLAIMED', 'VALIDATION_ERROR'],
    mustExist: taskExists,
    handler: ({ services, params, body }: Ctx<v.InferOutput<typeof ReleaseBody>>) =>
      entityReply(200, releaseTask(services.store, params.id, body)),
  },
  {
    // The body is optional and ignored, so it is never read.
    method: 'POST', path: '/api/sessions/:id/heartbeat', summary: "Renew a session's lease", body: null, query: null,
    response: { status: 200, description: 'The session and its new lease end', schema: Heartbeat },
    errors: ['SESSION_NOT_FOUND', 'SESSION_ENDED'],
    handler: ({ services, params }) => jsonReply(200, heartbeat(services.store, params.id)),
  },
];
