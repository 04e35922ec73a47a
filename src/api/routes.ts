import * as v from 'valibot';
import { FEED_PATH } from '../events/feed.ts';
import { Router } from '../http/router.ts';
import { claimRoutes } from './claims.ts';
import { jsonReply, type RouteDef } from './context.ts';
import { historyRoutes } from './history.ts';
import { mcpRoute } from './mcp.ts';
import { assertDeclared, openApiDocument, openApiRoute } from './openapi.ts';
import { projectRoutes } from './projects.ts';
import { queueRoutes } from './queues.ts';
import { queryParam } from './schemas.ts';
import { sessionRoutes } from './sessions.ts';
import { skillRoutes } from './skills.ts';
import { spawnRoutes } from './spawn.ts';
import { subtaskRoutes } from './subtasks.ts';
import { taskRoutes } from './tasks.ts';
import { templateRoutes } from './templates.ts';

const Health = v.object({
  status: v.picklist(['ok', 'degraded']),
  reason: v.optional(v.string()),
  timestamp: v.number(),
  uptime: v.number(),
  pendingWrites: v.number(),
});

const healthRoutes: RouteDef[] = [{
  method: 'GET', path: '/health', summary: 'Liveness, and whether writes reach the disk', body: null, query: null,
  response: { status: 200, description: 'The health', schema: Health }, errors: [],
  handler: ({ services }) => jsonReply(200, services.health()),
}];

const FeedQuery = v.object({
  since: queryParam('Resume after this event seq (with serverId); the Last-Event-ID header does the same'),
  serverId: queryParam('The serverId of the hello the client saw last'),
  token: queryParam('The token, for clients (EventSource) that cannot set an Authorization header'),
});

const eventRoutes: RouteDef[] = [{
  method: 'GET', path: FEED_PATH, summary: 'Every change as Server-Sent Events (SPEC §12): hello, replay, then live', body: null, query: FeedQuery,
  response: {
    status: 200, contentType: 'text/event-stream',
    description: '`event: hello`, then per change `id: <seq>`, `event: <type>`, `data: <the WebSocket message>`',
    schema: v.string(),
  },
  errors: [],
  handler: ({ services, req, query }) => services.hub.feedReply(req, query),
}];

export const apiRoutes: RouteDef[] = [
  ...healthRoutes, ...eventRoutes, ...projectRoutes, ...taskRoutes, ...claimRoutes, ...subtaskRoutes, ...spawnRoutes,
  ...sessionRoutes, ...queueRoutes, ...historyRoutes, ...skillRoutes, ...templateRoutes,
];

/**
 * Every route the server answers: the API, then `GET /openapi.json` (the document of
 * all of them, built here once) and `POST /mcp` (tools over the API routes).
 */
export function routeTable(api: RouteDef[] = apiRoutes): RouteDef[] {
  api.forEach(assertDeclared);
  const table = [...api, mcpRoute(api)];
  let document = '';
  table.push(openApiRoute(() => document));
  document = JSON.stringify(openApiDocument(table));
  return table;
}

export function buildRouter(routes: RouteDef[] = routeTable()): Router<RouteDef> {
  const router = new Router<RouteDef>();
  for (const r of routes) router.on(r.method, r.path, r, { rawParams: r.rawParams });
  return router;
}
