/**
 * Property-based fuzzing of every POST/PATCH/PUT route (SPEC §2, §4, §8) with
 * fast-check on a fixed seed: random JSON, random values, random text and "almost
 * valid" bodies (one field replaced, `__proto__`/`constructor`/`prototype` keys,
 * unicode-escaped too). Whatever is sent: no 5xx, errors have the error shape and no
 * stack trace, nothing pollutes a prototype, and task↔session links stay consistent.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { startTestServer, type TestServer } from '../helpers.ts';

const SEED = 42;
const RUNS_PER_ROUTE = 150;
const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'];
const UNKNOWN = 'fuzzUnknownField_q7';
const STACK = /\n\s+at |    at |\.ts:\d+:\d+/;

interface Res {
  status: number;
  text: string;
  headers: Record<string, unknown>;
}

const agent = new Agent({ keepAlive: true, maxSockets: 2 });

function send(base: URL, method: string, path: string, text: string | undefined, contentType: string | undefined, retry = true): Promise<Res> {
  const headers: Record<string, string> = {};
  const payload = text === undefined ? undefined : Buffer.from(text, 'utf8');
  if (payload) {
    headers['content-length'] = String(payload.length);
    if (contentType) headers['content-type'] = contentType;
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: base.hostname, port: base.port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // A kept-alive socket the server closed between two requests: the documented retry case.
      if (retry && req.reusedSocket && err.code === 'ECONNRESET') resolve(send(base, method, path, text, contentType, false));
      else reject(err);
    });
    req.end(payload);
  });
}

/** Parses JSON and reports whether any object in it has an own forbidden or unknown key. */
function inspect(text: string): { body: any; badKeys: string[] } {
  const badKeys: string[] = [];
  const body = JSON.parse(text, (key, value) => {
    if (FORBIDDEN_KEYS.includes(key) || key === UNKNOWN) badKeys.push(key);
    return value;
  });
  return { body, badKeys };
}

/** JSON text of `obj` where `key` (even `__proto__`) is an own property holding `value`. */
function withField(obj: Record<string, unknown>, key: string, value: unknown): string | undefined {
  const copy: Record<string, unknown> = { ...obj };
  delete copy[key];
  Object.defineProperty(copy, key, { value, enumerable: true, configurable: true, writable: true });
  return JSON.stringify(copy);
}

/** A value for a replaced field: anything, JSON, ids (good and bad), dangerous objects. */
const fieldValue = (ids: string[]) => fc.oneof(
  fc.anything(),
  fc.jsonValue(),
  fc.string(),
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, '', ' ', 'todo', 'completed', 'worker', 'orchestrator', '../x', 'a/b', 'x'.repeat(129)),
  fc.constantFrom(...ids),
  fc.array(fc.constantFrom(...ids, '', 'a b', '..', 'x'.repeat(129)), { maxLength: 4 }),
  fc.dictionary(fc.constantFrom(...FORBIDDEN_KEYS, 'polluted', 'a', 'reason'), fc.jsonValue(), { maxKeys: 3 }),
  fc.constant({ __proto__: null, polluted: 'yes' }),
);

interface Body {
  kind: string;
  text: string | undefined;
  contentType: string | undefined;
  /** The valid body plus only an ignorable key: must succeed. */
  extraOnly: boolean;
}

