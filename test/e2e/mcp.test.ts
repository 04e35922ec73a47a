/**
 * SPEC §13 MCP: the official SDK client over Streamable HTTP against a real server.
 * Each tool's answer, broadcasts and files are compared with the HTTP route it maps
 * onto; malformed JSON-RPC and the §8 guards are sent raw.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Project, Session, Task } from '../../src/types.ts';
import {
  type Api, assertError, client, entities, EventLog, FIXTURE_SKILLS, http, startTestServer, type TestServer, waitFor,
} from '../helpers.ts';


async function connect(url: string, headers: Record<string, string> = {}) {
  const mcp = new Client({ name: 'maestro-test', version: '1.0.0' });
  await mcp.connect(new StreamableHTTPClientTransport(new URL('/mcp', url), { requestInit: { headers } }));
  return mcp;
}

type ToolResult = { isError?: boolean; content: { type: string; text: string }[] };

/** Ids, times and versions differ between two runs of the same change; everything else must not. */
function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (typeof value === 'string') return value.replace(/\b(proj|task|sess|sub|evt|st)_\d+_[a-z0-9]+/g, '<id>');
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) =>
    [k, ['createdAt', 'updatedAt', 'timestamp', 'startedAt', 'completedAt', 'lastActivity'].includes(k) && v !== null ? '<time>' : normalize(v)]));
}

