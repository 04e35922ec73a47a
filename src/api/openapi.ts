import * as v from 'valibot';
import { ERROR_STATUS, type ErrorCode } from '../errors.ts';
import { isTokenFree, WRITE_METHODS } from '../http/handler.ts';
import { ID_PATTERN } from '../ids.ts';
import {
  ProjectFile, SessionEventFile, SessionFile, SubtaskFile, TaskFile, TimelineEventFile,
} from '../persistence/schemas.ts';
import { VERSION } from '../version.ts';
import type { RouteDef } from './context.ts';
import { type JsonSchema, jsonSchemaDefs, jsonSchemasOf } from './json-schema.ts';

export const ErrorBody = v.object({
  error: v.literal(true),
  message: v.string(),
  code: v.string(),
  details: v.optional(v.unknown()),
});

/** Schemas named once under `components` and referenced wherever a route answers them. */
const COMPONENTS: Record<string, v.ObjectSchema<v.ObjectEntries, undefined>> = {
  Project: ProjectFile,
  Task: TaskFile,
  Session: SessionFile,
  Subtask: SubtaskFile,
  TimelineEvent: TimelineEventFile,
  SessionEvent: SessionEventFile,
  Error: ErrorBody,
};

export const pathParams = (path: string) => path.split('/').filter((s) => s.startsWith(':')).map((s) => s.slice(1));

/** `/api/tasks/:id` → `/api/tasks/{id}` */
export const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** The codes the pipeline itself answers for a route of this shape (src/http/handler.ts). */
export function pipelineErrors(route: RouteDef): ErrorCode[] {
  const codes: ErrorCode[] = ['FORBIDDEN', 'INTERNAL_ERROR'];
  if (!isTokenFree(route.method, route.path)) codes.push('UNAUTHORIZED');
  if (pathParams(route.path).length && !route.rawParams) codes.push('VALIDATION_ERROR');
  if (route.body) codes.push('PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'REQUEST_TIMEOUT');
  // An rpc route's 400 is its own protocol's error (`response.others`); a body cut short there goes unread anyway.
  if (route.body && !route.rpc) codes.push('INVALID_JSON', 'VALIDATION_ERROR', 'BAD_REQUEST');
  // The write gate, and keyed writes (SPEC §11: a bad key is a VALIDATION_ERROR, a reused one 422).
  if (WRITE_METHODS.has(route.method) && !route.rpc) codes.push('BUSY', 'VALIDATION_ERROR', 'IDEMPOTENCY_KEY_REUSED');
  return [...new Set(codes)];
}

/** Every code the route can answer, by status then name. */
export function routeErrors(route: RouteDef): ErrorCode[] {
  return [...new Set([...pipelineErrors(route), ...route.errors])]
    .sort((a, b) => ERROR_STATUS[a] - ERROR_STATUS[b] || (a < b ? -1 : 1));
}

const json = (schema: JsonSchema) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function errorResponses(codes: ErrorCode[]) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_STATUS[code], [...byStatus.get(ERROR_STATUS[code]) ?? [], code]);
  return Object.fromEntries([...byStatus].map(([status, list]) => [String(status), {
    description: list.join(', '),
    content: json({ allOf: [ref('Error'), { properties: { code: { enum: list } } }] }),
  }]));
}

type Converted = Map<v.GenericSchema, JsonSchema>;

function parameters(route: RouteDef, converted: Converted) {
  const inPath = pathParams(route.path).map((name) => ({
    name, in: 'path', required: true,
    schema: route.rawParams ? { type: 'string' } : { type: 'string', pattern: ID_PATTERN.source },
  }));
  const inQuery = Object.entries(route.query?.entries ?? {}).map(([name, schema]) => {
    const { description, ...rest } = converted.get(schema)!;
    return { name, in: 'query', required: schema.type !== 'optional', description, schema: rest };
  });
  const ifMatch = route.errors.includes('VERSION_CONFLICT')
    ? [{ name: 'If-Match', in: 'header', required: false, description: 'Refuse with 412 unless the version is this ("3", W/"3", 3 or *)', schema: { type: 'string' } }]
    : [];
  return [...inPath, ...inQuery, ...ifMatch];
}

