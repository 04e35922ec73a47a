/**
 * SPEC §13 GET /openapi.json against the running server: the document served is
 * the one built from the route table; its request bodies accept and refuse what the
 * server does; and every answer the server gives a probe of each route is one the
 * document lists for that route (status, error code, the success body's schema).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { openApiDocument, openApiPath, routeErrors } from '../../src/api/openapi.ts';
import { routeTable } from '../../src/api/routes.ts';
import { ERROR_STATUS } from '../../src/errors.ts';
import type { Project } from '../../src/types.ts';
import { type Api, assertError, client, entities, FIXTURE_SKILLS, http, startTestServer, type TestServer } from '../helpers.ts';

describe('§13 GET /openapi.json', () => {
  let server: TestServer;
  let api: Api;
  let project: Project;
  let document: any;

  before(async () => {
    server = await startTestServer({ SKILLS_DIR: FIXTURE_SKILLS });
    api = client(server.url);
    project = await entities(api).create('project', { name: 'doc' });
    document = (await api.get('/openapi.json')).body;
  });
  after(() => server.cleanup());

  it('serves the document built from the route table, the same bytes every time', async () => {
    const [a, b] = [await api.get('/openapi.json'), await api.get('/openapi.json')];
    assert.equal(a.status, 200);
    assert.match(String(a.headers['content-type']), /^application\/json/);
    assert.equal(a.text, b.text);
    assert.deepEqual(a.body, JSON.parse(JSON.stringify(openApiDocument(routeTable()))));
    assert.equal(a.body.openapi, '3.1.0');
  });

  it('needs the token like any other route', async () => {
    const guarded = await startTestServer({ MAESTRO_TOKEN: 't0ken' });
    try {
      assertError(await http(guarded.url, 'GET', '/openapi.json'), 401, 'UNAUTHORIZED');
      assert.equal((await http(guarded.url, 'GET', '/openapi.json', undefined, { headers: { authorization: 'Bearer t0ken' } })).status, 200);
    } finally {
      await guarded.cleanup();
    }
  });

  it('request bodies: the document and the server give the same verdict on the same body', async () => {
    const ajv = new Ajv2020({ strict: false });
    const task = await entities(api).create('task', { projectId: project.id, title: 'parent' });
    const p = project.id;
    const samples: [string, string, string, unknown, boolean][] = [
      ['POST', '/api/projects', '/api/projects', { name: 'a' }, true],
      ['POST', '/api/projects', '/api/projects', { name: 'a', unknownField: [1] }, true],
      ['POST', '/api/projects', '/api/projects', { name: '' }, false],
      ['POST', '/api/projects', '/api/projects', { name: ' \t\n' }, false],
      ['POST', '/api/projects', '/api/projects', { name: 3 }, false],
      ['POST', '/api/projects', '/api/projects', { name: 'a', workingDir: 5 }, false],
      ['POST', '/api/projects', '/api/projects', {}, false],
      ['POST', '/api/projects', '/api/projects', [], false],
      ['POST', '/api/tasks', '/api/tasks', { projectId: p, title: 't' }, true],
      ['POST', '/api/tasks', '/api/tasks', { projectId: p, title: 't', status: 'todo', priority: 'high', parentId: null }, true],
      ['POST', '/api/tasks', '/api/tasks', { projectId: p, title: 't', parentId: task.id, dependencies: [task.id], skillIds: ['x'] }, true],
      ['POST', '/api/tasks', '/api/tasks', { projectId: p, title: 't', status: 'done' }, false],
      ['POST', '/api/tasks', '/api/tasks', { projectId: p, title: 't', priority: 'urgent' }, false],
      ['POST', '/api/tasks', '/api/tasks', { projectId: 'bad id!', title: 't' }, false],
      ['POST', '/api/tasks', '/api/tasks', { projectId: p, title: 't', dependencies: ['a b'] }, false],
      ['POST', '/api/tasks', '/api/tasks', { projectId: p, title: 't', skillIds: [''] }, false],
      ['PATCH', '/api/tasks/:id', `/api/tasks/${task.id}`, { timeline: [{ message: 'm' }] }, true],
      ['PATCH', '/api/tasks/:id', `/api/tasks/${task.id}`, { timeline: [{ type: 'Bad Type' }] }, false],
      ['PATCH', '/api/tasks/:id', `/api/tasks/${task.id}`, { title: null }, false],
      ['POST', '/api/tasks/:id/subtasks', `/api/tasks/${task.id}/subtasks`, { title: 's', order: 2 }, true],
      ['POST', '/api/tasks/:id/subtasks', `/api/tasks/${task.id}/subtasks`, { title: 's', order: 1.5 }, false],
      ['POST', '/api/sessions', '/api/sessions', { projectId: p, env: { A: '1' }, metadata: { x: { y: [1] } } }, true],
      ['POST', '/api/sessions', '/api/sessions', { projectId: p, env: { A: 1 } }, false],
      ['POST', '/api/sessions', '/api/sessions', { projectId: p, env: ['A'] }, false],
      ['POST', '/api/sessions', '/api/sessions', { projectId: p, metadata: [] }, false],
      ['POST', '/api/sessions', '/api/sessions', { projectId: p, metadata: null }, false],
      ['POST', '/api/sessions', '/api/sessions', { projectId: p, status: 'bogus' }, false],
      ['POST', '/api/sessions/spawn', '/api/sessions/spawn', { projectId: p, taskIds: [task.id], skills: ['git-flow'], role: 'orchestrator' }, true],
      ['POST', '/api/sessions/spawn', '/api/sessions/spawn', { projectId: p, taskIds: [] }, false],
      ['POST', '/api/sessions/spawn', '/api/sessions/spawn', { projectId: p, taskIds: [task.id], skills: ['..'] }, false],
      ['POST', '/api/sessions/spawn', '/api/sessions/spawn', { projectId: p, taskIds: [task.id], skills: ['a/b'] }, false],
      ['POST', '/api/sessions/spawn', '/api/sessions/spawn', { projectId: p, taskIds: [task.id], role: 'boss' }, false],
    ];
    for (const [method, pattern, path, body, valid] of samples) {
      const schema = document.paths[openApiPath(pattern)][method.toLowerCase()].requestBody.content['application/json'].schema;
      const documentSays = ajv.validate({ ...schema, components: document.components }, body);
      const res = await api.request(method, path, body);
      const serverSays = !(res.status === 400 && res.body.code === 'VALIDATION_ERROR');
      const at = `${method} ${path} ${JSON.stringify(body)}`;
      assert.equal(documentSays, valid, `document: ${at} ${JSON.stringify(ajv.errors)}`);
      assert.equal(serverSays, valid, `server: ${at} ${res.text.slice(0, 300)}`);
      if (valid) assert.ok(res.status < 300, `${at}: ${res.text.slice(0, 300)}`);
    }
  });

  it('every answer to a probe of every route is one the document lists for it, successes matching their schema', async () => {
    // An event stream never ends on its own: the feed is probed in its own test below.
    const routes = routeTable().filter((r) => !r.rpc && r.response.contentType !== 'text/event-stream');
    const task = await entities(api).create('task', { projectId: project.id, title: 'probe' });
    const session = await entities(api).create('session', { projectId: project.id, taskIds: [task.id] });
    const subtask = (await api.post(`/api/tasks/${task.id}/subtasks`, { title: 's' })).body;
    const existing: Record<string, string> = { projects: project.id, tasks: task.id, sessions: session.id, skills: 'git-flow' };
    const fill = (path: string, ids: 'existing' | 'missing' | 'malformed') => path.replace(/:([A-Za-z]+)/g, (_, param: string) => {
      if (ids === 'missing') return `${param}_missing`;
      if (ids === 'malformed') return 'a.b';
      if (param === 'subtaskId') return subtask.id;
      if (param === 'taskId') return task.id;
      return existing[path.split('/')[2]];
    });
    const bodies: { text?: string; type?: string; ifMatch?: string }[] = [
      {}, { text: '{}' }, { text: '{"title": 5, "name": "", "projectId": "x y", "status": "nope"}' },
      { text: '{"broken"' }, { text: '{}', type: 'text/plain' }, { text: '{}', ifMatch: '"999"' },
    ];
    const ajv = new Ajv2020({ strict: false });
    const validators = new Map<string, ValidateFunction>();
    ajv.addSchema({ $id: 'doc', components: document.components });
    let probes = 0;
    let successes = 0;
    for (const route of routes.filter((r) => r.method !== 'DELETE').concat(routes.filter((r) => r.method === 'DELETE'))) {
      const op = document.paths[openApiPath(route.path)][route.method.toLowerCase()];
      const codes = routeErrors(route);
      for (const ids of ['existing', 'missing', 'malformed'] as const) {
        for (const b of bodies) {
          const headers: Record<string, string> = { ...(b.text ? { 'content-type': b.type ?? 'application/json' } : {}), ...(b.ifMatch ? { 'if-match': b.ifMatch } : {}) };
          const res = await http(server.url, route.method, fill(route.path, ids), undefined, { raw: b.text, headers });
          const at = `${route.method} ${fill(route.path, ids)} ${JSON.stringify(b)} → ${res.status} ${res.text.slice(0, 200)}`;
          probes++;
          if (res.status < 400) {
            assert.ok(op.responses[String(res.status)], `undocumented success status: ${at}`);
            const key = `${route.method} ${route.path} ${res.status}`;
            if (!validators.has(key)) {
              const schema = op.responses[String(res.status)].content['application/json'].schema;
              validators.set(key, ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/'))));
            }
            const valid = validators.get(key)!;
            assert.ok(valid(res.body), `${at}: ${JSON.stringify(valid.errors)}`);
            successes++;
            continue;
          }
          assertError(res, res.status, res.body.code);
          assert.ok(codes.includes(res.body.code), `undocumented code: ${at}`);
          assert.equal(ERROR_STATUS[res.body.code as keyof typeof ERROR_STATUS], res.status, at);
          assert.ok(op.responses[String(res.status)].content['application/json'].schema.allOf[1].properties.code.enum.includes(res.body.code), at);
        }
      }
    }
    assert.equal(probes, routes.length * 3 * bodies.length);
    assert.ok(successes >= routes.length, `${successes} successful answers checked against their schema`);
  });

  it('the event feed answers the status and content type its route documents', async () => {
    const streams = routeTable().filter((r) => r.response.contentType === 'text/event-stream');
    assert.deepEqual(streams.map((r) => `${r.method} ${r.path}`), ['GET /api/events']);
    for (const route of streams) {
      const op = document.paths[openApiPath(route.path)][route.method.toLowerCase()];
      const abort = new AbortController();
      const res = await fetch(`${server.url}${route.path}`, { signal: abort.signal });
      try {
        assert.ok(op.responses[String(res.status)].content['text/event-stream'], `${res.status}`);
        assert.equal(res.headers.get('content-type')?.split(';')[0], 'text/event-stream');
        assert.deepEqual(op.parameters.filter((p: { in: string }) => p.in === 'query').map((p: { name: string }) => p.name).sort(),
          ['serverId', 'since', 'token']);
      } finally {
        abort.abort();
      }
    }
  });
});