describe('§13 MCP over the SDK client', () => {
  let server: TestServer;
  let api: Api;
  let events: EventLog;
  let mcp: Client;
  let project: Project;

  before(async () => {
    server = await startTestServer({ SKILLS_DIR: FIXTURE_SKILLS });
    api = client(server.url);
    events = await EventLog.connect(server.url);
    project = await entities(api).create('project', { name: 'mcp' });
    mcp = await connect(server.url);
  });
  after(async () => {
    await mcp.close();
    events.close();
    await server.cleanup();
  });

  const called = new Set<string>();
  const call = async (name: string, args: Record<string, unknown>) => {
    called.add(name);
    return (await mcp.callTool({ name, arguments: args })) as ToolResult;
  };
  const text = (result: ToolResult) => {
    assert.equal(result.content.length, 1);
    assert.equal(result.content[0].type, 'text');
    return result.content[0].text;
  };
  const ok = (result: ToolResult) => {
    assert.equal(result.isError, false, text(result));
    return JSON.parse(text(result));
  };
  /** Runs `act` and returns the events it broadcast, once the server answered. */
  const during = async <T>(act: () => Promise<T>): Promise<{ value: T; types: string[]; data: unknown[] }> => {
    const seq = events.events.at(-1)?.seq ?? 0;
    const marker = `marker-${Math.random()}`;
    const value = await act();
    // A marker change after the act: once its event arrives, every event of the act has.
    await api.patch(`/api/projects/${project.id}`, { description: marker });
    await events.next((m) => m.type === 'project:updated' && m.data.description === marker);
    const mine = events.events.filter((m) => m.seq! > seq && !(m.type === 'project:updated' && m.data.description === marker));
    return { value, types: mine.map((m) => m.type), data: mine.map((m) => m.data) };
  };
  const twins = async <K extends 'task' | 'session'>(kind: K, body: object) =>
    [await entities(api).create(kind, body), await entities(api).create(kind, body)];
  /** The tool and the route do the same change on twins: answers, broadcasts and the stored entity agree. */
  const sameAsHttp = async (tool: () => Promise<ToolResult>, route: () => Promise<{ status: number; body: unknown }>, status: number) => {
    const viaTool = await during(tool);
    const viaHttp = await during(route);
    assert.equal(viaHttp.value.status, status);
    const answer = ok(viaTool.value);
    assert.deepEqual(normalize(answer), normalize(viaHttp.value.body));
    assert.deepEqual(viaTool.types, viaHttp.types);
    assert.ok(viaTool.types.length > 0);
    assert.deepEqual(normalize(viaTool.data), normalize(viaHttp.data));
    return answer;
  };

  it('initializes with a supported protocol version and says what it is', () => {
    assert.deepEqual(mcp.getServerVersion()?.name, 'maestro-server');
    assert.deepEqual(mcp.getServerCapabilities(), { tools: { listChanged: false } });
    assert.match(mcp.getInstructions() ?? '', /claim_next_task/);
  });

  it('lists the tools with JSON Schema inputs', async () => {
    const { tools } = await mcp.listTools();
    const names = tools.map((t) => t.name);
    assert.deepEqual(names.sort(), [
      'add_subtask', 'claim_next_task', 'claim_task', 'complete_task', 'create_task', 'get_skill_prompt', 'get_task', 'heartbeat',
      'list_projects', 'list_sessions', 'list_tasks', 'release_task', 'report', 'update_task',
    ]);
    const get = tools.find((t) => t.name === 'get_task')!;
    assert.deepEqual(get.inputSchema.required, ['taskId']);
    assert.equal(get.annotations?.readOnlyHint, true);
    assert.equal(tools.find((t) => t.name === 'create_task')!.annotations?.readOnlyHint, false);
  });

  it('list_projects, get_task, list_tasks, list_sessions, get_skill_prompt answer the route\'s exact bytes', async () => {
    const task = await entities(api).create('task', { projectId: project.id, title: 'read me' });
    const child = await entities(api).create('task', { projectId: project.id, title: 'child', parentId: task.id, status: 'in_progress' });
    await entities(api).create('session', { projectId: project.id, taskIds: [task.id], status: 'running' });
    const pairs: [string, Record<string, unknown>, string][] = [
      ['list_projects', {}, '/api/projects'],
      ['get_task', { taskId: task.id }, `/api/tasks/${task.id}`],
      ['list_tasks', { projectId: project.id }, `/api/tasks?projectId=${project.id}`],
      ['list_tasks', { projectId: project.id, parentId: null }, `/api/tasks?projectId=${project.id}&parentId=null`],
      ['list_tasks', { status: 'in_progress,blocked' }, '/api/tasks?status=in_progress,blocked'],
      ['list_tasks', { parentId: task.id }, `/api/tasks?parentId=${task.id}`],
      ['list_sessions', { projectId: project.id, active: 'true' }, `/api/sessions?projectId=${project.id}&active=true`],
      ['list_sessions', { taskId: task.id, active: true }, `/api/sessions?taskId=${task.id}&active=true`],
      ['get_skill_prompt', { role: 'worker', skills: ['git-flow', 'release'] }, '/api/skills/prompt?role=worker&skills=git-flow,release'],
    ];
    for (const [tool, args, path] of pairs) {
      const res = await api.get(path);
      assert.equal(res.status, 200);
      assert.equal(text(await call(tool, args)), res.text, `${tool} ${JSON.stringify(args)}`);
    }
    assert.deepEqual(ok(await call('list_tasks', { parentId: task.id })).map((t: Task) => t.id), [child.id]);
    assert.match(ok(await call('get_skill_prompt', { role: 'worker', skills: 'git-flow' })).prompt, /git-flow|Git/i);
  });

  it('list_tasks takes ready (SPEC §10)', async () => {
    const res = await api.get(`/api/tasks?projectId=${project.id}&ready=true`);
    assert.equal(text(await call('list_tasks', { projectId: project.id, ready: true })), res.text);
  });

  it('create_task: same answer, broadcasts and file as POST /api/tasks', async () => {
    const body = { projectId: project.id, title: 'made by an agent', priority: 'high', status: 'todo', skillIds: ['a'] };
    const task = await sameAsHttp(() => call('create_task', body), () => api.post('/api/tasks', body), 201) as Task;
    assert.equal(task.status, 'todo');
    assert.deepEqual(await entities(api).get('task', task.id), task);
    await waitFor(() => existsSync(join(server.dataDir, 'tasks', project.id, `${task.id}.json`)));
  });

  it('update_task and complete_task: same as PATCH /api/tasks/:id', async () => {
    const session = await entities(api).create('session', { projectId: project.id, status: 'running' });
    const [a, b] = await twins('task', { projectId: project.id, title: 'twin' });
    const patch = { status: 'in_progress', description: 'working', timeline: [{ type: 'note', message: 'hi' }] };
    await sameAsHttp(() => call('update_task', { taskId: a.id, ...patch }), () => api.patch(`/api/tasks/${b.id}`, patch), 200);
    const done = await sameAsHttp(
      () => call('complete_task', { taskId: a.id, sessionId: session.id, message: 'all green' }),
      () => api.patch(`/api/tasks/${b.id}`, { status: 'completed', timeline: [{ type: 'task_completed', message: 'all green', sessionId: session.id }] }),
      200) as Task;
    assert.equal(done.status, 'completed');
    assert.ok(done.completedAt);
    const last = done.timeline.at(-1)!;
    assert.deepEqual([last.type, last.message, last.sessionId, last.taskId], ['task_completed', 'all green', session.id, a.id]);
    const plain = ok(await call('complete_task', { taskId: b.id })) as Task;
    assert.deepEqual([plain.timeline.at(-1)!.type, plain.timeline.at(-1)!.message], ['task_completed', 'Task completed']);
  });

  it('add_subtask: same as POST /api/tasks/:id/subtasks', async () => {
    const [a, b] = await twins('task', { projectId: project.id, title: 'twin' });
    const sub = await sameAsHttp(() => call('add_subtask', { taskId: a.id, title: 'step 1' }), () => api.post(`/api/tasks/${b.id}/subtasks`, { title: 'step 1' }), 201);
    assert.equal((await entities(api).get('task', a.id)).subtasks[0].id, sub.id);
  });

  it('report: same as POST /api/sessions/:id/timeline, on the task too', async () => {
    const [t1, t2] = await twins('task', { projectId: project.id, title: 'twin' });
    const s1 = await entities(api).create('session', { projectId: project.id, taskIds: [t1.id], name: 'twin' });
    const s2 = await entities(api).create('session', { projectId: project.id, taskIds: [t2.id], name: 'twin' });
    const args = { message: 'halfway', type: 'milestone' };
    const session = await sameAsHttp(() => call('report', { sessionId: s1.id, taskId: t1.id, ...args }),
      () => api.post(`/api/sessions/${s2.id}/timeline`, { taskId: t2.id, ...args }), 201) as Session;
    assert.equal(session.timeline.at(-1)!.message, 'halfway');
    const last = (await entities(api).get('task', t1.id)).timeline.at(-1)!;
    assert.deepEqual([last.type, last.message, last.sessionId], ['milestone', 'halfway', s1.id]);
  });

  it('concurrent tool calls and HTTP writes on one task: every change kept, one version each', async () => {
    const task = await entities(api).create('task', { projectId: project.id, title: 'busy' });
    const clients = await Promise.all(Array.from({ length: 4 }, () => connect(server.url)));
    try {
      const viaTools = Array.from({ length: 40 }, (_, i) => clients[i % 4].callTool({ name: 'update_task', arguments: { taskId: task.id, timeline: [{ message: `tool ${i}` }] } }));
      const viaHttp = Array.from({ length: 20 }, (_, i) => api.patch(`/api/tasks/${task.id}`, { timeline: [{ message: `http ${i}` }] }));
      const results = await Promise.all([...viaTools, ...viaHttp]);
      for (const r of results) assert.ok('status' in r ? r.status === 200 : r.isError === false);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    const final = await entities(api).get('task', task.id);
    assert.equal(final.version, task.version + 60);
    const messages = final.timeline.map((e) => e.message).filter((m) => /^(tool|http) /.test(m ?? ''));
    assert.equal(new Set(messages).size, 60);
  });

  it('a refused call is a result with isError and the error code and message, and changes nothing', async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['get_task', { taskId: 'task_nope' }, 'TASK_NOT_FOUND'],
      ['get_task', {}, 'VALIDATION_ERROR'],
      ['get_task', { taskId: 'a.b' }, 'VALIDATION_ERROR'],
      ['create_task', { projectId: project.id, title: '  ' }, 'VALIDATION_ERROR'],
      ['create_task', { projectId: 'proj_missing', title: 't' }, 'PROJECT_NOT_FOUND'],
      ['update_task', { taskId: 'task_nope', status: 'completed' }, 'TASK_NOT_FOUND'],
      ['complete_task', { taskId: 'task_nope' }, 'TASK_NOT_FOUND'],
      ['report', { sessionId: 'sess_nope', message: 'm' }, 'SESSION_NOT_FOUND'],
      ['get_skill_prompt', { skills: '..' }, 'VALIDATION_ERROR'],
    ];
    for (const [tool, args, code] of cases) {
      const { value: result, types } = await during(() => call(tool, args));
      assert.equal(result.isError, true, `${tool} ${JSON.stringify(args)}`);
      const error = JSON.parse(text(result));
      assertError({ status: 400, text: text(result), body: error }, 400, error.code);
      assert.equal(error.code, code, `${tool}: ${text(result)}`);
      assert.deepEqual(types, []);
    }
    const invalid = JSON.parse(text(await call('update_task', { taskId: 'task_nope', status: 'bogus' })));
    assert.deepEqual(invalid.details.fields.map((f: { field: string }) => f.field), ['status']);
  });

  it('an unknown tool is a JSON-RPC invalid params error', async () => {
    await assert.rejects(mcp.callTool({ name: 'drop_tables', arguments: {} }), (e: { code?: number }) => e.code === -32602);
  });

  it('answers ping', async () => {
    assert.deepEqual(await mcp.ping(), {});
  });

  describe('SPEC §10 tools', () => {
    it('claim_task, release_task, heartbeat, claim_next_task', async () => {
      const session = await entities(api).create('session', { projectId: project.id, status: 'running' });
      const task = await entities(api).create('task', { projectId: project.id, title: 'claim me', priority: 'high' });
      assert.equal(ok(await call('claim_task', { taskId: task.id, sessionId: session.id })).claimedBy, session.id);
      const other = await entities(api).create('session', { projectId: project.id, status: 'running' });
      const refused = await call('claim_task', { taskId: task.id, sessionId: other.id });
      assert.equal(refused.isError, true);
      assert.equal(JSON.parse(text(refused)).code, 'TASK_CLAIMED');
      assert.equal(ok(await call('release_task', { taskId: task.id, sessionId: session.id })).claimedBy, null);
      assert.equal(ok(await call('heartbeat', { sessionId: session.id })).sessionId, session.id);
      assert.equal(ok(await call('claim_next_task', { projectId: project.id, sessionId: session.id })).claimedBy, session.id);
    });
  });

  it('every listed tool was called by a test above', async () => {
    const { tools } = await mcp.listTools();
    assert.deepEqual(tools.map((t) => t.name).filter((name) => !called.has(name)), []);
  });
});