function bodies(valid: () => Record<string, unknown>, ids: string[]): fc.Arbitrary<Body> {
  const contentType = fc.constantFrom('application/json', 'application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', undefined);
  const fields = Object.keys(valid());
  const escape = (text: string | undefined, on: boolean) => (on && text ? text.replace(/"__proto__"/g, '"\\u005f_proto__"') : text);
  return fc.oneof(
    fc.record({ v: fc.anything(), ct: contentType }).map(({ v, ct }) => ({ kind: 'anything', text: JSON.stringify(v), contentType: ct, extraOnly: false })),
    fc.record({ v: fc.json(), ct: contentType }).map(({ v, ct }) => ({ kind: 'json', text: v, contentType: ct, extraOnly: false })),
    fc.record({ v: fc.string({ maxLength: 40 }), ct: contentType }).map(({ v, ct }) => ({ kind: 'text', text: v, contentType: ct, extraOnly: false })),
    fc.record({ field: fc.constantFrom(...fields), value: fieldValue(ids), esc: fc.boolean() }).map(({ field, value, esc }) => ({
      kind: `almost:${field}`, text: escape(withField(valid(), field, value), esc), contentType: 'application/json', extraOnly: false,
    })),
    fc.record({ field: fc.constantFrom(...fields), drop: fc.boolean() }).map(({ field }) => {
      const body = valid();
      delete body[field];
      return { kind: `without:${field}`, text: JSON.stringify(body), contentType: 'application/json', extraOnly: false };
    }),
    fc.record({ key: fc.constantFrom(...FORBIDDEN_KEYS, UNKNOWN), value: fieldValue(ids), esc: fc.boolean() }).map(({ key, value, esc }) => ({
      kind: `extra:${key}`, text: escape(withField(valid(), key, value), esc), contentType: 'application/json', extraOnly: true,
    })),
    fc.record({ field: fc.constantFrom(...fields), key: fc.constantFrom(...FORBIDDEN_KEYS), esc: fc.boolean() }).map(({ field, key, esc }) => ({
      kind: `nested:${field}.${key}`,
      text: escape(withField(valid(), field, JSON.parse(`{"${key}":{"polluted":"yes","status":"completed"}}`)), esc),
      contentType: 'application/json',
      extraOnly: false,
    })),
  );
}

