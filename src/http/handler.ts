import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Dispatch, parseBody, type RouteDef, type Services } from '../api/context.ts';
import { ApiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseJson, readJsonText } from './body.ts';
import { bearerToken, checkHost, checkOrigin, checkToken, corsHeaders, type GuardOptions, PREFLIGHT_HEADERS } from './guard.ts';
import { errorReply, send } from './respond.ts';
import type { Router } from './router.ts';

export const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The one request the token does not guard (SPEC §8): a health probe needs no secret. */
export const isTokenFree = (method: string, path: string) => method === 'GET' && path === '/health';

export interface Pipeline {
  router: Router<RouteDef>;
  guard: GuardOptions;
  services: Services;
  bodyLimitBytes: number;
  /** Resolves when the writer has room for one more change (back-pressure for writes). */
  waitForRoom: () => Promise<void>;
  /** While stopping, every response asks the client to close its connection. */
  stopping: () => boolean;
}

function splitUrl(url: string): { path: string; query: URLSearchParams } {
  const q = url.indexOf('?');
  return q === -1 ? { path: url, query: new URLSearchParams() } : { path: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

function findRoute(router: Router<RouteDef>, method: string, path: string) {
  const match = router.match(method, path);
  if (!match) throw new ApiError(404, 'NOT_FOUND', `No route for ${method} ${path}`);
  if ('allow' in match) {
    const allow = match.allow.join(', ');
    throw new ApiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${allow}`, { allow: match.allow }, { Allow: allow });
  }
  return { route: match.handler, params: match.params };
}

/** The query parameters the route declares, and no others. */
function declaredQuery(route: RouteDef, query: URLSearchParams): URLSearchParams {
  const names = route.query?.entries;
  if (!names) return new URLSearchParams();
  return new URLSearchParams([...query].filter(([name]) => Object.hasOwn(names, name)));
}

/** The request pipeline: guards, routing, body, back-pressure, handler, reply. */
export function createHandler(p: Pipeline) {
  const logger = p.services.logger;

  /** After routing and reading: the body through the route's schema, back-pressure for writes, the handler. */
  async function run(route: RouteDef, call: Parameters<Dispatch>[0], params: Record<string, string>) {
    const body = route.rpc ? call.body : route.body ? parseBody(route.body, call.body) : undefined;
    if (WRITE_METHODS.has(call.method) && !route.rpc) await p.waitForRoom();
    const query = declaredQuery(route, call.query);
    return route.handler({ req: call.req, params, query, body, ifMatch: call.ifMatch, services: p.services, dispatch });
  }

  const dispatch: Dispatch = async (call) => {
    try {
      const { route, params } = findRoute(p.router, call.method, call.path);
      return await run(route, call, params);
    } catch (err) {
      return errorReply(err, logger);
    }
  };

  return async function handle(req: IncomingMessage, res: ServerResponse) {
    let origin: string | undefined;
    const extra = (): Record<string, string> => ({ ...corsHeaders(origin), ...(p.stopping() ? { Connection: 'close' } : {}) });
    try {
      checkHost(req.headers, p.guard);
      origin = checkOrigin(req.headers, p.guard);
      const method = req.method ?? 'GET';
      if (method === 'OPTIONS') {
        res.writeHead(204, { ...extra(), ...PREFLIGHT_HEADERS }).end();
        return;
      }
      const { path, query } = splitUrl(req.url ?? '/');
      if (!isTokenFree(method, path)) checkToken(bearerToken(req.headers), p.guard);
      const { route, params } = findRoute(p.router, method, path);
      const text = route.body ? await readJsonText(req, p.bodyLimitBytes) : undefined;
      const body = route.rpc || text === undefined ? text : parseJson(text);
      const reply = await run(route, { method, path, query, body, ifMatch: req.headers['if-match'], req }, params);
      send(res, reply, extra());
    } catch (err) {
      send(res, errorReply(err, logger), extra());
    }
  };
}

/** Host and Origin as for any request; the token may also come as `?token=`, since browsers cannot set headers here. */
export function checkUpgrade(req: IncomingMessage, guard: GuardOptions) {
  checkHost(req.headers, guard);
  checkOrigin(req.headers, guard);
  const queryToken = splitUrl(req.url ?? '/').query.get('token') ?? undefined;
  checkToken(bearerToken(req.headers) ?? queryToken, guard);
}

/** Answers a refused upgrade or a malformed request on the raw socket, since no ServerResponse exists for it. */
export function refuseOnSocket(socket: Duplex, err: unknown, logger: Logger) {
  const reply = errorReply(err, logger);
  const headers = Object.entries(reply.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status]}\r\nContent-Type: application/json\r\n`
    + `Content-Length: ${Buffer.byteLength(reply.json)}\r\nConnection: close\r\n${headers}\r\n${reply.json}`);
}