describe('§13 MCP JSON-RPC over raw HTTP', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer(); });
  after(() => server.cleanup());

  const answered = new Set<number>();
  const rpc = async (body: unknown, headers: Record<string, string> = {}) => {
    const res = await http(server.url, 'POST', '/mcp', undefined, { raw: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
    answered.add(res.status);
    return res;
  };
  const rpcError = (res: { status: number; body: any }, status: number, code: number, id: unknown = null) => {
    assert.equal(res.status, status);
    assert.equal(res.body.jsonrpc, '2.0');
    assert.equal(res.body.id, id);
    assert.equal(res.body.error.code, code);
    assert.equal(typeof res.body.error.message, 'string');
  };

  it('an Idempotency-Key on /mcp is not acted on: MCP calls carry no key, so each call runs (SPEC §11 is for HTTP routes)', async () => {
    const project = (await http(server.url, 'POST', '/api/projects', { name: 'keys' })).body;
    const create = (title: string) => rpc(
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'create_task', arguments: { projectId: project.id, title } } },
      { 'idempotency-key': 'same-key' },
    );
    const [a, b] = [await create('one'), await create('two')];
    for (const res of [a, b]) {
      assert.equal(res.status, 200);
      assert.equal(res.body.result.isError, false);
      assert.equal(res.headers['idempotent-replayed'], undefined);
    }
    const titles = (await http(server.url, 'GET', `/api/tasks?projectId=${project.id}`)).body.map((t: { title: string }) => t.title);
    assert.deepEqual(titles, ['one', 'two']);
  });

  it('malformed JSON is a parse error (-32700)', async () => {
    rpcError(await rpc('{"jsonrpc":"2.0",'), 400, -32700);
  });

  it('a message that is not a JSON-RPC 2.0 request is invalid (-32600)', async () => {
    for (const bad of [{ jsonrpc: '1.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', id: 1 }, { jsonrpc: '2.0', id: { x: 1 }, method: 'ping' }, 42, '"ping"', null]) {
      rpcError(await rpc(bad), 400, -32600, typeof bad === 'object' && bad && typeof (bad as { id: unknown }).id === 'number' ? 1 : null);
    }
    rpcError(await rpc({ jsonrpc: '2.0', id: 7, method: 'ping', params: [1] }), 400, -32600, 7);
    rpcError(await rpc(''), 400, -32600);
    rpcError(await rpc([]), 400, -32600);
  });

  it('an unknown method is -32601; bad params -32602', async () => {
    rpcError(await rpc({ jsonrpc: '2.0', id: 'a', method: 'resources/list' }), 200, -32601, 'a');
    rpcError(await rpc({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { arguments: {} } }), 200, -32602, 2);
    rpcError(await rpc({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'get_task', arguments: [] } }), 200, -32602, 3);
    rpcError(await rpc({ jsonrpc: '2.0', id: 4, method: 'initialize', params: {} }), 200, -32602, 4);
  });

  it('initialize: echoes a supported version, offers the newest otherwise', async () => {
    for (const [asked, given] of [['2025-03-26', '2025-03-26'], ['2025-06-18', '2025-06-18'], ['2024-11-05', '2025-06-18']]) {
      const res = await rpc({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: asked, capabilities: {}, clientInfo: { name: 'c', version: '1' } } });
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.equal(res.body.result.protocolVersion, given);
      assert.equal(res.headers['mcp-session-id'], undefined, 'stateless: no session id');
    }
  });

  it('notifications and client responses get 202 with no body', async () => {
    for (const message of [{ jsonrpc: '2.0', method: 'notifications/initialized' }, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } }, { jsonrpc: '2.0', id: 5, result: {} }]) {
      const res = await rpc(message);
      assert.equal(res.status, 202);
      assert.equal(res.text, '');
    }
  });

  it('answers a batch in order, leaving out notifications', async () => {
    const res = await rpc([{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', method: 'notifications/initialized' }, { jsonrpc: '2.0', id: 2, method: 'nope' }]);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, [{ jsonrpc: '2.0', id: 1, result: {} }, { jsonrpc: '2.0', id: 2, error: { code: -32601, message: 'Method not found: nope' } }]);
    assert.equal((await rpc([{ jsonrpc: '2.0', method: 'notifications/initialized' }])).status, 202);
  });

  it('refuses an unsupported MCP-Protocol-Version header with 400', async () => {
    rpcError(await rpc({ jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-protocol-version': '1999-01-01' }), 400, -32600);
    assert.equal((await rpc({ jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-protocol-version': '2025-03-26' })).status, 200);
  });

  it('GET /mcp is 405 (no server stream), and so is DELETE', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await http(server.url, method, '/mcp');
      assertError(res, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(res.headers.allow, 'POST');
    }
  });

  it('HTTP rules still hold: JSON content type, body limit', async () => {
    assertError(await rpc('{}', { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    assertError(await rpc(`{"x":"${'a'.repeat(1_100_000)}"}`), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('every status answered above is in the document for POST /mcp', async () => {
    const op = (await http(server.url, 'GET', '/openapi.json')).body.paths['/mcp'].post;
    assert.deepEqual([...answered].sort(), [200, 202, 400, 413, 415]);
    for (const status of answered) assert.ok(op.responses[String(status)], `${status}`);
    assert.equal(op.responses['400'].content['application/json'].schema.properties.error.properties.code.type, 'number');
  });

  it('Host and Origin rules apply to /mcp', async () => {
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const send = (headers: Record<string, string>) => http(server.url, 'POST', '/mcp', undefined, { raw: ping, headers: { 'content-type': 'application/json', ...headers } });
    assertError(await send({ host: 'evil.example' }), 403, 'FORBIDDEN');
    assertError(await send({ origin: 'https://evil.example' }), 403, 'FORBIDDEN');
    assert.equal((await send({ origin: 'http://localhost:5173' })).status, 200);
  });
});

describe('§13 MCP with MAESTRO_TOKEN', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ MAESTRO_TOKEN: 'sekrit-token' }); });
  after(() => server.cleanup());

  it('the SDK transport with an Authorization header works', async () => {
    const mcp = await connect(server.url, { Authorization: 'Bearer sekrit-token' });
    const { tools } = await mcp.listTools();
    assert.ok(tools.some((t) => t.name === 'create_task'));
    const project = JSON.parse(((await mcp.callTool({ name: 'list_projects', arguments: {} })) as ToolResult).content[0].text);
    assert.deepEqual(project, []);
    await mcp.close();
  });

  it('without the token, or with another, it is 401', async () => {
    await assert.rejects(connect(server.url), /401|Unauthorized/i);
    await assert.rejects(connect(server.url, { Authorization: 'Bearer wrong' }), /401|Unauthorized/i);
    const res = await http(server.url, 'POST', '/mcp', undefined, { raw: '{"jsonrpc":"2.0","id":1,"method":"ping"}', headers: { 'content-type': 'application/json' } });
    assertError(res, 401, 'UNAUTHORIZED');
  });
});