describe('fuzz: every POST/PATCH/PUT route (fast-check, seed 42)', () => {
  let server: TestServer;
  let base: URL;
  const protoNames = Object.getOwnPropertyNames(Object.prototype).sort();
  let P = '', P2 = '', T1 = '', T2 = '', T3 = '', S = '', ST = '', T4 = '', S4 = '';
  let cases = 0;
  /** Per route: how many answers were successes and how many errors (both must occur). */
  const outcomes = new Map<string, { ok: number; err: number }>();
  const count = (route: string, status: number) => {
    const o = outcomes.get(route) ?? { ok: 0, err: 0 };
    if (status < 400) o.ok++; else o.err++;
    outcomes.set(route, o);
  };

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await send(base, method, path, body === undefined ? undefined : JSON.stringify(body), 'application/json');
    return { ...res, body: res.text ? JSON.parse(res.text) : undefined };
  };

  before(async () => {
    // No spawn cap: the fuzz spawns hundreds of sessions in one project (the cap has its own tests).
    server = await startTestServer({ WRITE_DEBOUNCE_MS: '200', MAX_ACTIVE_SESSIONS: '0' });
    base = new URL(server.url);
    P = (await call('POST', '/api/projects', { name: 'fuzz' })).body.id;
    P2 = (await call('POST', '/api/projects', { name: 'other' })).body.id;
    T1 = (await call('POST', '/api/tasks', { projectId: P, title: 't1' })).body.id;
    T2 = (await call('POST', '/api/tasks', { projectId: P, title: 't2' })).body.id;
    T3 = (await call('POST', '/api/tasks', { projectId: P2, title: 't3' })).body.id;
    S = (await call('POST', '/api/sessions', { projectId: P, taskIds: [T1] })).body.id;
    ST = (await call('POST', `/api/tasks/${T1}/subtasks`, { title: 'st' })).body.id;
    // A pair only the claim routes touch, so their valid bodies always succeed.
    T4 = (await call('POST', '/api/tasks', { projectId: P, title: 't4' })).body.id;
    S4 = (await call('POST', '/api/sessions', { projectId: P, taskIds: [] })).body.id;
    for (const id of [P, P2, T1, T2, T3, S, ST, T4, S4]) assert.match(String(id), /^[A-Za-z0-9_-]+$/);
  });

  after(async () => {
    agent.destroy();
    await server.cleanup();
  });

  const ids = () => [P, P2, T1, T2, T3, S, ST, 'task_missing_1', 'sess_missing_1'];

  interface Route {
    name: string;
    method: string;
    path: () => string;
    valid: () => Record<string, unknown>;
  }

  const routes: Route[] = [
    { name: 'POST /api/projects', method: 'POST', path: () => '/api/projects', valid: () => ({ name: 'n', workingDir: '/tmp/w', description: 'd' }) },
    { name: 'PUT /api/projects/:id', method: 'PUT', path: () => `/api/projects/${P}`, valid: () => ({ name: 'renamed', workingDir: '/w', description: 'd2' }) },
    { name: 'PATCH /api/projects/:id', method: 'PATCH', path: () => `/api/projects/${P}`, valid: () => ({ name: 'patched', description: 'd3' }) },
    {
      name: 'POST /api/tasks', method: 'POST', path: () => '/api/tasks',
      valid: () => ({
        projectId: P, title: 't', parentId: T1, description: 'd', initialPrompt: 'p', priority: 'high', status: 'todo',
        dependencies: [T2], skillIds: ['a'], agentIds: ['b'],
      }),
    },
    {
      name: 'PATCH /api/tasks/:id', method: 'PATCH', path: () => `/api/tasks/${T2}`,
      valid: () => ({
        title: 'tt', description: 'd', status: 'in_progress', priority: 'low', parentId: null, dependencies: [T1],
        skillIds: [], agentIds: ['x'], initialPrompt: 'i', sessionIds: [S], timeline: [{ type: 'progress', message: 'm' }],
      }),
    },
    { name: 'POST /api/tasks/:id/timeline', method: 'POST', path: () => `/api/tasks/${T1}/timeline`, valid: () => ({ message: 'm', type: 'milestone', sessionId: S }) },
    { name: 'POST /api/tasks/:id/subtasks', method: 'POST', path: () => `/api/tasks/${T1}/subtasks`, valid: () => ({ title: 's', description: 'd', order: 3 }) },
    { name: 'PATCH /api/tasks/:id/subtasks/:sid', method: 'PATCH', path: () => `/api/tasks/${T1}/subtasks/${ST}`, valid: () => ({ title: 's2', description: 'd', completed: true, order: 1 }) },
    // A second body for the same route: PUT there is 405 (SPEC §2), so the unchecking update goes by PATCH.
    { name: 'PATCH /api/tasks/:id/subtasks/:sid (uncheck)', method: 'PATCH', path: () => `/api/tasks/${T1}/subtasks/${ST}`, valid: () => ({ title: 's3', completed: false }) },
    {
      name: 'POST /api/sessions', method: 'POST', path: () => '/api/sessions',
      valid: () => ({ projectId: P, taskIds: [T1], name: 'n', agentId: 'a', status: 'running', env: { A: 'b' }, metadata: { k: 'v' } }),
    },
    {
      name: 'PATCH /api/sessions/:id', method: 'PATCH', path: () => `/api/sessions/${S}`,
      valid: () => ({
        name: 'sn', status: 'needs_input', agentId: null, env: { X: 'y' }, metadata: { a: 1, gone: null }, taskIds: [T1, T2],
        events: [{ type: 'log', data: { x: 1 } }],
      }),
    },
    { name: 'POST /api/sessions/:id/events', method: 'POST', path: () => `/api/sessions/${S}/events`, valid: () => ({ type: 'log', data: { n: 1 } }) },
    { name: 'POST /api/sessions/:id/timeline', method: 'POST', path: () => `/api/sessions/${S}/timeline`, valid: () => ({ message: 'm', type: 'progress', taskId: T1 }) },
    {
      name: 'POST /api/sessions/spawn', method: 'POST', path: () => '/api/sessions/spawn',
      valid: () => ({
        projectId: P, taskIds: [T1], role: 'worker', skills: ['some-skill'], sessionName: 'n', spawnSource: 'ui', spawnedBy: 'sess_parent',
        context: { reason: 'r' }, model: 'm', permissionMode: 'p',
      }),
    },
    { name: 'POST /api/tasks/:id/claim', method: 'POST', path: () => `/api/tasks/${T4}/claim`, valid: () => ({ sessionId: S4 }) },
    { name: 'POST /api/tasks/:id/release', method: 'POST', path: () => `/api/tasks/${T4}/release`, valid: () => ({ sessionId: S4 }) },
  ];

  function checkResponse(res: Res, what: string): any {
    assert.ok(res.status >= 200 && res.status < 500, `${what}: status ${res.status} ${res.text.slice(0, 300)}`);
    assert.ok(!STACK.test(res.text), `${what}: stack trace in ${res.text.slice(0, 300)}`);
    let parsed: ReturnType<typeof inspect>;
    try {
      parsed = inspect(res.text);
    } catch {
      assert.fail(`${what}: body is not JSON: ${res.text.slice(0, 300)}`);
    }
    assert.deepEqual(parsed.badKeys, [], `${what}: forbidden or unknown key in response ${res.text.slice(0, 300)}`);
    if (res.status >= 400) {
      const b = parsed.body;
      assert.equal(b?.error, true, `${what}: error shape ${res.text.slice(0, 300)}`);
      assert.equal(typeof b.code, 'string', what);
      assert.match(b.code, /^[A-Z_]+$/, what);
      assert.equal(typeof b.message, 'string', what);
      for (const key of Object.keys(b)) assert.ok(['error', 'message', 'code', 'details'].includes(key), `${what}: key ${key}`);
    } else {
      assert.equal(typeof parsed.body, 'object', what);
      assert.notEqual(parsed.body, null, what);
    }
    assert.equal(({} as any).polluted, undefined, `${what}: Object.prototype polluted`);
    return parsed.body;
  }

  for (const route of routes) {
    it(`${route.name}: ${RUNS_PER_ROUTE} random bodies, never 5xx`, async () => {
      await fc.assert(
        fc.asyncProperty(bodies(route.valid, ids()), async (body) => {
          cases++;
          const what = `${route.name} [${body.kind}] ct=${body.contentType} ${String(body.text).slice(0, 200)}`;
          const res = await send(base, route.method, route.path(), body.text, body.contentType);
          checkResponse(res, what);
          count(route.name, res.status);
          // Unknown and prototype keys are ignored: the otherwise valid body must succeed.
          if (body.extraOnly) assert.ok(res.status === 200 || res.status === 201, `${what}: ${res.status} ${res.text.slice(0, 300)}`);
        }),
        { seed: SEED, numRuns: RUNS_PER_ROUTE, includeErrorInReport: true },
      );
    });
  }

  const linkPathId = () => fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(T1, T2) },
    { weight: 1, arbitrary: fc.constantFrom(T3, 'task_missing_1', '..', '%2e%2e', 'a%20b', 'x'.repeat(129), '%ZZ') },
    { weight: 1, arbitrary: fc.string({ maxLength: 10 }).map(encodeURIComponent).filter((s) => s.length > 0) },
  );
  const anyText = fc.oneof(
    fc.constant(undefined),
    fc.anything().map((v) => JSON.stringify(v)),
    fc.json(),
    fc.string({ maxLength: 40 }),
  );

  for (const method of ['POST', 'DELETE']) {
    it(`${method} /api/sessions/:id/tasks/:taskId (link routes): ${RUNS_PER_ROUTE} random bodies and ids`, async () => {
      await fc.assert(
        fc.asyncProperty(linkPathId(), anyText, fc.constantFrom('application/json', 'text/plain', undefined), async (taskId, text, ct) => {
          cases++;
          const path = `/api/sessions/${S}/tasks/${taskId}`;
          const what = `${method} ${path} ct=${ct} ${String(text).slice(0, 200)}`;
          const res = await send(base, method, path, text, ct);
          const body = checkResponse(res, what);
          count(`${method} link`, res.status);
          // The body of a link route is not parsed and does not matter.
          if (taskId === T1 || taskId === T2) {
            assert.equal(res.status, 200, `${what}: ${res.text.slice(0, 300)}`);
            assert.equal(body.id, S);
            assert.equal(body.taskIds.includes(taskId), method === 'POST', what);
          } else if (taskId === T3) {
            // A task of another project can never be linked (400); unlinking it is at most a no-op.
            if (method === 'POST') assert.equal(res.status, 400, `${what}: ${res.text.slice(0, 300)}`);
            else assert.ok(res.status === 200 || res.status === 400, `${what}: ${res.status}`);
            if (res.status === 200) assert.equal(body.taskIds.includes(T3), false, what);
          } else assert.ok(res.status === 400 || res.status === 404, `${what}: ${res.status}`);
        }),
        { seed: SEED, numRuns: RUNS_PER_ROUTE, includeErrorInReport: true },
      );
    });
  }

  it('after the run: at least 1,000 cases, healthy, no pollution, links consistent on both sides', async (t) => {
    assert.ok(cases >= 1000, `cases run: ${cases}`);
    t.diagnostic(`cases: ${cases}; outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    assert.equal(outcomes.size, routes.length + 2);
    // The generators reach both the success and the refusal paths of every route.
    for (const [route, o] of outcomes) assert.ok(o.ok > 0 && o.err > 0, `${route}: ${JSON.stringify(o)}`);
    const health = await call('GET', '/health');
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    assert.equal(({} as any).polluted, undefined);
    assert.equal((Object.prototype as any).status, undefined);
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), protoNames);

    const tasks: any[] = (await call('GET', '/api/tasks')).body;
    const sessions: any[] = (await call('GET', '/api/sessions')).body;
    assert.ok(tasks.length >= 3 && sessions.length >= 1);
    const taskById = new Map(tasks.map((t) => [t.id, t]));
    const sessionById = new Map(sessions.map((s) => [s.id, s]));
    let links = 0;
    for (const t of tasks) {
      assert.equal(new Set(t.sessionIds).size, t.sessionIds.length, `duplicate sessionIds in ${t.id}`);
      for (const sid of t.sessionIds) {
        const s = sessionById.get(sid);
        assert.ok(s, `task ${t.id} names missing session ${sid}`);
        assert.ok(s.taskIds.includes(t.id), `session ${sid} does not list task ${t.id}`);
        links++;
      }
    }
    for (const s of sessions) {
      assert.equal(new Set(s.taskIds).size, s.taskIds.length, `duplicate taskIds in ${s.id}`);
      for (const tid of s.taskIds) {
        const t = taskById.get(tid);
        assert.ok(t, `session ${s.id} names missing task ${tid}`);
        assert.ok(t.sessionIds.includes(s.id), `task ${tid} does not list session ${s.id}`);
        assert.equal(t.projectId, s.projectId, `session ${s.id} linked to task ${tid} of another project`);
      }
    }
    assert.ok(links > 0, 'the run left some links to check');

    // The in-memory store agrees, and holds only plain objects.
    for (const entity of [...server.store.all('project'), ...server.store.all('task'), ...server.store.all('session')]) {
      assert.equal(Object.getPrototypeOf(entity), Object.prototype);
      for (const key of FORBIDDEN_KEYS) assert.equal(Object.prototype.hasOwnProperty.call(entity, key), false);
    }
    for (const s of server.store.all('session')) {
      for (const tid of s.taskIds) assert.ok(server.store.get('task', tid)?.sessionIds.includes(s.id));
      for (const obj of [s.metadata, s.env]) {
        const proto = Object.getPrototypeOf(obj);
        assert.ok(proto === Object.prototype || proto === null);
        for (const key of FORBIDDEN_KEYS) assert.equal(Object.prototype.hasOwnProperty.call(obj, key), false);
      }
    }
  });
});
