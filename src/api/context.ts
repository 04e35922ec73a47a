import type { IncomingMessage } from 'node:http';
import * as v from 'valibot';
import { validationError } from '../errors.ts';
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

export interface Ctx {
  req: IncomingMessage;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body; `undefined` when none was sent or the route takes none. */
  body: unknown;
  ifMatch: string | undefined;
  services: Services;
}

export type Handler = (ctx: Ctx) => Reply | Promise<Reply>;

export interface RouteDef {
  method: string;
  path: string;
  handler: Handler;
  /** The route reads a JSON body. */
  body?: boolean;
  /** Path params are not ids (skills are named by folder). */
  rawParams?: boolean;
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

/** Validates a body against a schema; no body at all is a validation error too. */
export function parseBody<S extends v.GenericSchema>(schema: S, body: unknown): v.InferOutput<S> {
  if (body === undefined) throw validationError('A JSON body is required', { fields: [{ field: '', message: 'missing body' }] });
  const result = v.safeParse(schema, body);
  if (result.success) return result.output;
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
export interface EntityOps<T extends { version: number }> {
  list: Handler;
  create: (store: Store, body: unknown) => T;
  get: (store: Store, id: string) => T;
  update: (store: Store, id: string, body: unknown, ifMatch?: string) => T;
  remove: (store: Store, id: string, ifMatch?: string) => void;
}

/** `put`: the entity also takes `PUT` as a partial update (SPEC §2: only where a table lists it). */
export function entityRoutes<T extends { version: number }>(
  base: string, ops: EntityOps<T>, options: { put?: boolean; clientRequestId?: boolean } = {},
): RouteDef[] {
  const one = `${base}/:id`;
  const update: Handler = ({ services, params, body, ifMatch }) => entityReply(200, ops.update(services.store, params.id, body, ifMatch));
  const updateMethods = options.put ? ['PUT', 'PATCH'] : ['PATCH'];
  return [
    { method: 'GET', path: base, handler: ops.list },
    {
      method: 'POST', path: base, body: true, clientRequestId: options.clientRequestId,
      handler: ({ services, body }) => entityReply(201, ops.create(services.store, body)),
    },
    { method: 'GET', path: one, handler: ({ services, params }) => entityReply(200, ops.get(services.store, params.id)) },
    ...updateMethods.map((method) => ({ method, path: one, body: true, handler: update })),
    {
      method: 'DELETE', path: one,
      handler: ({ services, params, ifMatch }) => {
        ops.remove(services.store, params.id, ifMatch);
        return deletedReply(params.id);
      },
    },
  ];
}
