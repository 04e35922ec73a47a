/**
 * SPEC §8 (safety) and the input rules of §2/§7, each attack over a real socket:
 * DNS rebinding (Host), cross-site requests (Origin), the token, the refusal to
 * listen on the network without a token, and hostile bodies, ids and keys.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { type IncomingHttpHeaders, request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { assertError, client, type HttpResult, runToExit, startProcess, startTestServer, tempDir, type TestServer, waitFor } from '../helpers.ts';

const STACK = /\n\s+at |    at |\.ts:\d+:\d+/;
/** Every response any test saw; the last test checks none leaked a stack trace. */
const seen: { what: string; text: string }[] = [];

function record<T extends { text: string }>(what: string, res: T): T {
  seen.push({ what, text: res.text });
  return res;
}

function assertNoStack(res: { text: string }) {
  assert.ok(!STACK.test(res.text), `no stack trace in: ${res.text.slice(0, 500)}`);
}

/** All string values found under a `field` key, or as a `details.field(s)` string, anywhere in `details`. */
function namedFields(details: unknown): string[] {
  const out: string[] = [];
  const walk = (x: unknown, key?: string) => {
    if (typeof x === 'string') {
      if (key === 'field' || key === 'fields' || key === 'path') out.push(x);
    } else if (Array.isArray(x)) x.forEach((y) => walk(y, key));
    else if (x && typeof x === 'object') for (const [k, v] of Object.entries(x)) walk(v, k);
  };
  walk(details);
  return out;
}

function assertNamesField(res: HttpResult, field: string) {
  const names = namedFields(res.body?.details);
  assert.ok(
    names.some((n) => n === field || n.startsWith(`${field}.`) || n.startsWith(`${field}[`)),
    `details should name "${field}": ${res.text.slice(0, 500)}`,
  );
}

interface RawResult {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body: any;
}

/** A request with the path sent byte for byte (no URL normalisation of `..` or `%2e`). */
function raw(url: string, method: string, path: string, headers: Record<string, string> = {}, payload?: string): Promise<RawResult> {
  const u = new URL(url);
  const all = { ...headers };
  if (payload !== undefined) {
    all['content-type'] ??= 'application/json';
    all['content-length'] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: all, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: any;
        try { body = text ? JSON.parse(text) : undefined; } catch { body = undefined; }
        resolve(record(`${method} ${path}`, { status: res.statusCode!, headers: res.headers, text, body }));
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

interface UpgradeResult {
  upgraded: boolean;
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body: any;
}

/** A raw WebSocket upgrade request; a 101 is closed at once, a refusal's body is read. */
function upgrade(url: string, headers: Record<string, string> = {}, path = '/'): Promise<UpgradeResult> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname, port: u.port, path, agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ upgraded: true, status: res.statusCode!, headers: res.headers, text: '', body: undefined });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: any;
        try { body = text ? JSON.parse(text) : undefined; } catch { body = undefined; }
        resolve(record(`upgrade ${path}`, { upgraded: false, status: res.statusCode!, headers: res.headers, text, body }));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** A `ws` client attempt: whether it opened, or the status of the refusal. */
function wsAttempt(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}, path = '/') {
  return new Promise<{ opened: boolean; status?: number; hello?: any }>((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + path, options);
    ws.once('message', (data) => {
      ws.terminate();
      resolve({ opened: true, hello: JSON.parse(data.toString()) });
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      resolve({ opened: false, status: res.statusCode });
    });
    ws.once('error', (err) => reject(err));
  });
}

const noHubClients = (server: TestServer) => waitFor(() => server.hub.clientCount === 0);

const FOREIGN_HOSTS = ['evil.example', 'evil.example:3000', 'localhost.evil.example', 'localhost.evil.example:80', '127.0.0.1.nip.io:3000'];
const FOREIGN_ORIGINS = [
  'https://evil.example', 'http://localhost.evil.example', 'null', 'http://127.0.0.1.evil.example:5173',
  'http://localhost@evil.example', 'https://app.example.com:8443', 'chrome-extension://abcdef',
  'http://tauri.localhost.evil.example', 'https://evil.tauri.localhost', 'http://tauri.localhost:8080',
];
/** Loopback, and the Tauri app origins: macOS/Linux `tauri://localhost`, the Windows webview's `http(s)://tauri.localhost`. */
const LOOPBACK_ORIGINS = [
  'http://localhost:5173', 'https://127.0.0.1', 'http://[::1]:8080', 'http://localhost', 'tauri://localhost',
  'http://tauri.localhost', 'https://tauri.localhost',
];
const LISTED_ORIGIN = 'https://app.example.com';
const LISTED_HOST = 'maestro.internal';

