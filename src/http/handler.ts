import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Dispatch, parseBody, type RouteDef, type Services } from '../api/context.ts';
import { ApiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { boardReply, isBoardRequest } from '../board/page.ts';
import { FEED_PATH } from '../events/feed.ts';
import { jsonText, parseJson, readRaw } from './body.ts';
import { bearerToken, checkHost, checkOrigin, checkToken, corsHeaders, type GuardOptions, PREFLIGHT_HEADERS } from './guard.ts';
import { clientRequestKey, fingerprint, headerKey, type IdempotencyCache, type IdempotencyKey } from './idempotency.ts';
import { errorReply, type Reply, send } from './respond.ts';
import type { Router } from './router.ts';

export const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The one request the token does not guard (SPEC §8): a health probe needs no secret. */
export const isTokenFree = (method: string, path: string) => method === 'GET' && path === '/health';

export interface Pipeline {
  router: Router<RouteDef>;
  guard: GuardOptions;
  services: Services;
  bodyLimitBytes: number;
  /** Runs a write: waits for room in the writer, refuses once shutdown began (the write gate). */
  runWrite: <T>(change: () => T | Promise<T>) => Promise<T>;
  /** While stopping, every response asks the client to close its connection. */
  stopping: () => boolean;
  /** SPEC §11: remembered answers of keyed writes. */
  idempotency: IdempotencyCache;
}

const NO_BYTES = Buffer.alloc(0);

/** The body as the route takes it (text for an rpc route, else parsed JSON), or the error reading it. */
type Parsed = { body: unknown } | { error: unknown };

function parseOnce(route: RouteDef, raw: Buffer, contentType: string | undefined): Parsed {
  if (!route.body) return { body: undefined };
  try {
    const text = jsonText(raw, contentType);
    return { body: route.rpc || text === undefined ? text : parseJson(text) };
  } catch (error) {
    return { error };
  }
}

/**
 * SPEC §11: the `Idempotency-Key` of a write, else (where the route allows it) the body's
 * `clientRequestId`. An rpc route (MCP) has none: its calls carry no key.
 */
function idempotencyKey(req: IncomingMessage, method: string, path: string, route: RouteDef, parsed: Parsed): IdempotencyKey | undefined {
  if (route.rpc) return undefined;
  const header = WRITE_METHODS.has(method) ? headerKey(req.headers) : undefined;
  if (header !== undefined || route.clientRequestId !== true || !('body' in parsed)) return header;
  return clientRequestKey(parsed.body, method, path);
}

const replayed = (reply: Reply): Reply => ({ ...reply, headers: { ...reply.headers, 'Idempotent-Replayed': 'true' } });

/** Origin-form `/a?b` or absolute-form `http://host/a?b` (RFC 9112 §3.2.2): its path, query and host, if any. */
export function splitUrl(url: string): { path: string; query: URLSearchParams; host?: string } {
  const absolute = /^https?:\/\/([^/?#]*)(.*)$/i.exec(url);
  if (absolute) {
    const rest = absolute[2].startsWith('/') ? absolute[2] : `/${absolute[2]}`;
    return { ...splitUrl(rest), host: absolute[1] };
  }
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

/** The request pipeline: guards, routing, body, idempotency, write gate, handler, reply. */
export function createHandler(p: Pipeline) {
  const logger = p.services.logger;

  /**
   * After routing and reading: the entity the route needs checked first, the body through
   * the route's schema, then the handler, through the write gate for writes. An rpc route
   * is not gated itself: the routes it calls are, through `dispatch`.
   */
  async function run(route: RouteDef, call: Parameters<Dispatch>[0], params: Record<string, string>) {
    const handle = () => {
      route.mustExist?.(p.services.store, params);
      const body = route.rpc ? call.body : route.body ? parseBody(route.body, call.body) : undefined;
      const query = declaredQuery(route, call.query);
      return route.handler({ req: call.req, params, query, body, ifMatch: call.ifMatch, services: p.services, dispatch });
    };
    return WRITE_METHODS.has(call.method) && !route.rpc ? p.runWrite(handle) : handle();
  }

  /** A call from inside the server (an MCP tool): no guards, no idempotency key; the write gate as for HTTP. */
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
      const { path, query, host } = splitUrl(req.url ?? '/');
      checkHost(req.headers, p.guard);
      if (host !== undefined) checkHost({ host }, p.guard);
      origin = checkOrigin(req.headers, p.guard);
      const method = req.method ?? 'GET';
      if (method === 'OPTIONS') {
        res.writeHead(204, { ...extra(), ...PREFLIGHT_HEADERS }).end();
        return;
      }
      if (isBoardRequest(method, path, req.headers)) {
        send(res, await boardReply(path), extra());
        return;
      }
      // The feed, like an upgrade, may carry the token as `?token=`: an EventSource cannot set headers.
      const queryToken = path === FEED_PATH ? query.get('token') ?? undefined : undefined;
      if (!isTokenFree(method, path)) checkToken(bearerToken(req.headers) ?? queryToken, p.guard);
      const { route, params } = findRoute(p.router, method, path);
      const raw = route.body ? await readRaw(req, p.bodyLimitBytes) : NO_BYTES;
      const parsed = parseOnce(route, raw, req.headers['content-type']);
      const key = idempotencyKey(req, method, path, route, parsed);
      const answer = async (): Promise<Reply> => {
        try {
          if ('error' in parsed) throw parsed.error;
          return await run(route, { method, path, query, body: parsed.body, ifMatch: req.headers['if-match'], req }, params);
        } catch (err) {
          return errorReply(err, logger);
        }
      };
      if (key === undefined) {
        send(res, await answer(), extra());
        return;
      }
      const keyed = await p.idempotency.run(key, fingerprint(method, req.url ?? path, raw), answer);
      send(res, keyed.replayed ? replayed(keyed.reply) : keyed.reply, extra());
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
