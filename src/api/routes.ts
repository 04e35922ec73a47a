import { FEED_PATH } from '../events/feed.ts';
import { Router } from '../http/router.ts';
import { claimRoutes } from './claims.ts';
import { type Handler, jsonReply, type RouteDef } from './context.ts';
import { historyRoutes } from './history.ts';
import { projectRoutes } from './projects.ts';
import { queueRoutes } from './queues.ts';
import { sessionRoutes } from './sessions.ts';
import { skillRoutes } from './skills.ts';
import { spawnRoutes } from './spawn.ts';
import { subtaskRoutes } from './subtasks.ts';
import { taskRoutes } from './tasks.ts';
import { templateRoutes } from './templates.ts';

const healthRoutes: RouteDef[] = [
  { method: 'GET', path: '/health', handler: ({ services }) => jsonReply(200, services.health()) },
];

const eventRoutes: RouteDef[] = [
  { method: 'GET', path: FEED_PATH, handler: ({ services, req, query }) => services.hub.feedReply(req, query) },
];

const allRoutes: RouteDef[] = [
  ...healthRoutes, ...eventRoutes, ...projectRoutes, ...taskRoutes, ...claimRoutes, ...subtaskRoutes, ...spawnRoutes, ...sessionRoutes, ...queueRoutes,
  ...historyRoutes, ...skillRoutes, ...templateRoutes,
];

export type RouteEntry = Pick<RouteDef, 'handler' | 'body' | 'clientRequestId'>;

export function buildRouter(routes: RouteDef[] = allRoutes): Router<RouteEntry> {
  const router = new Router<RouteEntry>();
  for (const r of routes) router.on(r.method, r.path, { handler: r.handler as Handler, body: r.body, clientRequestId: r.clientRequestId }, { rawParams: r.rawParams });
  return router;
}
