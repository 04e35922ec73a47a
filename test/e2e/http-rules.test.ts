/**
 * SPEC §2 (HTTP rules: JSON in/out, error shape, 404/405/413/415, empty bodies,
 * INVALID_JSON, path ids, /health) and the CORS part of §8.
 */
import assert from 'node:assert/strict';
import { type IncomingHttpHeaders, request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { assertError, client, type HttpResult, startTestServer, type TestServer } from '../helpers.ts';

const ORIGIN = 'http://localhost:5173';

function assertErrorShape(res: HttpResult) {
  assert.match(String(res.headers['content-type']), /^application\/json/, `JSON content type: ${res.text}`);
  assert.equal(res.body?.error, true, res.text);
  assert.equal(typeof res.body.code, 'string');
  assert.equal(typeof res.body.message, 'string');
  assert.ok(res.body.message.length > 0);
  for (const key of Object.keys(res.body)) assert.ok(['error', 'message', 'code', 'details'].includes(key), `unexpected key ${key}`);
  assert.ok(!/\n\s+at |\.ts:\d+/.test(res.text), `no stack trace: ${res.text}`);
}

const allowList = (res: HttpResult) => String(res.headers.allow ?? '').split(',').map((s) => s.trim()).filter(Boolean).sort();
const headerList = (value: unknown) => String(value ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);

interface RawResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: any;
  /** Bytes of body the client managed to write before the answer came. */
  written: number;
}

/**
 * A chunked upload (no Content-Length) that keeps sending `chunk` until the server
 * answers; errors on the write side (EPIPE, ECONNRESET) are expected once it does.
 */
function chunkedUpload(url: string, path: string, chunk: string, maxBytes: number): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let answered = false;
    const req = request(new URL(path, url), {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : undefined, written });
      });
      res.on('error', () => {});
    });
    req.on('error', (err) => { if (!answered) setTimeout(() => { if (!answered) reject(err); }, 1000); });
    const pump = () => {
      if (answered || req.destroyed) return;
      if (written >= maxBytes) return; // never end the upload: the server must answer first
      written += chunk.length;
      req.write(chunk);
      setTimeout(pump, 5);
    };
    req.write('{"name":"');
    pump();
  });
}

