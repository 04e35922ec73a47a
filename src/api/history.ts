import * as v from 'valibot';
import { validationError } from '../errors.ts';
import { SessionEventFile, TimelineEventFile } from '../persistence/schemas.ts';
import type { HistoryEntry, HistoryField, HistoryKind } from '../store/store.ts';
import { getSession } from '../store/sessions.ts';
import { getTask } from '../store/tasks.ts';
import { type Ctx, jsonReply, type RouteDef } from './context.ts';
import { queryParam } from './schemas.ts';

/** SPEC §7: `?limit=` 1–500, 100 when absent. */
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 500;

function limitOf(query: URLSearchParams): number {
  const raw = query.get('limit');
  if (raw === null) return DEFAULT_LIMIT;
  const limit = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
  if (!(limit >= 1 && limit <= MAX_LIMIT)) {
    throw validationError(`limit must be an integer from 1 to ${MAX_LIMIT}`, { fields: [{ field: 'limit', message: `must be an integer from 1 to ${MAX_LIMIT}` }] });
  }
  return limit;
}

const HistoryQuery = v.object({
  limit: queryParam(`Entries in the page, 1-${MAX_LIMIT} (default ${DEFAULT_LIMIT})`),
  before: queryParam('The id of the last entry of the previous page (its `next`): the page after it'),
});

const pageOf = (entry: v.GenericSchema) => v.object({ items: v.array(entry), next: v.nullable(v.string()) });

/** `GET …/timeline` or `…/events`: one page of the whole history, newest first, `{items, next}`. */
function historyRoute(kind: HistoryKind, field: HistoryField): RouteDef {
  const base = kind === 'task' ? '/api/tasks' : '/api/sessions';
  return {
    method: 'GET',
    path: `${base}/:id/${field}`,
    summary: `A page of the ${kind}'s whole ${field} (archived entries too), newest first`,
    body: null,
    query: HistoryQuery,
    response: {
      status: 200, description: '`items`, and `next` (pass it as `before`) while older entries exist',
      schema: pageOf(field === 'events' ? SessionEventFile : TimelineEventFile),
    },
    errors: [kind === 'task' ? 'TASK_NOT_FOUND' : 'SESSION_NOT_FOUND', 'VALIDATION_ERROR'],
    handler: async ({ services, params, query }: Ctx) => {
      const entity = kind === 'task' ? getTask(services.store, params.id) : getSession(services.store, params.id);
      const limit = limitOf(query);
      const current = (entity as unknown as Record<HistoryField, HistoryEntry[]>)[field];
      const page = await services.archive.page(kind, params.id, field, current, limit, query.get('before') ?? undefined);
      return jsonReply(200, page);
    },
  };
}

export const historyRoutes: RouteDef[] = [
  historyRoute('task', 'timeline'),
  historyRoute('session', 'timeline'),
  historyRoute('session', 'events'),
];
