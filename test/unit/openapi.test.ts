/**
 * The OpenAPI document against the route table, both ways, generically: a route
 * merged without its schemas, or a document path nothing answers, fails here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import * as v from 'valibot';
import { openApiDocument, openApiPath, pathParams, pipelineErrors, routeErrors } from '../../src/api/openapi.ts';
import { buildRouter, routeTable } from '../../src/api/routes.ts';
import type { RouteDef } from '../../src/api/context.ts';
import { ERROR_STATUS } from '../../src/errors.ts';

const routes = routeTable();
const document = openApiDocument(routes);
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const isSchema = (x: unknown) => typeof x === 'object' && x !== null && (x as { kind?: string }).kind === 'schema';
const name = (r: RouteDef) => `${r.method} ${r.path}`;

describe('openapi', () => {
  it('validates against the OpenAPI 3.1 schema', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    assert.equal(validator.version, '3.1');
    assert.deepEqual(result.errors ?? [], []);
    assert.equal(result.valid, true);
  });

  it('every route declares its schemas: summary, body, query, response, known error codes', () => {
    for (const route of routes) {
      const at = name(route);
      assert.ok(typeof route.summary === 'string' && route.summary.length > 0, `${at}: summary`);
      assert.ok(route.body === null || isSchema(route.body), `${at}: body is a valibot schema, or null for none`);
      assert.ok(route.query === null || (isSchema(route.query) && route.query.type === 'object'), `${at}: query is a valibot object, or null`);
      assert.ok(route.response && Number.isInteger(route.response.status) && route.response.status < 300, `${at}: response.status`);
      assert.ok(typeof route.response.description === 'string' && isSchema(route.response.schema), `${at}: response schema`);
      assert.ok(Array.isArray(route.errors), `${at}: errors`);
      for (const code of route.errors) assert.ok(code in ERROR_STATUS, `${at}: ${code} is in ERROR_STATUS`);
    }
  });

  it('every routed method and path is in the document', () => {
    for (const route of routes) {
      const op = document.paths[openApiPath(route.path)]?.[route.method.toLowerCase()] as Record<string, any> | undefined;
      assert.ok(op, `${name(route)} is in the document`);
      assert.equal(op.summary, route.summary);
      assert.equal(Boolean(op.requestBody), route.body !== null, `${name(route)}: requestBody`);
      assert.ok(op.responses[String(route.response.status)], `${name(route)}: success response`);
      const others = (route.response.others ?? []).map((o) => String(o.status));
      for (const status of others) assert.ok(op.responses[status], `${name(route)}: ${status}`);
      const documented = Object.entries(op.responses).filter(([s]) => Number(s) >= 400 && !others.includes(s))
        .flatMap(([, r]: [string, any]) => r.content['application/json'].schema.allOf[1].properties.code.enum);
      assert.deepEqual(documented.sort(), routeErrors(route).sort(), `${name(route)}: error codes`);
      const params = op.parameters.filter((p: { in: string }) => p.in !== 'header').map((p: { name: string }) => p.name);
      assert.deepEqual(params, [...pathParams(route.path), ...Object.keys(route.query?.entries ?? {})], `${name(route)}: parameters`);
    }
  });

  it('every document path and method is routed, to that route', () => {
    const router = buildRouter(routes);
    let operations = 0;
    for (const [path, item] of Object.entries(document.paths)) {
      for (const method of Object.keys(item).filter((k) => METHODS.includes(k))) {
        operations++;
        const concrete = path.replace(/\{[^}]+\}/g, 'x1');
        const match = router.match(method.toUpperCase(), concrete);
        assert.ok(match && 'handler' in match, `${method} ${path} is routed`);
        assert.equal(openApiPath(match.pattern), path, `${method} ${path} reaches its own route`);
        assert.equal(match.handler.method, method.toUpperCase());
      }
    }
    assert.equal(operations, routes.length);
  });

  it('derives the pipeline codes from the route shape', () => {
    const route = (over: Partial<RouteDef>): RouteDef =>
      ({ method: 'GET', path: '/x', summary: 's', body: null, query: null, errors: [], handler: () => ({ status: 200, json: '' }), ...over }) as RouteDef;
    assert.deepEqual(pipelineErrors(route({ path: '/health' })), ['FORBIDDEN', 'INTERNAL_ERROR']);
    assert.deepEqual(pipelineErrors(route({ path: '/a/:id' })), ['FORBIDDEN', 'INTERNAL_ERROR', 'UNAUTHORIZED', 'VALIDATION_ERROR']);
    assert.deepEqual(pipelineErrors(route({ path: '/a/:id', rawParams: true })), ['FORBIDDEN', 'INTERNAL_ERROR', 'UNAUTHORIZED']);
    const withBody = pipelineErrors(route({ method: 'POST', body: v.object({ a: v.string() }) }));
    assert.deepEqual(withBody.sort(), [
      'BAD_REQUEST', 'BUSY', 'FORBIDDEN', 'IDEMPOTENCY_KEY_REUSED', 'INTERNAL_ERROR', 'INVALID_JSON', 'PAYLOAD_TOO_LARGE',
      'REQUEST_TIMEOUT', 'UNAUTHORIZED', 'UNSUPPORTED_MEDIA_TYPE', 'VALIDATION_ERROR',
    ]);
    const bodiless = pipelineErrors(route({ method: 'POST' }));
    assert.deepEqual(bodiless.sort(), ['BUSY', 'FORBIDDEN', 'IDEMPOTENCY_KEY_REUSED', 'INTERNAL_ERROR', 'UNAUTHORIZED', 'VALIDATION_ERROR']);
    const rpc = pipelineErrors(route({ method: 'POST', body: v.object({ a: v.string() }), rpc: true }));
    assert.deepEqual(rpc.sort(), ['FORBIDDEN', 'INTERNAL_ERROR', 'PAYLOAD_TOO_LARGE', 'REQUEST_TIMEOUT', 'UNAUTHORIZED', 'UNSUPPORTED_MEDIA_TYPE']);
  });

  it('has the bearer scheme, optional globally, none on /health, and If-Match where 412 can come', () => {
    assert.deepEqual(document.components.securitySchemes.bearerAuth, {
      type: 'http', scheme: 'bearer', description: 'MAESTRO_TOKEN, when the server is started with one',
    });
    assert.deepEqual(document.security, [{ bearerAuth: [] }, {}]);
    assert.deepEqual((document.paths['/health'].get as { security: unknown }).security, []);
    const patch = document.paths['/api/tasks/{id}'].patch as { parameters: { name: string; in: string }[] };
    assert.ok(patch.parameters.some((p) => p.name === 'If-Match' && p.in === 'header'));
    const { Task, TimelineEvent } = document.components.schemas as Record<string, { required: string[] }>;
    for (const field of ['id', 'title', 'description', 'subtasks', 'timeline', 'claimedBy', 'version'].filter((f) => f in (Task as any).properties)) {
      assert.ok(Task.required.includes(field), `Task.${field}: defaults make it always present`);
    }
    assert.ok(!TimelineEvent.required.includes('message'), 'TimelineEvent.message has no default: optional');
    assert.deepEqual(Object.keys(document.components.schemas).sort(), ['Error', 'Project', 'Session', 'SessionEvent', 'Subtask', 'Task', 'TimelineEvent']);
  });

  it('refuses at build time, naming it, a route merged without its schemas', () => {
    const bare = { method: 'POST', path: '/api/tasks/:id/claim', body: true, handler: () => ({ status: 200, json: '' }) } as unknown as RouteDef;
    assert.throws(() => openApiDocument([...routes, bare]), /POST \/api\/tasks\/:id\/claim: declare summary, body, query, response, errors/);
    assert.throws(() => routeTable([bare]), /POST \/api\/tasks\/:id\/claim: declare/);
  });

  it('describes a success that is not JSON with its content type', () => {
    const page = {
      method: 'GET', path: '/', summary: 'The board', body: null, query: null, errors: [],
      response: { status: 200, description: 'HTML', schema: v.string(), contentType: 'text/html' }, handler: () => ({ status: 200, json: '' }),
    } as RouteDef;
    const op = openApiDocument([page]).paths['/'].get as { responses: Record<string, { content: object }> };
    assert.deepEqual(op.responses['200'].content, { 'text/html': { schema: { type: 'string' } } });
  });

  it('refuses at build time a route whose body schema cannot be described', () => {
    const bad = { ...routes[0], method: 'POST', body: v.object({ a: v.custom((x) => x === 1) }) } as RouteDef;
    assert.throws(() => openApiDocument([bad]), /"custom" schema cannot be converted/);
  });
});