describe('Host and Origin checks (SPEC §8)', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  let projectId: string;

  before(async () => {
    server = await startTestServer({ ALLOWED_HOSTS: `other.example, ${LISTED_HOST}`, CORS_ORIGINS: LISTED_ORIGIN });
    api = client(server.url);
    const res = await api.post('/api/projects', { name: 'target' });
    assert.equal(res.status, 201);
    projectId = res.body.id;
  });
  after(() => server.cleanup());

  for (const host of FOREIGN_HOSTS) {
    it(`Host ${host}: GET is refused with 403 FORBIDDEN`, async () => {
      const res = record('host', await api.get('/api/projects', undefined, { headers: { host } }));
      assertError(res, 403, 'FORBIDDEN');
    });

    it(`Host ${host}: POST is refused with 403 and creates nothing`, async () => {
      const before = server.store.count('project');
      const res = record('host', await api.post('/api/projects', { name: 'rebound' }, { headers: { host } }));
      assertError(res, 403, 'FORBIDDEN');
      assert.equal(server.store.count('project'), before);
      assert.ok(![...server.store.all('project')].some((p) => p.name === 'rebound'));
    });

    it(`Host ${host}: the WebSocket upgrade is refused with 403 and no connection is made`, async () => {
      await noHubClients(server);
      const res = await upgrade(server.url, { host });
      assert.equal(res.upgraded, false, 'upgrade must not succeed');
      assertError(res, 403, 'FORBIDDEN');
      assert.equal(server.hub.clientCount, 0);
    });
  }

  it('Host check also covers /health, DELETE and PATCH (nothing changes)', async () => {
    const host = 'evil.example';
    assertError(record('host', await api.get('/health', undefined, { headers: { host } })), 403, 'FORBIDDEN');
    const version = server.store.get('project', projectId)!.version;
    assertError(record('host', await api.patch(`/api/projects/${projectId}`, { name: 'x' }, { headers: { host } })), 403, 'FORBIDDEN');
    assertError(record('host', await api.delete(`/api/projects/${projectId}`, undefined, { headers: { host } })), 403, 'FORBIDDEN');
    assert.equal(server.store.get('project', projectId)?.version, version);
    assert.equal(server.store.get('project', projectId)?.name, 'target');
  });

  it('Host 127.0.0.2 (not one of the three loopback names) is refused', async () => {
    assertError(record('host', await api.get('/api/projects', undefined, { headers: { host: '127.0.0.2:3000' } })), 403, 'FORBIDDEN');
  });

  it('a ws client sending a foreign Host is refused (unexpected-response 403, never opens)', async () => {
    await noHubClients(server);
    const res = await wsAttempt(server.url, { headers: { host: 'evil.example' } });
    assert.equal(res.opened, false);
    assert.equal(res.status, 403);
    assert.equal(server.hub.clientCount, 0);
  });

  const ALLOWED_HOSTS = ['localhost', 'localhost:3000', 'LOCALHOST:1', '127.0.0.1', '127.0.0.1:65535', '[::1]', '[::1]:8080', LISTED_HOST, `${LISTED_HOST}:4000`];
  for (const host of ALLOWED_HOSTS) {
    it(`Host ${host} is allowed on GET, POST and the upgrade`, async () => {
      const get = record('host', await api.get('/api/projects', undefined, { headers: { host } }));
      assert.equal(get.status, 200, get.text);
      assert.ok(Array.isArray(get.body));
      const before = server.store.count('project');
      const post = record('host', await api.post('/api/projects', { name: `via ${host}` }, { headers: { host } }));
      assert.equal(post.status, 201, post.text);
      assert.equal(server.store.count('project'), before + 1);
      const up = await upgrade(server.url, { host });
      assert.equal(up.upgraded, true, up.text);
      assert.equal(up.status, 101);
      await noHubClients(server);
    });
  }

  for (const origin of FOREIGN_ORIGINS) {
    it(`Origin ${origin}: GET → 403 without CORS headers`, async () => {
      const res = record('origin', await api.get('/api/projects', undefined, { headers: { origin } }));
      assertError(res, 403, 'FORBIDDEN');
      assert.equal(res.headers['access-control-allow-origin'], undefined);
    });

    it(`Origin ${origin}: POST → 403, no CORS headers, nothing created`, async () => {
      const before = server.store.count('project');
      const res = record('origin', await api.post('/api/projects', { name: 'csrf' }, { headers: { origin } }));
      assertError(res, 403, 'FORBIDDEN');
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      assert.equal(server.store.count('project'), before);
    });

    it(`Origin ${origin}: the upgrade → 403 and no connection`, async () => {
      await noHubClients(server);
      const res = await upgrade(server.url, { origin });
      assert.equal(res.upgraded, false);
      assertError(res, 403, 'FORBIDDEN');
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      assert.equal(server.hub.clientCount, 0);
    });
  }

  it('a foreign Origin on a preflight is refused too (403, no CORS headers)', async () => {
    const res = await raw(server.url, 'OPTIONS', '/api/projects', {
      origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type',
    });
    assert.equal(res.status, 403, res.text);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.equal(res.headers['access-control-allow-methods'], undefined);
  });

  it('a foreign Origin cannot PATCH or DELETE (entity unchanged)', async () => {
    const origin = 'https://evil.example';
    const version = server.store.get('project', projectId)!.version;
    assertError(record('origin', await api.patch(`/api/projects/${projectId}`, { name: 'owned' }, { headers: { origin } })), 403, 'FORBIDDEN');
    assertError(record('origin', await api.delete(`/api/projects/${projectId}`, undefined, { headers: { origin } })), 403, 'FORBIDDEN');
    assert.equal(server.store.get('project', projectId)?.version, version);
    assert.equal(server.store.get('project', projectId)?.name, 'target');
  });

  it('a ws client with a foreign origin never opens (403)', async () => {
    await noHubClients(server);
    const res = await wsAttempt(server.url, { origin: 'https://evil.example' });
    assert.deepEqual(res, { opened: false, status: 403 });
    assert.equal(server.hub.clientCount, 0);
  });

  for (const origin of [...LOOPBACK_ORIGINS, LISTED_ORIGIN]) {
    it(`Origin ${origin} is allowed with CORS headers (GET, POST, preflight, upgrade)`, async () => {
      const get = record('origin', await api.get('/api/projects', undefined, { headers: { origin } }));
      assert.equal(get.status, 200, get.text);
      assert.equal(get.headers['access-control-allow-origin'], origin);

      const post = record('origin', await api.post('/api/projects', { name: `from ${origin}` }, { headers: { origin } }));
      assert.equal(post.status, 201, post.text);
      assert.equal(post.headers['access-control-allow-origin'], origin);
      const exposed = String(post.headers['access-control-expose-headers'] ?? '').toLowerCase().split(',').map((s) => s.trim());
      assert.ok(exposed.includes('etag'), `ETag exposed: ${post.headers['access-control-expose-headers']}`);

      const pre = await raw(server.url, 'OPTIONS', `/api/projects/${post.body.id}`, {
        origin, 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'content-type, authorization',
      });
      assert.equal(pre.status, 204, pre.text);
      assert.equal(pre.headers['access-control-allow-origin'], origin);
      const methods = String(pre.headers['access-control-allow-methods'] ?? '').toUpperCase();
      assert.match(methods, /PATCH/);
      const allowHeaders = String(pre.headers['access-control-allow-headers'] ?? '').toLowerCase();
      assert.match(allowHeaders, /content-type/);
      assert.match(allowHeaders, /authorization/);

      const ws = await wsAttempt(server.url, { origin });
      assert.equal(ws.opened, true);
      assert.equal(ws.hello?.type, 'hello');
      await noHubClients(server);
    });
  }

  it('a request without Origin passes and gets no CORS headers', async () => {
    const res = record('origin', await api.get('/api/projects'));
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
  });
});

