import * as v from 'valibot';
import { QueueItemFile } from '../persistence/schemas.ts';
import { finishItem, getQueue, nextQueued, pushTask, queueStats, startNext } from '../store/queues.ts';
import type { Store } from '../store/store.ts';
import { STRATEGIES } from '../types.ts';
import type { ErrorCode } from '../errors.ts';
import { type Ctx, jsonReply, type RouteDef } from './context.ts';
import { id } from './schemas.ts';

/** SPEC §15 session queues, with the answer shapes the original CLI reads. */

// A reason is optional, and so is the body.
const FailBody = v.optional(v.object({ reason: v.optional(v.string()) }), {});
const PushBody = v.object({ taskId: id });

const base = '/api/sessions/:id/queue';

const count = v.number();
const Stats = v.object({ total: count, queued: count, processing: count, completed: count, failed: count, skipped: count });
const Overview = v.object({
  queue: v.object({
    sessionId: v.string(), strategy: v.picklist(STRATEGIES), items: v.array(QueueItemFile), currentIndex: v.number(),
    createdAt: v.number(), updatedAt: v.number(),
  }),
  stats: Stats,
});
const Items = v.object({ items: v.array(QueueItemFile), stats: Stats });
const Top = v.object({ hasMore: v.boolean(), item: v.nullable(QueueItemFile), message: v.optional(v.string()) });
const Started = v.object({ success: v.literal(true), item: v.nullable(QueueItemFile), empty: v.optional(v.literal(true)), message: v.string() });
const Finished = (key: string) => v.object({
  success: v.literal(true), [key]: QueueItemFile, nextItem: v.nullable(QueueItemFile), hasMore: v.boolean(), message: v.string(),
});
const Pushed = v.object({ success: v.literal(true), item: QueueItemFile });

// Not a queue session, or nothing to act on: 400 VALIDATION_ERROR.
const queueErrors: ErrorCode[] = ['SESSION_NOT_FOUND', 'VALIDATION_ERROR'];

const answer = (description: string, schema: v.GenericSchema) => ({ status: 200, description, schema });

function finish(outcome: 'completed' | 'failed' | 'skipped', key: string) {
  return ({ services, params, body }: Ctx<{ reason?: string } | undefined>) => {
    const reason = outcome === 'failed' ? body?.reason : undefined;
    const { item, next } = finishItem(services.store, params.id, outcome, reason);
    return jsonReply(200, {
      success: true, [key]: item, nextItem: next, hasMore: next !== null,
      message: `Task ${item.taskId} ${outcome}${next ? `; next: ${next.taskId}` : '; the queue has nothing left'}`,
    });
  };
}

function finishRoute(verb: string, outcome: 'completed' | 'failed' | 'skipped', key: string): RouteDef {
  return {
    method: 'POST', path: `${base}/${verb}`, summary: `Mark the processing item ${outcome} (skip: also a queued one)`,
    body: outcome === 'failed' ? FailBody : null, query: null,
    response: answer('The item and the next one', Finished(key)), errors: queueErrors, handler: finish(outcome, key),
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
  {
    method: 'GET', path: base, summary: "A queue session's queue and its counts", body: null, query: null,
    response: answer('The queue', Overview), errors: queueErrors,
    handler: ({ services, params }) => jsonReply(200, overview(services.store, params.id)),
  },
  {
    method: 'GET', path: `${base}/items`, summary: "A queue session's items and counts", body: null, query: null,
    response: answer('The items', Items), errors: queueErrors,
    handler: ({ services, params }) => {
      const { queue, stats } = overview(services.store, params.id);
      return jsonReply(200, { items: queue.items, stats });
    },
  },
  {
    method: 'GET', path: `${base}/top`, summary: 'The next queued item', body: null, query: null,
    response: answer('The next item, or none', Top), errors: queueErrors,
    handler: ({ services, params }) => {
      const item = nextQueued(getQueue(services.store, params.id).queue);
      return jsonReply(200, item ? { hasMore: true, item } : { hasMore: false, item: null, message: 'The queue has nothing left' });
    },
  },
  {
    method: 'POST', path: `${base}/start`, summary: 'Start processing the next queued item', body: null, query: null,
    response: answer('The item started, or none', Started), errors: queueErrors,
    handler: ({ services, params }) => {
      const item = startNext(services.store, params.id);
      return jsonReply(200, item
        ? { success: true, item, message: `Started task ${item.taskId}` }
        : { success: true, item: null, empty: true, message: 'The queue has nothing left to start' });
    },
  },
  finishRoute('complete', 'completed', 'completedItem'),
  finishRoute('fail', 'failed', 'failedItem'),
  finishRoute('skip', 'skipped', 'skippedItem'),
  {
    method: 'POST', path: `${base}/push`, summary: "Append a task of the session's project to the queue", body: PushBody, query: null,
    response: answer('The new item', Pushed), errors: [...queueErrors, 'TASK_NOT_FOUND'],
    handler: ({ services, params, body }: Ctx<v.InferOutput<typeof PushBody>>) =>
      jsonReply(200, { success: true, item: pushTask(services.store, params.id, body.taskId) }),
  },
];