describe('§2 HTTP rules', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  let project: any;

  before(async () => {
    server = await startTestServer({ WRITE_DEBOUNCE_MS: '60000' });
    api = client(server.url);
    project = (await api.post('/api/projects', { name: 'rules' })).body;
  });
  after(() => server.cleanup());

  it('every error answer is {error:true, message, code, details?} as JSON, without a stack trace', async () => {
    const task = (await api.post('/api/tasks', { projectId: project.id, title: 't' })).body;
    const answers = [
      await api.get('/api/nope'),
      await api.put('/api/tasks', {}),
      await api.get('/api/projects/proj_0_none'),
      await api.get('/api/tasks/task_0_none'),
      await api.get('/api/sessions/sess_0_none'),
      await api.patch(`/api/tasks/${task.id}/subtasks/sub_0_none`, {}),
      await api.post('/api/projects', { name: '' }),
      await api.post('/api/projects', undefined, { raw: '{oops', headers: { 'content-type': 'application/json' } }),
      await api.post('/api/projects', undefined, { raw: '{}', headers: { 'content-type': 'text/plain' } }),
      await api.patch(`/api/tasks/${task.id}`, { title: 'x' }, { headers: { 'if-match': '"99"' } }),
      await api.get('/api/tasks/bad.id'),
      await api.get('/api/projects', undefined, { headers: { origin: 'http://evil.example' } }),
    ];
    assert.deepEqual(answers.map((r) => r.status), [404, 405, 404, 404, 404, 404, 400, 400, 415, 412, 400, 403]);
    for (const res of answers) assertErrorShape(res);
  });

  it('answers 404 NOT_FOUND for routes that do not exist', async () => {
    for (const path of ['/api/nope', '/', '/api', '/api/projects/x/y', '/api/tasks/a/b/c/d/e', '/health/x']) {
      assertError(await api.get(path), 404, 'NOT_FOUND');
    }
    assertError(await api.post('/api/unknown', {}), 404, 'NOT_FOUND');
  });

  it('answers 405 METHOD_NOT_ALLOWED with an Allow header for a known path and another method', async () => {
    const put = await api.put('/api/tasks', {});
    assertError(put, 405, 'METHOD_NOT_ALLOWED');
    assert.deepEqual(allowList(put), ['GET', 'POST']);
    // GET of a static POST route reads the session of that id (issue 9, item 15).
    assertError(await api.get('/api/sessions/spawn'), 404, 'SESSION_NOT_FOUND');
    const children = await api.post(`/api/tasks/task_1/children`, {});
    assertError(children, 405, 'METHOD_NOT_ALLOWED');
    assert.deepEqual(allowList(children), ['GET']);
    const health = await api.delete('/health');
    assertError(health, 405, 'METHOD_NOT_ALLOWED');
    assert.deepEqual(allowList(health), ['GET']);
  });

  it('answers PUT only where SPEC §2 lists it: tasks, sessions and subtasks are 405 with Allow, projects take it', async () => {
    const project = (await api.post('/api/projects', { name: 'put rules' })).body;
    const task = (await api.post('/api/tasks', { projectId: project.id, title: 't' })).body;
    const session = (await api.post('/api/sessions', { projectId: project.id })).body;
    for (const path of [`/api/tasks/${task.id}`, `/api/sessions/${session.id}`, '/api/tasks/task_nope', '/api/sessions/sess_nope']) {
      const put = await api.put(path, { title: 'x', name: 'x' });
      assertError(put, 405, 'METHOD_NOT_ALLOWED');
      assert.deepEqual(allowList(put), ['DELETE', 'GET', 'PATCH']);
    }
    assert.equal((await api.get(`/api/tasks/${task.id}`)).body.version, 1, 'a refused PUT changes nothing');
    const subtask = (await api.post(`/api/tasks/${task.id}/subtasks`, { title: 's' })).body;
    const subtaskPut = await api.put(`/api/tasks/${task.id}/subtasks/${subtask.id}`, { title: 'x', completed: true });
    assertError(subtaskPut, 405, 'METHOD_NOT_ALLOWED');
    assert.deepEqual(allowList(subtaskPut), ['DELETE', 'PATCH']);
    assert.deepEqual((await api.get(`/api/tasks/${task.id}/subtasks`)).body.map((s: { title: string; completed: boolean }) => [s.title, s.completed]),
      [['s', false]], 'a refused subtask PUT changes nothing');
    const put = await api.put(`/api/projects/${project.id}`, { name: 'renamed' });
    assert.equal(put.status, 200);
    assert.equal(put.body.name, 'renamed');
  });

  it('answers 415 UNSUPPORTED_MEDIA_TYPE for a body that is not sent as application/json', async () => {
    const before = (await api.get('/api/projects')).body.length;
    assertError(await api.post('/api/projects', undefined, { raw: '{"name":"x"}', headers: { 'content-type': 'text/plain' } }),
      415, 'UNSUPPORTED_MEDIA_TYPE');
    assertError(await api.post('/api/projects', undefined, { raw: '{"name":"x"}' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    assertError(await api.patch(`/api/projects/${project.id}`, undefined, {
      raw: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    assert.equal((await api.get('/api/projects')).body.length, before);
  });

  it('accepts application/json with a charset parameter', async () => {
    const res = await api.post('/api/projects', undefined, {
      raw: '{"name":"charset"}', headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.name, 'charset');
  });

  it('an empty body is no body: GET and DELETE with Content-Type: application/json work', async () => {
    const json = { 'content-type': 'application/json' };
    const list = await api.get('/api/projects', undefined, { headers: json, raw: '' });
    assert.equal(list.status, 200, list.text);
    assert.ok(Array.isArray(list.body));
    const one = await api.get(`/api/projects/${project.id}`, undefined, { headers: json });
    assert.equal(one.status, 200);
    const doomed = (await api.post('/api/projects', { name: 'doomed' })).body;
    const del = await api.delete(`/api/projects/${doomed.id}`, undefined, { headers: json, raw: '' });
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.body, { success: true, id: doomed.id });
  });

  it('POST/PUT/PATCH with no body answer 400 VALIDATION_ERROR, whatever the Content-Type', async () => {
    const variants: Record<string, string>[] = [{ 'content-type': 'application/json' }, { 'content-type': 'text/plain' }, {}];
    for (const headers of variants) {
      assertError(await api.post('/api/projects', undefined, { headers, raw: '' }), 400, 'VALIDATION_ERROR');
      assertError(await api.patch(`/api/projects/${project.id}`, undefined, { headers, raw: '' }), 400, 'VALIDATION_ERROR');
      assertError(await api.put(`/api/projects/${project.id}`, undefined, { headers }), 400, 'VALIDATION_ERROR');
    }
  });

  it('{} is a valid, empty body', async () => {
    const res = await api.patch(`/api/projects/${project.id}`, {});
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, (await api.get(`/api/projects/${project.id}`)).body);
  });

  it('DELETE routes do not parse a body: whatever is sent does not matter', async () => {
    const doomed = (await api.post('/api/projects', { name: 'doomed 2' })).body;
    const del = await api.delete(`/api/projects/${doomed.id}`, undefined, { raw: 'not json at all', headers: { 'content-type': 'text/plain' } });
    assert.equal(del.status, 200, del.text);
    const doomed2 = (await api.post('/api/projects', { name: 'doomed 3' })).body;
    const del2 = await api.delete(`/api/projects/${doomed2.id}`, undefined, { raw: '{broken', headers: { 'content-type': 'application/json' } });
    assert.equal(del2.status, 200, del2.text);
  });

  it('malformed JSON answers 400 INVALID_JSON', async () => {
    const json = { 'content-type': 'application/json' };
    for (const raw of ['{"name":', '{name: "x"}', "{'name':'x'}", '{"name":"x"}}', 'undefined', '[1,]']) {
      assertError(await api.post('/api/projects', undefined, { raw, headers: json }), 400, 'INVALID_JSON');
    }
  });

  it('ids in the path that are not [A-Za-z0-9_-]{1,128} answer 400 VALIDATION_ERROR', async () => {
    for (const id of ['bad.id', 'a%20b', 'a%2Fb', '..x', 'x'.repeat(129), 'caf%C3%A9', 'a%00b']) {
      assertError(await api.get(`/api/tasks/${id}`), 400, 'VALIDATION_ERROR');
    }
    assertError(await api.patch('/api/projects/a.b', { name: 'x' }), 400, 'VALIDATION_ERROR');
    assertError(await api.delete('/api/sessions/a.b'), 400, 'VALIDATION_ERROR');
    assertError(await api.get(`/api/tasks/task_1/subtasks`), 404, 'TASK_NOT_FOUND');
    assertError(await api.patch(`/api/tasks/task_1/subtasks/sub.1`, {}), 400, 'VALIDATION_ERROR');
    // The longest valid id is fine as an id (and simply not found).
    assertError(await api.get(`/api/tasks/${'x'.repeat(128)}`), 404, 'TASK_NOT_FOUND');
  });

  it('GET /health answers {status:"ok", timestamp, uptime, pendingWrites, journalBytes, lastCheckpointAt}', async () => {
    const before = Date.now();
    const res = await api.get('/health');
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body).sort(), ['journalBytes', 'lastCheckpointAt', 'pendingWrites', 'status', 'timestamp', 'uptime']);
    assert.ok(Number.isInteger(res.body.journalBytes) && res.body.journalBytes >= 0);
    // Start-up begins a checkpoint; until it completes there is none.
    assert.ok(res.body.lastCheckpointAt === null || (Number.isInteger(res.body.lastCheckpointAt) && res.body.lastCheckpointAt <= Date.now()));
    assert.equal(res.body.status, 'ok');
    assert.ok(Number.isInteger(res.body.timestamp) && res.body.timestamp >= before && res.body.timestamp <= Date.now());
    assert.ok(Number.isInteger(res.body.uptime) && res.body.uptime >= 0);
    assert.ok(Number.isInteger(res.body.pendingWrites) && res.body.pendingWrites >= 0);
  });

  it('GET /health counts the changes not yet checkpointed (pendingWrites) and the journal\'s size (journalBytes)', async () => {
    await server.journal.checkpoint();
    const empty = (await api.get('/health')).body;
    assert.equal(empty.pendingWrites, 0);
    assert.equal(empty.journalBytes, 0);
    await api.post('/api/projects', { name: 'p1' });
    await api.post('/api/projects', { name: 'p2' });
    const two = (await api.get('/health')).body;
    assert.equal(two.pendingWrites, 2);
    assert.ok(two.journalBytes > 0, 'both creates are in the journal');
    // Written but not yet fsynced: still pending until the checkpoint.
    await server.writer.flush();
    assert.equal((await api.get('/health')).body.pendingWrites, 2);
    await server.journal.checkpoint();
    const done = (await api.get('/health')).body;
    assert.equal(done.pendingWrites, 0);
    assert.equal(done.journalBytes, 0);
    assert.ok(done.lastCheckpointAt >= empty.lastCheckpointAt);
  });
});

describe('§2 body limit (BODY_LIMIT_BYTES)', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;

  before(async () => {
    server = await startTestServer({ BODY_LIMIT_BYTES: '1000' });
    api = client(server.url);
  });
  after(() => server.cleanup());

  const bodyOfSize = (size: number) => {
    const prefix = '{"name":"';
    const suffix = '"}';
    return prefix + 'x'.repeat(size - prefix.length - suffix.length) + suffix;
  };

  it('a body at the limit is accepted', async () => {
    const raw = bodyOfSize(1000);
    assert.equal(Buffer.byteLength(raw), 1000);
    const res = await api.post('/api/projects', undefined, { raw, headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 201, res.text);
  });

  it('a body over the limit with Content-Length answers 413 PAYLOAD_TOO_LARGE', async () => {
    const before = (await api.get('/api/projects')).body.length;
    const res = await api.post('/api/projects', undefined, { raw: bodyOfSize(1001), headers: { 'content-type': 'application/json' } });
    assertError(res, 413, 'PAYLOAD_TOO_LARGE');
    assert.equal((await api.get('/api/projects')).body.length, before);
  });

  it('a large declared Content-Length is refused with 413 before the body is sent', { timeout: 10_000 }, async () => {
    const res = await new Promise<RawResult>((resolve, reject) => {
      const req = request(new URL('/api/projects', server.url), {
        method: 'POST', agent: false,
        headers: { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) },
      }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode!, headers: r.headers, body: JSON.parse(Buffer.concat(chunks).toString()), written: 0 }));
      });
      req.on('error', (err) => setTimeout(() => reject(err), 1000));
      req.write('{"name":"'); // and never the other 50 MiB
    });
    assert.equal(res.status, 413);
    assert.equal(res.body.error, true);
    assert.equal(res.body.code, 'PAYLOAD_TOO_LARGE');
  });

  it('a chunked body without a length answers 413 once past the limit, without the client finishing', { timeout: 10_000 }, async () => {
    const res = await chunkedUpload(server.url, '/api/projects', 'y'.repeat(200), 10 * 1024 * 1024);
    assert.equal(res.status, 413);
    assert.equal(res.body.error, true);
    assert.equal(res.body.code, 'PAYLOAD_TOO_LARGE');
    assert.equal(typeof res.body.message, 'string');
    assert.ok(res.written < 10 * 1024 * 1024, 'answered before the upload ended');
  });

  it('a chunked body under the limit is read and accepted', async () => {
    const res = await new Promise<RawResult>((resolve, reject) => {
      const req = request(new URL('/api/projects', server.url), {
        method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode!, headers: r.headers, body: JSON.parse(Buffer.concat(chunks).toString()), written: 0 }));
      });
      req.on('error', reject);
      req.write('{"name":');
      req.write('"chunked"}');
      req.end();
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.name, 'chunked');
  });

  it('the server still answers after refusing large bodies', async () => {
    const res = await api.post('/api/projects', { name: 'after' });
    assert.equal(res.status, 201);
  });
});

