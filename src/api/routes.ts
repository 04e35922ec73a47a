import { Router } from '../http/router.ts';
import { claimRoutes } from './claims.ts';
import { type Handler, jsonReply, type RouteDef } from './context.ts';
import { projectRoutes } from './projects.ts';
import { sessionRoutes } from './sessions.ts';
import { skillRoutes } from './skills.ts';
import { spawnRoutes } from './spawn.ts';
import { subtaskRoutes } from './subtasks.ts';
import { taskRoutes } from './tasks.ts';

const healthRoutes: RouteDef[] = [
  { method: 'GET', path: '/health', handler: ({ services }) => jsonReply(200, services.health()) },
];

const allRoutes: RouteDef[] = [
  ...healthRoutes, ...projectRoutes, ...taskRoutes, ...claimRoutes, ...subtaskRoutes, ...spawnRoutes, ...sessionRoutes, ...skillRoutes,
];

export type RouteEntry = Pick<RouteDef, 'handler' | 'body' | 'clientRequestId'>;

export function buildRouter(routes: RouteDef[] = allRoutes): Router<RouteEntry> {
  const router = new Router<RouteEntry>();
  for (const r of routes) router.on(r.method, r.path, { handler: r.handler as Handler, body: r.body, clientRequestId: r.clientRequestId }, { rawParams: r.rawParams });
  return router;
}
