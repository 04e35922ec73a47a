import * as v from 'valibot';
import { finishItem, getQueue, nextQueued, pushTask, queueStats, startNext } from '../store/queues.ts';
import type { Store } from '../store/store.ts';
import { type Ctx, jsonReply, parseBody, type RouteDef } from './context.ts';
import { id } from './schemas.ts';

/** SPEC §15 session queues, with the answer shapes the original CLI reads. */

const FailBody = v.object({ reason: v.optional(v.string()) });
const PushBody = v.object({ taskId: id });

const base = '/api/sessions/:id/queue';

function finish(outcome: 'completed' | 'failed' | 'skipped', key: string) {
  return ({ services, params, body }: Ctx) => {
    const reason = outcome === 'failed' && body !== undefined ? parseBody(FailBody, body).reason : undefined;
    const { item, next } = finishItem(services.store, params.id, outcome, reason);
    return jsonReply(200, {
      success: true, [key]: item, nextItem: next, hasMore: next !== null,
      message: `Task ${item.taskId} ${outcome}${next ? `; next: ${next.taskId}` : '; the queue has nothing left'}`,
    });
  };
}

/** The queue as the CLI's `queue status` prints it: with its session id and times (the session's). */
const overview = (store: Store, sessionId: string) => {
  const { session, queue } = getQueue(store, sessionId);
  return {
    queue: { sessionId, strategy: session.strategy, ...queue, createdAt: session.startedAt, updatedAt: session.lastActivity },
    stats: queueStats(queue),
  };
};

export const queueRoutes: RouteDef[] = [
  { method: 'GET', path: base, handler: ({ services, params }) => jsonReply(200, overview(services.store, params.id)) },
  {
    method: 'GET', path: `${base}/items`,
    handler: ({ services, params }) => {
      const { queue, stats } = overview(services.store, params.id);
      return jsonReply(200, { items: queue.items, stats });
    },
  },
  {
    method: 'GET', path: `${base}/top`,
    handler: ({ services, params }) => {
      const item = nextQueued(getQueue(services.store, params.id).queue);
      return jsonReply(200, item ? { hasMore: true, item } : { hasMore: false, item: null, message: 'The queue has nothing left' });
    },
  },
  {
    method: 'POST', path: `${base}/start`,
    handler: ({ services, params }) => {
      const item = startNext(services.store, params.id);
      return jsonReply(200, item
        ? { success: true, item, message: `Started task ${item.taskId}` }
        : { success: true, item: null, empty: true, message: 'The queue has nothing left to start' });
    },
  },
  { method: 'POST', path: `${base}/complete`, handler: finish('completed', 'completedItem') },
  // A reason is optional, and so is the body.
  { method: 'POST', path: `${base}/fail`, body: true, handler: finish('failed', 'failedItem') },
  { method: 'POST', path: `${base}/skip`, handler: finish('skipped', 'skippedItem') },
  {
    method: 'POST', path: `${base}/push`, body: true,
    handler: ({ services, params, body }) =>
      jsonReply(200, { success: true, item: pushTask(services.store, params.id, parseBody(PushBody, body).taskId) }),
  },
];