describe('Token (SPEC §8, MAESTRO_TOKEN)', () => {
  const TOKEN = 'tok_' + randomBytes(12).toString('hex');
  let server: TestServer;
  let api: ReturnType<typeof client>;
  const auth = { authorization: `Bearer ${TOKEN}` };

  before(async () => {
    server = await startTestServer({ MAESTRO_TOKEN: TOKEN });
    api = client(server.url);
  });
  after(() => server.cleanup());

  it('no token → 401 UNAUTHORIZED', async () => {
    assertError(record('token', await api.get('/api/projects')), 401, 'UNAUTHORIZED');
  });

  for (const [label, value] of [
    ['a wrong token', 'Bearer wrong-token'],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
    ['the token plus a character', `Bearer ${TOKEN}x`],
    ['the token without the Bearer scheme', TOKEN],
    ['the token as Basic', `Basic ${TOKEN}`],
    ['an empty Bearer', 'Bearer '],
  ] as const) {
    it(`${label} → 401`, async () => {
      assertError(record('token', await api.get('/api/projects', undefined, { headers: { authorization: value } })), 401, 'UNAUTHORIZED');
    });
  }

  it('Authorization: Bearer <token> → 200', async () => {
    const res = record('token', await api.get('/api/projects', undefined, { headers: auth }));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, []);
  });

  it('GET /health without a token → 200 ok', async () => {
    const res = record('token', await api.get('/health'));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, 'ok');
  });

  it('an OPTIONS preflight without a token → 204', async () => {
    const res = await raw(server.url, 'OPTIONS', '/api/projects', {
      origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type',
    });
    assert.equal(res.status, 204, res.text);
    assert.equal(res.headers['access-control-allow-origin'], 'http://localhost:5173');
  });

  it('the token in the query string on plain HTTP → 401', async () => {
    assertError(record('token', await api.get(`/api/projects?token=${TOKEN}`)), 401, 'UNAUTHORIZED');
    const before = server.store.count('project');
    assertError(record('token', await api.post(`/api/projects?token=${TOKEN}`, { name: 'q' })), 401, 'UNAUTHORIZED');
    assert.equal(server.store.count('project'), before);
  });

  it('a POST refused for want of a token never happened', async () => {
    const before = server.store.count('project');
    assertError(record('token', await api.post('/api/projects', { name: 'no token' })), 401, 'UNAUTHORIZED');
    assertError(record('token', await api.post('/api/projects', { name: 'bad token' }, { headers: { authorization: 'Bearer nope' } })), 401, 'UNAUTHORIZED');
    assert.equal(server.store.count('project'), before);
    const ok = record('token', await api.post('/api/projects', { name: 'with token' }, { headers: auth }));
    assert.equal(ok.status, 201, ok.text);
    assert.equal(server.store.count('project'), before + 1);
    const id = ok.body.id;
    assertError(record('token', await api.delete(`/api/projects/${id}`)), 401, 'UNAUTHORIZED');
    assertError(record('token', await api.patch(`/api/projects/${id}`, { name: 'changed' })), 401, 'UNAUTHORIZED');
    assert.equal(server.store.get('project', id)?.name, 'with token');
    assert.equal(server.store.get('project', id)?.version, 1);
  });

  it('the 401 comes before route matching: an unknown path without token is 401, not 404', async () => {
    assertError(record('token', await api.get('/api/nothing-here')), 401, 'UNAUTHORIZED');
  });

  it('a WebSocket upgrade without a token is refused with 401, no connection', async () => {
    await noHubClients(server);
    const res = await upgrade(server.url);
    assert.equal(res.upgraded, false);
    assertError(res, 401, 'UNAUTHORIZED');
    const wrong = await upgrade(server.url, {}, '/?token=wrong');
    assert.equal(wrong.upgraded, false);
    assertError(wrong, 401, 'UNAUTHORIZED');
    const ws = await wsAttempt(server.url);
    assert.deepEqual(ws, { opened: false, status: 401 });
    assert.equal(server.hub.clientCount, 0);
  });

  it('a WebSocket upgrade with Authorization: Bearer is accepted', async () => {
    const res = await wsAttempt(server.url, { headers: auth });
    assert.equal(res.opened, true);
    assert.equal(res.hello.type, 'hello');
    await noHubClients(server);
  });

  it('a WebSocket upgrade with ?token= is accepted', async () => {
    const res = await wsAttempt(server.url, {}, `/?token=${encodeURIComponent(TOKEN)}`);
    assert.equal(res.opened, true);
    assert.equal(res.hello.type, 'hello');
    const up = await upgrade(server.url, {}, `/events?token=${encodeURIComponent(TOKEN)}`);
    assert.equal(up.upgraded, true);
    await noHubClients(server);
  });

  it('a good token does not lift the Host and Origin checks', async () => {
    assertError(record('token', await api.get('/api/projects', undefined, { headers: { ...auth, host: 'evil.example' } })), 403, 'FORBIDDEN');
    assertError(record('token', await api.get('/api/projects', undefined, { headers: { ...auth, origin: 'https://evil.example' } })), 403, 'FORBIDDEN');
  });
});