const operationId = (route: RouteDef) =>
  route.method.toLowerCase() + route.path.split(/[/:-]/).filter(Boolean).map((s) => s[0].toUpperCase() + s.slice(1)).join('');

function operation(route: RouteDef, converted: Converted) {
  const { status, description, schema, contentType = 'application/json', others = [] } = route.response;
  return {
    operationId: operationId(route),
    summary: route.summary,
    tags: [route.path.split('/').filter(Boolean).at(route.path.startsWith('/api/') ? 1 : 0)],
    parameters: parameters(route, converted),
    ...(route.body ? { requestBody: { required: true, content: json(converted.get(route.body)!) } } : {}),
    responses: {
      [String(status)]: { description, content: { [contentType]: { schema: converted.get(schema)! } } },
      ...Object.fromEntries(others.map((o) => [String(o.status), {
        description: o.description, ...(o.schema ? { content: json(converted.get(o.schema)!) } : {}),
      }])),
      ...errorResponses(routeErrors(route)),
    },
    ...(isTokenFree(route.method, route.path) ? { security: [] } : {}),
  };
}

/**
 * The components as the server sends them: a field whose file schema gives it a
 * default is always present in an answer, so it is required there.
 */
function entityDefs(): Record<string, JsonSchema> {
  const defs = jsonSchemaDefs(COMPONENTS);
  for (const [name, schema] of Object.entries(COMPONENTS)) {
    const defaulted = Object.entries(schema.entries)
      .filter(([, entry]) => entry.type === 'optional' && (entry as { default?: unknown }).default !== undefined)
      .map(([key]) => key);
    defs[name] = { ...defs[name], required: [...(defs[name].required ?? []), ...defaulted] };
  }
  return defs;
}

const isSchema = (x: unknown) => typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'schema';

/** A route merged without the fields the document needs stops the build with its name (not a crash deep in a converter). */
export function assertDeclared(route: RouteDef) {
  const r = route as Partial<RouteDef>;
  const declared = typeof r.summary === 'string' && (r.body === null || isSchema(r.body)) && (r.query === null || isSchema(r.query))
    && isSchema(r.response?.schema) && Array.isArray(r.errors);
  if (!declared) {
    throw new Error(`${route.method} ${route.path}: declare summary, body, query, response, errors (RouteDef in src/api/context.ts)`);
  }
}

/** The OpenAPI 3.1 document of every route in the table (SPEC §13). */
export function openApiDocument(routes: RouteDef[]) {
  routes.forEach(assertDeclared);
  const schemas = routes.flatMap((r) => [
    r.response.schema, ...(r.body ? [r.body] : []), ...Object.values(r.query?.entries ?? {}),
    ...(r.response.others ?? []).flatMap((o) => (o.schema ? [o.schema] : [])),
  ]);
  const converted = jsonSchemasOf(schemas, COMPONENTS);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) (paths[openApiPath(route.path)] ??= {})[route.method.toLowerCase()] = operation(route, converted);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Maestro Server',
      version: VERSION,
      description: 'Projects, tasks and agent sessions, stored as JSON files and broadcast over WebSocket. '
        + 'Errors are {error: true, message, code, details?}.',
    },
    // `{}`: the token is needed only when the server runs with MAESTRO_TOKEN.
    security: [{ bearerAuth: [] }, {}],
    paths,
    components: {
      schemas: entityDefs(),
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'MAESTRO_TOKEN, when the server is started with one' } },
    },
  };
}

export function openApiRoute(document: () => string): RouteDef {
  return {
    method: 'GET', path: '/openapi.json', summary: 'This OpenAPI document', body: null, query: null,
    response: { status: 200, description: 'The OpenAPI 3.1 document', schema: v.object({ openapi: v.string() }) },
    errors: [],
    handler: () => ({ status: 200, json: document() }),
  };
}
