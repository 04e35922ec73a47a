import * as v from 'valibot';
import { Router } from '../http/router.ts';
import { jsonReply, type RouteDef } from './context.ts';
import { mcpRoute } from './mcp.ts';
import { assertDeclared, openApiDocument, openApiRoute } from './openapi.ts';
import { projectRoutes } from './projects.ts';
import { sessionRoutes } from './sessions.ts';
import { skillRoutes } from './skills.ts';
import { spawnRoutes } from './spawn.ts';
import { subtaskRoutes } from './subtasks.ts';
import { taskRoutes } from './tasks.ts';

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

export const apiRoutes: RouteDef[] = [
  ...healthRoutes, ...projectRoutes, ...taskRoutes, ...subtaskRoutes, ...spawnRoutes, ...sessionRoutes, ...skillRoutes,
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
