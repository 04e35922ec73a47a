import type { IncomingMessage } from 'node:http';
import * as v from 'valibot';
import { type ErrorCode, validationError } from '../errors.ts';
import type { Reply } from '../http/respond.ts';
import type { Store } from '../store/store.ts';
import { toJson } from '../store/store.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { SkillsLibrary } from '../skills/library.ts';
import type { Hub } from '../events/hub.ts';
import type { Archive } from '../persistence/archive.ts';

/** Everything a handler may use; handlers never touch sockets or files. */
export interface Services {
  store: Store;
  config: Config;
  logger: Logger;
  skills: SkillsLibrary;
  hub: Hub;
  /** Whole timelines and event lists (SPEC §7 Archive). */
  archive: Archive;
  serverUrl: () => string;
  health: () => Record<string, unknown>;
}

export interface Ctx<B = unknown> {
  req: IncomingMessage;
  params: Record<string, string>;
  /** Only the query parameters the route declares. */
  query: URLSearchParams;
  /** The body as the route's schema output it; `undefined` for routes that take none. */
  body: B;
  ifMatch: string | undefined;
  services: Services;
  /** The request pipeline itself, for a route that calls other routes (MCP). */
  dispatch: Dispatch;
}

export type Handler<B = unknown> = (ctx: Ctx<B>) => Reply | Promise<Reply>;

/** One call into the pipeline after the HTTP layer: routing, body validation, back-pressure, handler. */
export type Dispatch = (call: {
  method: string;
  path: string;
  query: URLSearchParams;
  /** A parsed JSON body, or `undefined` for none. */
  body: unknown;
  ifMatch?: string;
  req: IncomingMessage;
}) => Promise<Reply>;

/**
 * A route and everything the OpenAPI document and the MCP tools say about it. The
 * fields are required: a route added without its schemas does not compile, stops the
 * server at start with its name (openapi.ts `assertDeclared`), and fails
 * test/unit/openapi.test.ts.
 */
export interface RouteDef<B = any> {
  method: string;
  path: string;
  /** One line for the document and the MCP tool that calls this route. */
  summary: string;
  /**
   * The JSON body: the valibot schema the pipeline validates it with before the
   * handler runs (the handler gets its output), or `null`: the route reads no body.
   */
  body: v.GenericSchema<unknown, B> | null;
  /** The query parameters the handler reads (an object of optional strings), or `null`. Only these reach `ctx.query`. */
  query: v.ObjectSchema<v.ObjectEntries, undefined> | null;
  /**
   * The success answer; `contentType` when it is not JSON (an event stream, a page);
   * `others`: answers that are neither this nor an error body (MCP's 202 and JSON-RPC errors).
   */
  response: {
    status: number;
    description: string;
    schema: v.GenericSchema;
    contentType?: string;
    others?: { status: number; description: string; schema?: v.GenericSchema }[];
  };
  /**
   * The error codes the handler and the store can answer. The pipeline's own (bad ids in
   * the path, bad JSON, a body that fails `body`, token, Host, BUSY, …) are added from the
   * route's shape (src/api/openapi.ts `pipelineErrors`).
   */
  errors: ErrorCode[];
  handler: Handler<B>;
  /** Path params are not ids (skills are named by folder). */
  rawParams?: boolean;
  /**
   * The route speaks its own protocol over its body (JSON-RPC, for MCP): the handler gets
   * the body text and answers its own parse errors (`body` only documents it), and the
   * write gate and idempotency keys apply to the routes it calls rather than to itself.
   */
  rpc?: boolean;
  /** Checked before the body is validated (SPEC order: an unknown task is 404 whatever the body). */
  mustExist?: (store: Store, params: Record<string, string>) => unknown;
  /** SPEC §11: a `clientRequestId` in the body acts as an idempotency key (the pipeline reads it). */
  clientRequestId?: boolean;
}

export const entityReply = (status: number, entity: { version: number }): Reply => ({
  status,
  json: toJson(entity),
  headers: { ETag: `"${entity.version}"` },
});

export const listReply = (items: readonly object[]): Reply => ({ status: 200, json: `[${items.map(toJson).join(',')}]` });

/** A list answer built once per state of the data and filter key (SPEC §8). */
export const cachedListReply = (store: Store, key: string, items: () => readonly object[]): Reply =>
  ({ status: 200, json: store.cachedList(key, () => `[${items().map(toJson).join(',')}]`) });

