import * as v from 'valibot';
import { claimNextTask, claimTask, heartbeat, releaseTask } from '../store/claims.ts';
import { getTask } from '../store/tasks.ts';
import { entityReply, jsonReply, parseBody, type RouteDef } from './context.ts';
import { id, priority } from './schemas.ts';

/** SPEC §10: claims, the ready queue and heartbeats. */

const ClaimBody = v.object({ sessionId: id });
const ClaimNextBody = v.object({ projectId: id, sessionId: id, priority: v.optional(priority) });
const ReleaseBody = v.object({ sessionId: v.optional(id), force: v.optional(v.boolean()) });

export const claimRoutes: RouteDef[] = [
  {
    method: 'POST', path: '/api/tasks/:id/claim', body: true,
    handler: ({ services, params, body }) => {
      getTask(services.store, params.id); // SPEC order: an unknown task is 404 whatever the body
      return entityReply(200, claimTask(services.store, params.id, parseBody(ClaimBody, body).sessionId));
    },
  },
  {
    method: 'POST', path: '/api/tasks/claim-next', body: true,
    handler: ({ services, body }) => entityReply(200, claimNextTask(services.store, parseBody(ClaimNextBody, body))),
  },
  {
    method: 'POST', path: '/api/tasks/:id/release', body: true,
    handler: ({ services, params, body }) => {
      getTask(services.store, params.id); // SPEC order: an unknown task is 404 whatever the body
      return entityReply(200, releaseTask(services.store, params.id, parseBody(ReleaseBody, body ?? {})));
    },
  },
  {
    // The body is optional and ignored, so it is never read.
    method: 'POST', path: '/api/sessions/:id/heartbeat',
    handler: ({ services, params }) => jsonReply(200, heartbeat(services.store, params.id)),
  },
];
