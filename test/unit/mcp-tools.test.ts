/**
 * Each tool's inputSchema is the route's own schema (as in the OpenAPI document) plus
 * its path arguments; tools whose route this server lacks are not offered.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteDef } from '../../src/api/context.ts';
import { buildTools, TOOL_DEFS } from '../../src/api/mcp-tools.ts';
import { openApiDocument, openApiPath, pathParams } from '../../src/api/openapi.ts';
import { routeTable } from '../../src/api/routes.ts';
import { ID_PATTERN } from '../../src/ids.ts';

const routes = routeTable();
const document = openApiDocument(routes);
const tools = buildTools(routes);
const operation = (method: string, path: string) => document.paths[openApiPath(path)][method.toLowerCase()] as Record<string, any>;

describe('mcp-tools', () => {
  it('offers the SPEC §13 tools whose route exists, and only those', () => {
    assert.deepEqual(TOOL_DEFS.map((t) => t.name).sort(), [
      'add_subtask', 'claim_next_task', 'claim_task', 'complete_task', 'create_task', 'get_skill_prompt', 'get_task', 'heartbeat',
      'list_projects', 'list_sessions', 'list_tasks', 'release_task', 'report', 'update_task',
    ]);
    const routed = TOOL_DEFS.filter((t) => routes.some((r) => r.method === t.method && r.path === t.path));
    assert.deepEqual(tools.map((t) => t.def.name), routed.map((t) => t.name));
    for (const name of ['list_projects', 'list_tasks', 'get_task', 'create_task', 'update_task', 'add_subtask', 'complete_task', 'report', 'list_sessions', 'get_skill_prompt']) {
      assert.ok(tools.some((t) => t.def.name === name), `${name} is offered`);
    }
  });

  it("inputSchema: the path arguments, then the route's query or body schema as the document has it", () => {
    for (const { def, listing } of tools.filter((t) => !t.def.input)) {
      const op = operation(def.method, def.path);
      const expected: Record<string, unknown> = {};
      for (const param of pathParams(def.path)) {
        expected[def.params?.[param] ?? param] = { type: 'string', pattern: ID_PATTERN.source, description: `fills :${param} of ${def.path}` };
      }
      if (def.method === 'GET') {
        for (const p of op.parameters.filter((p: { in: string }) => p.in === 'query')) expected[p.name] = { ...p.schema, description: p.description };
      } else {
        // A union body (PATCH /api/tasks/:id: an update or an agent's report) offers every alternative's fields.
        const body = op.requestBody?.content['application/json'].schema;
        for (const shape of body?.oneOf ?? [body]) Object.assign(expected, shape?.properties);
      }
      assert.deepEqual(listing.inputSchema.properties, expected, def.name);
      assert.equal(listing.inputSchema.type, 'object');
      assert.equal(listing.annotations.readOnlyHint, def.method === 'GET');
    }
    const create = tools.find((t) => t.def.name === 'create_task')!.listing.inputSchema;
    assert.deepEqual(create.required, ['projectId', 'title']);
    assert.deepEqual(tools.find((t) => t.def.name === 'report')!.listing.inputSchema.required, ['sessionId', 'message']);
  });

  it('complete_task takes taskId and the sessionId and message of a timeline entry', () => {
    const schema = tools.find((t) => t.def.name === 'complete_task')!.listing.inputSchema;
    const update = operation('PATCH', '/api/tasks/:id').requestBody.content['application/json'].schema.oneOf
      .find((shape: { properties: Record<string, unknown> }) => shape.properties.timeline);
    const entry = update.properties.timeline.items.properties;
    assert.deepEqual(Object.keys(schema.properties!), ['taskId', 'sessionId', 'message']);
    assert.deepEqual(schema.properties!.sessionId, entry.sessionId);
    assert.deepEqual(schema.properties!.message, entry.message);
    assert.deepEqual(schema.required, ['taskId']);
  });

  it('refuses a tool whose path argument shadows a body field', () => {
    const route = routes.find((r) => r.method === 'POST' && r.path === '/api/sessions/:id/timeline') as RouteDef;
    assert.throws(() => buildTools([route], [{ name: 'x', description: 'd', method: 'POST', path: route.path, params: { id: 'taskId' } }]),
      /argument taskId is both a path parameter and a field/);
  });

  it('takes the properties of every object of a union body, none required', () => {
    const route = routes.find((r) => r.path === '/mcp') as RouteDef;
    const [tool] = buildTools([route], [{ name: 'rpc', description: 'd', method: 'POST', path: '/mcp' }]);
    assert.deepEqual(Object.keys(tool.listing.inputSchema.properties!), ['jsonrpc', 'method', 'id', 'params']);
    assert.equal(tool.listing.inputSchema.required, undefined);
  });
});