export const jsonReply = (status: number, body: unknown): Reply => ({ status, json: JSON.stringify(body) });

export const deletedReply = (id: string): Reply => jsonReply(200, { success: true, id });

/** Validates a body against a schema; no body at all is a validation error too, unless the schema is optional. */
export function parseBody<S extends v.GenericSchema>(schema: S, body: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, body);
  if (result.success) return result.output;
  if (body === undefined) throw validationError('A JSON body is required', { fields: [{ field: '', message: 'missing body' }] });
  const fields = result.issues.map((issue) => ({ field: v.getDotPath(issue) ?? '', message: issue.message }));
  throw validationError(`Invalid ${fields.map((f) => f.field || 'body').join(', ')}`, { fields });
}

/** `a,b` → `['a','b']`; absent → undefined. */
export function queryList(query: URLSearchParams, name: string): string[] | undefined {
  const raw = query.get(name);
  const list = raw?.split(',').map((s) => s.trim()).filter(Boolean);
  return list?.length ? list : undefined; // `status=` filters nothing out, as a form would mean it
}

/** The five routes every stored entity has, over the store functions that do the work. */
export interface EntityOps<T extends { version: number }, C, U> {
  /** What the entity is called in summaries ("project"). */
  name: string;
  entity: v.GenericSchema;
  list: Omit<RouteDef, 'method' | 'path' | 'body' | 'response'>;
  create: { body: v.GenericSchema<unknown, C>; errors: ErrorCode[]; run: (store: Store, input: C) => T };
  get: (store: Store, id: string) => T;
  update: { body: v.GenericSchema<unknown, U>; errors: ErrorCode[]; run: (store: Store, id: string, input: U, ifMatch?: string) => T };
  remove: { errors: ErrorCode[]; run: (store: Store, id: string, ifMatch?: string) => void };
  /** The code a missing entity answers. */
  notFound: ErrorCode;
}

/** `put`: the entity also takes `PUT` as a partial update (SPEC §2: only where a table lists it). */
export function entityRoutes<T extends { version: number }, C, U>(
  base: string, ops: EntityOps<T, C, U>, options: { put?: boolean; clientRequestId?: boolean } = {},
): RouteDef[] {
  const one = `${base}/:id`;
  const { name, entity } = ops;
  const update: RouteDef<U> = {
    method: 'PATCH', path: one, summary: `Update a ${name}`, body: ops.update.body, query: null,
    response: { status: 200, description: `The ${name}`, schema: entity },
    errors: [ops.notFound, 'VERSION_CONFLICT', ...ops.update.errors],
    handler: ({ services, params, body, ifMatch }) => entityReply(200, ops.update.run(services.store, params.id, body, ifMatch)),
  };
  const create: RouteDef<C> = {
    method: 'POST', path: base, summary: `Create a ${name}`, body: ops.create.body, query: null,
    response: { status: 201, description: `The new ${name}`, schema: entity },
    errors: ops.create.errors, clientRequestId: options.clientRequestId,
    handler: ({ services, body }) => entityReply(201, ops.create.run(services.store, body)),
  };
  return [
    { ...ops.list, method: 'GET', path: base, body: null, response: { status: 200, description: `${name}s`, schema: v.array(entity) } },
    create,
    {
      method: 'GET', path: one, summary: `One ${name}`, body: null, query: null,
      response: { status: 200, description: `The ${name}`, schema: entity }, errors: [ops.notFound],
      handler: ({ services, params }) => entityReply(200, ops.get(services.store, params.id)),
    },
    ...(options.put ? [{ ...update, method: 'PUT', summary: `Update a ${name} (same as PATCH)` }] : []),
    update,
    {
      method: 'DELETE', path: one, summary: `Delete a ${name}`, body: null, query: null,
      response: { status: 200, description: 'The id deleted', schema: DeletedBody },
      errors: [ops.notFound, 'VERSION_CONFLICT', ...ops.remove.errors],
      handler: ({ services, params, ifMatch }) => {
        ops.remove.run(services.store, params.id, ifMatch);
        return deletedReply(params.id);
      },
    },
  ];
}

export const DeletedBody = v.object({ success: v.literal(true), id: v.string() });
