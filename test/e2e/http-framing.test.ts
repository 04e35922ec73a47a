/**
 * SPEC §8 framing rules found broken by the adversarial review (issue 9): pipelined
 * requests in order (14), static routes never hiding an entity (15), `Upgrade: h2c`
 * and absolute-form targets (16), aborted uploads not logged as errors (19).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, describe, it } from 'node:test';
import {
  assertError, client, parseResponses, rawExchange, sleep, startProcess, tempDir, useApiServer, type ApiServer,
} from '../helpers.ts';

const hostOf = (url: string) => new URL(url).host;

describe('§8 pipelined requests run and answer in order (item 14)', () => {
  let f: ApiServer;
  useApiServer(['pipes'], (fixture) => { f = fixture; });

  it('PATCH (with body), GET, DELETE in one write: the GET sees the PATCH, the PATCH is not undone by the DELETE', async () => {
    for (let round = 0; round < 5; round++) {
      const task = (await f.api.post('/api/tasks', { projectId: f.projects[0].id, title: 'old' })).body;
      const patch = JSON.stringify({ title: `new ${round}` });
      const host = hostOf(f.server.url);
      const bytes = `PATCH /api/tasks/${task.id} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(patch)}\r\n\r\n${patch}`
        + `GET /api/tasks/${task.id} HTTP/1.1\r\nHost: ${host}\r\n\r\n`
        + `DELETE /api/tasks/${task.id} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
      const text = await rawExchange(f.server.url, bytes, (t) => parseResponses(t).length === 3);
      const [patched, read, deleted] = parseResponses(text);
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.body.title, `new ${round}`);
      assert.equal(read.status, 200, read.text);
      assert.equal(read.body.title, `new ${round}`, 'the GET sent after the PATCH sees it');
      assert.equal(deleted.status, 200, deleted.text);
    }
  });

  it('many pipelined writes and reads on one connection keep their order', async () => {
    const task = (await f.api.post('/api/tasks', { projectId: f.projects[0].id, title: 't0' })).body;
    const host = hostOf(f.server.url);
    let bytes = '';
    for (let i = 1; i <= 40; i++) {
      const body = JSON.stringify({ title: `t${i}` });
      bytes += `PATCH /api/tasks/${task.id} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      bytes += `GET /api/tasks/${task.id} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
    }
    const responses = parseResponses(await rawExchange(f.server.url, bytes, (t) => parseResponses(t).length === 80));
    assert.equal(responses.length, 80);
    for (let i = 0; i < 40; i++) {
      assert.equal(responses[2 * i].body.title, `t${i + 1}`);
      assert.equal(responses[2 * i + 1].body.title, `t${i + 1}`, `GET ${i + 1} answered in order`);
    }
  });
});

describe('§8 static routes never make an entity unreachable (item 15)', () => {
  let f: ApiServer;
  useApiServer(['statics'], (fixture) => { f = fixture; });

  it('a session with id `spawn` can be read, changed and deleted, and then its project deleted', async () => {
    const project = f.projects[0];
    const created = await f.api.post('/api/sessions', { id: 'spawn', projectId: project.id });
    assert.equal(created.status, 201, created.text);
    const read = await f.api.get('/api/sessions/spawn');
    assert.equal(read.status, 200, read.text);
    assert.equal(read.body.id, 'spawn');
    const patched = await f.api.patch('/api/sessions/spawn', { name: 'renamed' });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.name, 'renamed');
    assertError(await f.api.put('/api/sessions/spawn', { status: 'running' }), 405, 'METHOD_NOT_ALLOWED'); // SPEC §2: no PUT on sessions
    assert.equal((await f.api.delete('/api/sessions/spawn')).status, 200);
    assertError(await f.api.get('/api/sessions/spawn'), 404, 'SESSION_NOT_FOUND');
    assert.equal((await f.api.delete(`/api/projects/${project.id}`)).status, 200);
  });

  it('the static route keeps its own method, and a method nobody has is still 405', async () => {
    const spawn = await f.api.post('/api/sessions/spawn', {});
    assertError(spawn, 400, 'VALIDATION_ERROR');
    const res = await f.api.request('POST', '/api/sessions/x1');
    assertError(res, 405, 'METHOD_NOT_ALLOWED');
  });
});

describe('§8 Upgrade: h2c and absolute-form targets (item 16)', () => {
  let f: ApiServer;
  useApiServer(['framing'], (fixture) => { f = fixture; });

  it('an h2c upgrade (curl --http2) is answered as plain HTTP/1.1 JSON', async () => {
    const host = hostOf(f.server.url);
    const bytes = `GET /api/projects HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`;
    const [res] = parseResponses(await rawExchange(f.server.url, bytes, (t) => parseResponses(t).length === 1));
    assert.ok(res, 'an answer');
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.deepEqual(res.body.map((p: any) => p.name), ['framing']);
  });

  it('an h2c upgrade with a body creates what it says', async () => {
    const host = hostOf(f.server.url);
    const body = JSON.stringify({ name: 'via-h2c' });
    const bytes = `POST /api/projects HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n`
      + `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const [res] = parseResponses(await rawExchange(f.server.url, bytes, (t) => parseResponses(t).length === 1));
    assert.equal(res?.status, 201, res?.text);
    assert.equal(res.body.name, 'via-h2c');
  });

  it('absolute-form targets are served, and their host must pass the Host check', async () => {
    const host = hostOf(f.server.url);
    const ok = `GET http://${host}/api/projects?x=1 HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
    const [res] = parseResponses(await rawExchange(f.server.url, ok, (t) => parseResponses(t).length === 1));
    assert.equal(res.status, 200, res.text);
    assert.ok(Array.isArray(res.body));
    const evil = `GET http://evil.example/api/projects HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
    const [refused] = parseResponses(await rawExchange(f.server.url, evil, (t) => parseResponses(t).length === 1));
    assertError(refused, 403, 'FORBIDDEN');
  });
});

describe('§9 aborted uploads are not unexpected errors (item 19)', () => {
  const dirs: string[] = [];
  after(async () => { for (const d of dirs) await import('node:fs/promises').then((fs) => fs.rm(d, { recursive: true, force: true })); });

  it('ten uploads cut mid-body log no error and no stack trace', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const proc = await startProcess({ DATA_DIR: dir, LOG_LEVEL: 'info' });
    const { port, hostname } = new URL(proc.url);
    for (let i = 0; i < 10; i++) {
      const socket = connect(Number(port), hostname);
      await new Promise((r) => socket.once('connect', r));
      socket.write(`POST /api/projects HTTP/1.1\r\nHost: ${hostOf(proc.url)}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":`);
      await sleep(20);
      socket.destroy();
    }
    await sleep(200);
    assert.equal((await client(proc.url).get('/health')).status, 200);
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);
    assert.doesNotMatch(proc.stderr(), /error|\n\s+at /, proc.stderr());
  });
});