describe('process: listen address (SPEC §8, §9)', () => {
  it('refuses HOST=0.0.0.0 without MAESTRO_TOKEN: exit 1, one line on stderr, no stack trace', async () => {
    const dir = await tempDir();
    const res = await runToExit({ HOST: '0.0.0.0', DATA_DIR: dir });
    assert.equal(res.code, 1, `exit code; stderr: ${res.stderr}`);
    const lines = res.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line: ${res.stderr}`);
    assert.ok(lines[0].length > 0);
    assert.ok(!STACK.test(res.stderr), res.stderr);
    assert.match(res.stderr, /token|MAESTRO_TOKEN/i);
    assert.doesNotMatch(res.stdout, /listening/);
  });

  it('refuses --host 0.0.0.0 (flag) and HOST=:: without a token as well', async () => {
    for (const [env, args] of [[{ HOST: '::' }, []], [{}, ['--host', '0.0.0.0']]] as const) {
      const dir = await tempDir();
      const res = await runToExit({ ...env, DATA_DIR: dir }, [...args]);
      assert.equal(res.code, 1, `${JSON.stringify(env)} ${args.join(' ')}: ${res.stderr}`);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
      assert.ok(!STACK.test(res.stderr), res.stderr);
    }
  });

  it('starts on 127.0.0.1 by default, and refuses a foreign Host there too', async () => {
    const dir = await tempDir();
    const proc = await startProcess({ DATA_DIR: dir });
    try {
      assert.match(proc.url, /^http:\/\/127\.0\.0\.1:\d+/);
      const api = client(proc.url);
      const health = await api.get('/health');
      assert.equal(health.status, 200);
      assertError(record('proc', await api.get('/api/projects', undefined, { headers: { host: 'evil.example' } })), 403, 'FORBIDDEN');
    } finally {
      proc.child.kill('SIGINT');
      assert.equal(await proc.exited, 0);
    }
  });
});

describe('hostile input (SPEC §2, §7, §8)', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  let projectId: string;
  let taskId: string;
  let otherTaskId: string;
  let sessionId: string;
  let subtaskId: string;
  const protoKeysBefore = Object.getOwnPropertyNames(Object.prototype).sort();

  const post = async (path: string, body: unknown) => record(path, await api.post(path, body));
  const postRaw = async (path: string, text: string, method = 'POST') =>
    record(path, await api.request(method, path, undefined, { raw: text, headers: { 'content-type': 'application/json' } }));

  before(async () => {
    server = await startTestServer();
    api = client(server.url);
    projectId = (await post('/api/projects', { name: 'p' })).body.id;
    taskId = (await post('/api/tasks', { projectId, title: 't' })).body.id;
    otherTaskId = (await post('/api/tasks', { projectId, title: 't2' })).body.id;
    sessionId = (await post('/api/sessions', { projectId, taskIds: [taskId] })).body.id;
    subtaskId = (await post(`/api/tasks/${taskId}/subtasks`, { title: 's' })).body.id;
    assert.ok(projectId && taskId && otherTaskId && sessionId && subtaskId);
  });
  after(() => server.cleanup());

  const assertUnpolluted = () => {
    assert.equal(({} as any).polluted, undefined, 'Object.prototype polluted');
    assert.equal((Object.prototype as any).status, undefined);
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), protoKeysBefore);
  };

  const MALFORMED = ['{', '{"name":', '{"name":"a",}', "{'name':'a'}", '{"name":"a"}}', '[1,2', 'undefined', 'NaN', '{"name":"a"} x', '{name:"a"}', '"\\x"', '\u0000'];
  for (const text of MALFORMED) {
    it(`malformed JSON ${JSON.stringify(text)} → 400 INVALID_JSON, nothing created`, async () => {
      const before = server.store.count('project');
      assertError(await postRaw('/api/projects', text), 400, 'INVALID_JSON');
      assert.equal(server.store.count('project'), before);
    });
  }

  it('malformed JSON on PATCH, session events and spawn → 400 INVALID_JSON', async () => {
    assertError(await postRaw(`/api/tasks/${taskId}`, '{"title":', 'PATCH'), 400, 'INVALID_JSON');
    assertError(await postRaw(`/api/sessions/${sessionId}/events`, '{"type":"x",'), 400, 'INVALID_JSON');
    assertError(await postRaw('/api/sessions/spawn', '{{}}'), 400, 'INVALID_JSON');
  });

  for (const [label, text] of [
    ['10,000 nested arrays', '['.repeat(10_000) + ']'.repeat(10_000)],
    ['10,000 nested objects', '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)],
    ['10,000 nested arrays in a field', `{"name":"n","description":${'['.repeat(10_000)}${']'.repeat(10_000)}}`],
  ]) {
    it(`${label} → 400, not 500`, async () => {
      const before = server.store.count('project');
      const res = await postRaw('/api/projects', text);
      assert.equal(res.status, 400, res.text.slice(0, 300));
      assert.ok(['INVALID_JSON', 'VALIDATION_ERROR'].includes(res.body?.code), res.text.slice(0, 300));
      assertNoStack(res);
      assert.equal(server.store.count('project'), before);
    });
  }

  it('10,000-deep session metadata and event data → 400, not 500', async () => {
    const deep = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    for (const [path, text] of [
      ['/api/sessions', `{"projectId":"${projectId}","metadata":${deep}}`],
      [`/api/sessions/${sessionId}/events`, `{"type":"x","data":${deep}}`],
    ]) {
      const res = await postRaw(path, text);
      assert.equal(res.status, 400, `${path}: ${res.text.slice(0, 300)}`);
      assert.ok(['INVALID_JSON', 'VALIDATION_ERROR'].includes(res.body?.code), res.text.slice(0, 300));
    }
    assert.equal((await api.get('/health')).status, 200);
  });

  it('moderately nested metadata (20 levels) is still accepted and stored', async () => {
    const deep = '{"a":'.repeat(20) + '1' + '}'.repeat(20);
    const res = await postRaw('/api/sessions', `{"projectId":"${projectId}","metadata":${deep}}`);
    assert.equal(res.status, 201, res.text);
    let m = res.body.metadata;
    for (let i = 1; i < 20; i++) m = m.a;
    assert.equal(m.a, 1);
  });

  it('a 900 KB string field works or is 400, never 5xx', async () => {
    const big = 'x'.repeat(900 * 1024);
    const res = await post('/api/projects', { name: 'big', description: big });
    assert.ok(res.status === 201 || res.status === 400, `status ${res.status}`);
    if (res.status === 201) {
      assert.equal(res.body.description.length, big.length);
      const again = await api.get(`/api/projects/${res.body.id}`);
      assert.equal(again.body.description, big);
    } else assertError(res, 400, 'VALIDATION_ERROR');
    const ev = await post(`/api/sessions/${sessionId}/events`, { type: 'blob', data: { text: big } });
    assert.ok(ev.status === 201 || ev.status === 400, `status ${ev.status}`);
    assert.equal((await api.get('/health')).body.status, 'ok');
  });

  it('a string of 900 KB of escapes (\\u0000…) is handled without 5xx', async () => {
    const text = `{"name":"${'\\u0000'.repeat(150_000)}"}`;
    const res = await postRaw('/api/projects', text);
    assert.ok(res.status === 201 || res.status === 400, `status ${res.status}`);
    assertNoStack(res);
  });

  // ---- wrong types, field by field -------------------------------------------------
  const MISSING = Symbol('missing');
  interface Case { route: string; method: string; path: () => string; base: () => Record<string, unknown>; field: string; bad: unknown[] }
  const cases: Case[] = [];
  const add = (route: string, method: string, path: () => string, base: () => Record<string, unknown>, fields: Record<string, unknown[]>) => {
    for (const [field, bad] of Object.entries(fields)) cases.push({ route, method, path, base, field, bad });
  };
  const badString = [1, true, [], {}];
  const badStringList = ['a', [1], [null], {}, 5];
  const badIdList = ['a', [1], ['a b'], ['../x'], {}];
  const badId = [5, true, '', 'a b', '../x', 'a/b', 'x'.repeat(129), {}, []];

  add('POST /api/projects', 'POST', () => '/api/projects', () => ({ name: 'n', workingDir: '/w', description: 'd' }), {
    name: [MISSING, '', '   ', null, 5, [], {}], workingDir: badString, description: badString,
  });
  for (const m of ['PUT', 'PATCH']) {
    add(`${m} /api/projects/:id`, m, () => `/api/projects/${projectId}`, () => ({}), {
      name: ['', null, 5, []], workingDir: badString, description: badString,
    });
  }
  add('POST /api/tasks', 'POST', () => '/api/tasks', () => ({ projectId, title: 'x' }), {
    projectId: [MISSING, null, ...badId], title: [MISSING, '', null, 5], description: badString, initialPrompt: badString,
    status: ['done', 5, 'PENDING'], priority: ['urgent', 1, null], parentId: badId, dependencies: badIdList,
    skillIds: badStringList, agentIds: badStringList,
  });
  add('PATCH /api/tasks/:id', 'PATCH', () => `/api/tasks/${taskId}`, () => ({}), {
    title: ['', null, 5], description: badString, initialPrompt: badString, status: ['done', 3], priority: ['urgent', {}],
    parentId: badId, dependencies: badIdList, skillIds: badStringList, agentIds: badStringList, sessionIds: badIdList,
    timeline: ['x', {}, [5], [{ type: 'Not Valid' }], [{ type: 'x', message: 5 }], [{ type: 'x', sessionId: 'a b' }]],
  });
  add('POST /api/tasks/:id/timeline', 'POST', () => `/api/tasks/${taskId}/timeline`, () => ({ message: 'm' }), {
    message: [MISSING, 5, null, {}], type: ['Bad Type', 5, '', '1abc'], sessionId: badId,
  });
  add('POST /api/tasks/:id/subtasks', 'POST', () => `/api/tasks/${taskId}/subtasks`, () => ({ title: 's' }), {
    title: [MISSING, '', 5, null], description: badString, order: ['1', 1.5, true, {}],
  });
  // PUT there is 405 (SPEC §2: PUT only where a table lists it).
  add('PATCH /api/tasks/:id/subtasks/:subtaskId', 'PATCH', () => `/api/tasks/${taskId}/subtasks/${subtaskId}`, () => ({}), {
    title: ['', 5], description: badString, completed: ['yes', 1, null], order: ['2', 2.5, []],
  });
  add('POST /api/sessions', 'POST', () => '/api/sessions', () => ({ projectId }), {
    projectId: [MISSING, ...badId], taskIds: badIdList, taskId: badId, id: badId, name: ['', 5, []], agentId: [5, [], {}],
    status: ['bogus', 1], env: ['x', [], { A: 1 }, { A: null }, { A: {} }], metadata: ['x', [], 5, true],
  });
  add('PATCH /api/sessions/:id', 'PATCH', () => `/api/sessions/${sessionId}`, () => ({}), {
    name: ['', 5], status: ['bogus', 1], agentId: [5, {}], env: ['x', [], { A: 1 }], metadata: ['x', [], 5],
    taskIds: badIdList, events: ['x', {}, [{}], [{ type: '' }], [{ type: 5 }], [5]],
  });
  add('POST /api/sessions/:id/events', 'POST', () => `/api/sessions/${sessionId}/events`, () => ({ type: 't' }), {
    type: [MISSING, '', 5, null, {}],
  });
  add('POST /api/sessions/:id/timeline', 'POST', () => `/api/sessions/${sessionId}/timeline`, () => ({ message: 'm' }), {
    message: [MISSING, 5, {}], type: ['Bad', 5], taskId: badId,
  });
  add('POST /api/sessions/spawn', 'POST', () => '/api/sessions/spawn', () => ({ projectId, taskIds: [taskId] }), {
    projectId: [MISSING, ...badId], taskIds: [MISSING, [], 'x', ...badIdList], role: ['admin', 5], skills: ['x', [5], ['../x'], ['a/b']],
    sessionName: [5, ''], spawnSource: ['hacker', 5], spawnedBy: [5, {}], sessionId: [5, []], context: ['x', [], 5],
    model: [5, {}], permissionMode: [5, []],
  });

  const snapshot = () => JSON.stringify({
    p: [...server.store.all('project')].map((x) => [x.id, x.version]),
    t: [...server.store.all('task')].map((x) => [x.id, x.version]),
    s: [...server.store.all('session')].map((x) => [x.id, x.version]),
  });

  for (const c of cases) {
    it(`${c.route}: wrong ${c.field} → 400 VALIDATION_ERROR naming it, nothing changes`, async () => {
      for (const value of c.bad) {
        const body = c.base();
        if (value === MISSING) delete body[c.field];
        else body[c.field] = value;
        const before = snapshot();
        const res = record(c.route, await api.request(c.method, c.path(), body));
        const what = `${c.route} ${c.field}=${value === MISSING ? '<missing>' : JSON.stringify(value)}`;
        assert.equal(res.status, 400, `${what}: ${res.text}`);
        assert.equal(res.body?.code, 'VALIDATION_ERROR', `${what}: ${res.text}`);
        assertNamesField(res, c.field);
        assertNoStack(res);
        assert.equal(snapshot(), before, `${what} changed the store`);
      }
    });
  }

  // ---- prototype keys --------------------------------------------------------------
  const storedOk = (entity: object) => {
    const proto = Object.getPrototypeOf(entity);
    assert.ok(proto === Object.prototype || proto === null, 'stored entity keeps a plain prototype');
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      assert.equal(Object.prototype.hasOwnProperty.call(entity, key), false, `${key} stored`);
    }
    assert.equal((entity as any).polluted, undefined);
  };
  const noForbiddenText = (text: string) => {
    assert.doesNotMatch(text, /__proto__|"constructor"|"prototype"|polluted/, text.slice(0, 500));
  };

  for (const [label, key] of [['__proto__', '"__proto__"'], ['escaped \\u005f_proto__', '"\\u005f_proto__"'], ['constructor', '"constructor"'], ['prototype', '"prototype"'], ['escaped constructor', '"\\u0063onstructor"']]) {
    it(`POST /api/projects with a ${label} key: not stored, no pollution`, async () => {
      const inner = label.includes('constructor') ? '{"prototype":{"polluted":"yes"}}' : '{"polluted":"yes","name":"evil"}';
      const res = await postRaw('/api/projects', `{"name":"proto",${key}:${inner}}`);
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.name, 'proto');
      noForbiddenText(res.text);
      const stored = server.store.get('project', res.body.id)!;
      storedOk(stored);
      assert.equal(stored.name, 'proto');
      assertUnpolluted();
      noForbiddenText((await api.get(`/api/projects/${res.body.id}`)).text);
    });
  }

  it('a top-level __proto__ in a task PATCH does not change the task', async () => {
    const before = server.store.get('task', otherTaskId)!;
    const res = await postRaw(`/api/tasks/${otherTaskId}`, '{"__proto__":{"status":"completed","title":"owned","polluted":1}}', 'PATCH');
    assert.equal(res.status, 200, res.text);
    const after = server.store.get('task', otherTaskId)!;
    assert.equal(after.status, before.status);
    assert.equal(after.title, before.title);
    assert.equal(after.version, before.version);
    storedOk(after);
    assertUnpolluted();
  });

  it('__proto__/constructor/prototype inside session metadata and env are not stored (create)', async () => {
    const text = `{"projectId":"${projectId}","metadata":{"ok":1,"__proto__":{"polluted":"yes"},"\\u005f_proto__":{"polluted":"yes"},`
      + `"constructor":{"prototype":{"polluted":"yes"}},"prototype":{"polluted":"yes"},"nested":{"__proto__":{"polluted":"yes"}}},`
      + `"env":{"A":"b","__proto__":"x","constructor":"y","prototype":"z"},"__proto__":{"taskIds":["${taskId}"]}}`;
    const res = await postRaw('/api/sessions', text);
    assert.equal(res.status, 201, res.text);
    noForbiddenText(res.text);
    const stored = server.store.get('session', res.body.id)!;
    storedOk(stored);
    storedOk(stored.metadata);
    storedOk(stored.metadata.nested as object);
    storedOk(stored.env);
    assert.deepEqual(Object.keys(stored.metadata).sort(), ['nested', 'ok']);
    assert.deepEqual(Object.keys(stored.metadata.nested as object), []);
    assert.deepEqual(Object.keys(stored.env), ['A']);
    assert.deepEqual(stored.taskIds, []);
    assertUnpolluted();
    await server.writer.flush();
    const file = await readFile(join(server.dataDir, 'sessions', `${res.body.id}.json`), 'utf8');
    noForbiddenText(file);
  });

  it('__proto__ in a session PATCH (metadata merge, env) is not stored and pollutes nothing', async () => {
    const text = '{"metadata":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":1}},"k":"v"},'
      + '"env":{"\\u005f_proto__":"x","B":"c"}}';
    const res = await postRaw(`/api/sessions/${sessionId}`, text, 'PATCH');
    assert.equal(res.status, 200, res.text);
    noForbiddenText(res.text);
    const stored = server.store.get('session', sessionId)!;
    storedOk(stored.metadata);
    storedOk(stored.env);
    assert.equal(stored.metadata.k, 'v');
    assert.deepEqual(Object.keys(stored.env), ['B']);
    assertUnpolluted();
  });

  it('__proto__ inside event data, timeline entries and spawn context is not stored', async () => {
    const ev = await postRaw(`/api/sessions/${sessionId}/events`, '{"type":"t","data":{"x":1,"__proto__":{"polluted":1},"list":[{"constructor":{"prototype":{"polluted":1}}}]}}');
    assert.equal(ev.status, 201, ev.text);
    noForbiddenText(ev.text);
    const event = server.store.get('session', sessionId)!.events.at(-1)!;
    storedOk(event);
    storedOk(event.data as object);
    assert.deepEqual(event.data, { x: 1, list: [{}] });

    const tl = await postRaw(`/api/tasks/${taskId}`, '{"timeline":[{"message":"m","__proto__":{"type":"Evil Type","polluted":1}}]}', 'PATCH');
    assert.equal(tl.status, 200, tl.text);
    noForbiddenText(tl.text);
    const last = server.store.get('task', taskId)!.timeline.at(-1)!;
    storedOk(last);
    assert.equal(last.type, 'update');

    const spawn = await postRaw('/api/sessions/spawn', `{"projectId":"${projectId}","taskIds":["${otherTaskId}"],"context":{"reason":"r","__proto__":{"polluted":1}},"__proto__":{"role":"orchestrator"}}`);
    assert.equal(spawn.status, 201, spawn.text);
    noForbiddenText(spawn.text);
    const session = server.store.get('session', spawn.body.sessionId)!;
    storedOk(session.metadata);
    storedOk(session.metadata.context as object);
    assert.equal(session.metadata.role, 'worker');
    assertUnpolluted();
  });

  // Only the escaped spelling in the whole body: no plain `__proto__` text to give it away.
  for (const [label, key] of [['\\u005f_proto__', '\\u005f_proto__'], ['\\u0063onstructor', '\\u0063onstructor'], ['__pro\\u0074o__', '__pro\\u0074o__']]) {
    it(`a key spelled "${label}" alone, in event data, metadata and env, is not stored`, async () => {
      const ev = await postRaw(`/api/sessions/${sessionId}/events`, `{"type":"esc","data":{"x":1,"${key}":{"polluted":"yes"}}}`);
      assert.equal(ev.status, 201, ev.text);
      noForbiddenText(ev.text);
      const event = server.store.get('session', sessionId)!.events.at(-1)!;
      assert.deepEqual(Object.keys(event.data as object), ['x']);
      storedOk(event.data as object);

      const created = await postRaw('/api/sessions', `{"projectId":"${projectId}","metadata":{"ok":1,"${key}":{"polluted":"yes"}},"env":{"A":"b","${key}":"x"}}`);
      assert.equal(created.status, 201, created.text);
      noForbiddenText(created.text);
      const stored = server.store.get('session', created.body.id)!;
      assert.deepEqual(Object.keys(stored.metadata), ['ok']);
      assert.deepEqual(Object.keys(stored.env), ['A']);
      storedOk(stored.metadata);
      storedOk(stored.env);

      const patched = await postRaw(`/api/sessions/${created.body.id}`, `{"metadata":{"${key}":{"polluted":"yes"},"k":2}}`, 'PATCH');
      assert.equal(patched.status, 200, patched.text);
      noForbiddenText(patched.text);
      assert.deepEqual(Object.keys(server.store.get('session', created.body.id)!.metadata).sort(), ['k', 'ok']);
      assertUnpolluted();
    });
  }

  // ---- ids ---------------------------------------------------------------------------
  const BAD_PATH_IDS = ['..', '%2e%2e', '.', 'a%20b', 'a.b', '%2e%2e%2fetc', '..%2F..%2Fetc%2Fpasswd', 'a%5Cb', '%C3%A9', '%00', 'x'.repeat(129), '%ZZ', 'a%0Ab'];
  for (const bad of BAD_PATH_IDS) {
    it(`path id ${bad.length > 20 ? bad.slice(0, 12) + '…' : bad} → 400 VALIDATION_ERROR on every route`, async () => {
      const before = snapshot();
      const attempts: [string, string, string | undefined][] = [
        ['GET', `/api/projects/${bad}`, undefined],
        ['PATCH', `/api/projects/${bad}`, '{"name":"x"}'],
        ['DELETE', `/api/projects/${bad}`, undefined],
        ['GET', `/api/tasks/${bad}`, undefined],
        ['PATCH', `/api/tasks/${bad}`, '{"title":"x"}'],
        ['POST', `/api/tasks/${bad}/timeline`, '{"message":"m"}'],
        ['POST', `/api/tasks/${bad}/subtasks`, '{"title":"s"}'],
        ['PATCH', `/api/tasks/${taskId}/subtasks/${bad}`, '{"title":"s"}'],
        ['GET', `/api/sessions/${bad}`, undefined],
        ['PATCH', `/api/sessions/${bad}`, '{"name":"x"}'],
        ['POST', `/api/sessions/${bad}/events`, '{"type":"t"}'],
        ['POST', `/api/sessions/${sessionId}/tasks/${bad}`, undefined],
        ['DELETE', `/api/sessions/${bad}/tasks/${taskId}`, undefined],
      ];
      for (const [method, path, body] of attempts) {
        const res = await raw(server.url, method, path, {}, body);
        // Sent byte for byte: `..` and `.` stay a segment, so they are ids to refuse, not a shorter path.
        assert.equal(res.status, 400, `${method} ${path}: ${res.text}`);
        assert.equal(res.body?.code, 'VALIDATION_ERROR', `${method} ${path}: ${res.text}`);
        assertNoStack(res);
      }
      assert.equal(snapshot(), before);
    });
  }

  it('body ids that are not [A-Za-z0-9_-]{1,128} → 400, never 404 nor a file outside the data folder', async () => {
    const before = snapshot();
    const bodies: [string, Record<string, unknown>][] = [
      ['/api/tasks', { projectId: '../../etc', title: 't' }],
      ['/api/tasks', { projectId, title: 't', parentId: '../x' }],
      ['/api/tasks', { projectId, title: 't', dependencies: [taskId, 'a/b'] }],
      ['/api/sessions', { projectId, taskIds: [taskId, 'x y'] }],
      ['/api/sessions', { projectId, id: '../../evil' }],
      ['/api/sessions', { projectId, id: '..' }],
      ['/api/sessions', { projectId, id: 'a'.repeat(129) }],
      ['/api/sessions', { projectId, id: 'évil' }],
      ['/api/sessions', { projectId, id: 'a\\b' }],
      ['/api/sessions', { projectId, id: '' }],
      ['/api/sessions/spawn', { projectId, taskIds: ['..'] }],
      [`/api/sessions/${sessionId}/timeline`, { message: 'm', taskId: '../x' }],
      [`/api/tasks/${taskId}/timeline`, { message: 'm', sessionId: '/etc/passwd' }],
    ];
    for (const [path, body] of bodies) {
      const res = await post(path, body);
      assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}: ${res.text}`);
      assert.equal(res.body?.code, 'VALIDATION_ERROR', res.text);
      assertNoStack(res);
    }
    for (const [path, body] of [
      [`/api/tasks/${taskId}`, { parentId: 'a.b' }], [`/api/tasks/${taskId}`, { sessionIds: ['../s'] }],
      [`/api/sessions/${sessionId}`, { taskIds: ['x/y'] }],
    ] as const) {
      const res = record(path, await api.patch(path, body));
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      assert.equal(res.body?.code, 'VALIDATION_ERROR');
    }
    assert.equal(snapshot(), before);
    await server.writer.flush();
    assert.equal(existsSync(join(server.dataDir, 'evil.json')), false);
    assert.equal(existsSync(join(server.dataDir, '..', 'evil.json')), false);
    const sessionsDir = await readdir(join(server.dataDir, 'sessions'));
    assert.ok(sessionsDir.every((f) => /^[A-Za-z0-9_-]{1,128}\.json$/.test(f)), sessionsDir.join(','));
  });

  it('a session id of exactly 128 allowed characters is accepted', async () => {
    const id = 'A-_9'.repeat(32);
    const res = await post('/api/sessions', { projectId, id });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.id, id);
    assert.equal((await api.get(`/api/sessions/${id}`)).status, 200);
  });

  it('the server is healthy and Object.prototype untouched after all of it', async () => {
    const res = await api.get('/health');
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'ok');
    assertUnpolluted();
  });
});

it('no response body seen in this file carried a stack trace', () => {
  assert.ok(seen.length > 100, `responses recorded: ${seen.length}`);
  const leaks = seen.filter((r) => STACK.test(r.text));
  assert.deepEqual(leaks.map((r) => r.what), []);
});