describe('§8 CORS', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;

  before(async () => {
    server = await startTestServer({ CORS_ORIGINS: 'https://app.example.com' });
    api = client(server.url);
  });
  after(() => server.cleanup());

  it('answers a preflight from an allowed origin with 204 and the CORS headers', async () => {
    const res = await api.request('OPTIONS', '/api/tasks/task_1', undefined, {
      headers: {
        origin: ORIGIN, 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'content-type, if-match',
      },
    });
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.equal(res.headers['access-control-allow-origin'], ORIGIN);
    const methods = headerList(res.headers['access-control-allow-methods']);
    for (const m of ['get', 'post', 'put', 'patch', 'delete']) assert.ok(methods.includes(m), `Allow-Methods has ${m}`);
    const headers = headerList(res.headers['access-control-allow-headers']);
    for (const h of ['content-type', 'if-match', 'authorization']) assert.ok(headers.includes(h), `Allow-Headers has ${h}`);
  });

  it('answers preflights from every loopback and tauri origin and from CORS_ORIGINS', async () => {
    for (const origin of ['http://127.0.0.1:3000', 'http://[::1]:8080', 'https://localhost', 'tauri://localhost', 'https://app.example.com']) {
      const res = await api.request('OPTIONS', '/api/projects', undefined, { headers: { origin, 'access-control-request-method': 'POST' } });
      assert.equal(res.status, 204, origin);
      assert.equal(res.headers['access-control-allow-origin'], origin);
    }
  });

  it('answers a preflight without a token even when MAESTRO_TOKEN is set', async () => {
    const guarded = await startTestServer({ MAESTRO_TOKEN: 'secret-token' });
    try {
      const res = await client(guarded.url).request('OPTIONS', '/api/projects', undefined, {
        headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
      });
      assert.equal(res.status, 204);
      assert.equal(res.headers['access-control-allow-origin'], ORIGIN);
      assert.ok(headerList(res.headers['access-control-allow-headers']).includes('authorization'));
    } finally {
      await guarded.cleanup();
    }
  });

  it('refuses a preflight from another origin with 403 and no CORS headers', async () => {
    for (const origin of ['http://evil.example', 'http://localhost.evil.example', 'null', 'https://app.example.com:444']) {
      const res = await api.request('OPTIONS', '/api/projects', undefined, { headers: { origin, 'access-control-request-method': 'POST' } });
      assert.equal(res.status, 403, origin);
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      assert.equal(res.headers['access-control-allow-methods'], undefined);
    }
  });

  it('normal answers to an allowed origin echo it and expose ETag', async () => {
    const created = await api.post('/api/projects', { name: 'cors' }, { headers: { origin: ORIGIN } });
    assert.equal(created.status, 201);
    assert.equal(created.headers['access-control-allow-origin'], ORIGIN);
    assert.ok(headerList(created.headers['access-control-expose-headers']).includes('etag'));
    const got = await api.get(`/api/projects/${created.body.id}`, undefined, { headers: { origin: ORIGIN } });
    assert.equal(got.headers['access-control-allow-origin'], ORIGIN);
    assert.ok(headerList(got.headers['access-control-expose-headers']).includes('etag'));
    assert.equal(got.headers.etag, '"1"');
  });

  it('error answers to an allowed origin carry the CORS headers too, so the page can read them', async () => {
    const res = await api.get('/api/projects/proj_0_none', undefined, { headers: { origin: ORIGIN } });
    assertError(res, 404, 'PROJECT_NOT_FOUND');
    assert.equal(res.headers['access-control-allow-origin'], ORIGIN);
  });

  it('a request from another origin answers 403 FORBIDDEN with no CORS headers and changes nothing', async () => {
    const before = (await api.get('/api/projects')).body.length;
    const res = await api.post('/api/projects', { name: 'evil' }, { headers: { origin: 'http://evil.example' } });
    assertError(res, 403, 'FORBIDDEN');
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.equal((await api.get('/api/projects')).body.length, before);
  });

  it('requests without Origin carry no CORS headers', async () => {
    const res = await api.get('/api/projects');
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
  });
});
