/**
 * SPEC §1 (Project) and §2 (projects rows): create, list, get, PUT/PATCH, delete,
 * dependencies, not-found and validation errors.
 */
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertError, client, EventLog, type HttpResult, sleep, startTestServer, type TestServer, waitFor } from '../helpers.ts';

const PROJECT_KEYS = ['createdAt', 'description', 'id', 'name', 'updatedAt', 'version', 'workingDir'];
const ID = /^proj_\d+_[a-z0-9]+$/;

/** `{error:true, message, code, details?}` with nothing else, and the given status and code. */
/** A validation error whose details name `field`. */
function assertValidation(res: HttpResult, field: string) {
  assertError(res, 400, 'VALIDATION_ERROR');
  assert.ok(res.body.details !== undefined, 'details present');
  assert.ok(JSON.stringify(res.body.details).includes(field), `details name ${field}: ${JSON.stringify(res.body.details)}`);
}

const fileExists = (path: string) => access(path).then(() => true, () => false);

/** Events seen so far, after one macrotask tick for stragglers. */
async function eventTypes(log: EventLog) {
  await new Promise((r) => setImmediate(r));
  return log.types();
}

describe('§2 projects', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  let events: EventLog;

  before(async () => {
    server = await startTestServer();
    api = client(server.url);
    events = await EventLog.connect(server.url);
  });
  after(async () => {
    events.close();
    await server.cleanup();
  });

  const create = async (body: object) => {
    const res = await api.post('/api/projects', body);
    assert.equal(res.status, 201, res.text);
    return res.body;
  };

  it('POST creates a project with defaults, version 1 and ETag "1"', async () => {
    const before = Date.now();
    const res = await api.post('/api/projects', { name: 'alpha' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.etag, '"1"');
    assert.match(res.headers['content-type'] as string, /^application\/json/);
    const p = res.body;
    assert.deepEqual(Object.keys(p).sort(), PROJECT_KEYS);
    assert.match(p.id, ID);
    assert.equal(p.name, 'alpha');
    assert.equal(p.workingDir, '');
    assert.equal(p.description, '');
    assert.equal(p.version, 1);
    assert.ok(Number.isInteger(p.createdAt) && p.createdAt >= before && p.createdAt <= Date.now());
    assert.equal(p.updatedAt, p.createdAt);
  });

  it('POST stores workingDir and description as given', async () => {
    const p = await create({ name: 'beta', workingDir: '/tmp/beta', description: 'the second' });
    assert.equal(p.workingDir, '/tmp/beta');
    assert.equal(p.description, 'the second');
  });

  it('POST gives unique ids even for many projects at once', async () => {
    const made = await Promise.all(Array.from({ length: 30 }, (_, i) => create({ name: `many ${i}` })));
    const ids = made.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.match(id, ID);
  });

  it('POST ignores unknown fields and never stores them (response, GET, file)', async () => {
    const res = await api.post('/api/projects', {
      name: 'extra', id: 'proj_mine', version: 42, createdAt: 1, bogus: 'x', nested: { a: 1 },
    });
    assert.equal(res.status, 201);
    const p = res.body;
    assert.notEqual(p.id, 'proj_mine');
    assert.equal(p.version, 1);
    assert.notEqual(p.createdAt, 1);
    assert.deepEqual(Object.keys(p).sort(), PROJECT_KEYS);
    assert.deepEqual(Object.keys((await api.get(`/api/projects/${p.id}`)).body).sort(), PROJECT_KEYS);
    await server.writer.flush();
    const onDisk = JSON.parse(await readFile(join(server.dataDir, 'projects', `${p.id}.json`), 'utf8'));
    assert.deepEqual(onDisk, p);
  });

  it('GET /api/projects lists every project, oldest first', async () => {
    const a = await create({ name: 'order a' });
    await sleep(2);
    const b = await create({ name: 'order b' });
    await sleep(2);
    const c = await create({ name: 'order c' });
    const res = await api.get('/api/projects');
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(res.body));
    const ids = res.body.map((p: any) => p.id);
    assert.deepEqual(ids.filter((id: string) => [a.id, b.id, c.id].includes(id)), [a.id, b.id, c.id]);
    const times = res.body.map((p: any) => p.createdAt);
    assert.deepEqual(times, [...times].sort((x: number, y: number) => x - y));
    assert.deepEqual(res.body.find((p: any) => p.id === b.id), b);
  });

  it('GET /api/projects keeps oldest first after an update (not most recently changed first)', async () => {
    const a = await create({ name: 'keep a' });
    await sleep(2);
    const b = await create({ name: 'keep b' });
    assert.equal((await api.patch(`/api/projects/${a.id}`, { name: 'keep a2' })).status, 200);
    const ids = (await api.get('/api/projects')).body.map((p: any) => p.id);
    assert.ok(ids.indexOf(a.id) < ids.indexOf(b.id));
  });

  it('GET /api/projects/:id answers the project with its ETag', async () => {
    const p = await create({ name: 'gamma' });
    const res = await api.get(`/api/projects/${p.id}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.etag, '"1"');
    assert.deepEqual(res.body, p);
  });

  it('PUT updates the given fields, bumps version by 1, sets updatedAt and broadcasts project:updated', async () => {
    const p = await create({ name: 'delta', workingDir: '/w', description: 'd' });
    await sleep(2);
    events.clear();
    const res = await api.put(`/api/projects/${p.id}`, { name: 'delta 2', description: 'new' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.etag, '"2"');
    assert.deepEqual(res.body, { ...p, name: 'delta 2', description: 'new', version: 2, updatedAt: res.body.updatedAt });
    assert.ok(res.body.updatedAt > p.updatedAt);
    assert.equal(res.body.createdAt, p.createdAt);
    assert.deepEqual(await eventTypes(events), ['project:updated']);
    assert.deepEqual(events.events[0].data, res.body);
    assert.deepEqual((await api.get(`/api/projects/${p.id}`)).body, res.body);
  });

  it('PATCH updates one field and keeps the others', async () => {
    const p = await create({ name: 'eps', workingDir: '/w', description: 'd' });
    const res = await api.patch(`/api/projects/${p.id}`, { workingDir: '/elsewhere' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.etag, '"2"');
    assert.equal(res.body.workingDir, '/elsewhere');
    assert.equal(res.body.name, 'eps');
    assert.equal(res.body.description, 'd');
    const again = await api.patch(`/api/projects/${p.id}`, { description: '' });
    assert.equal(again.body.version, 3);
    assert.equal(again.headers.etag, '"3"');
    assert.equal(again.body.description, '');
  });

  it('PATCH of {} or of the current values answers 200, keeps version and updatedAt, broadcasts nothing', async () => {
    const p = await create({ name: 'zeta', workingDir: '/z' });
    await sleep(2);
    events.clear();
    for (const body of [{}, { name: 'zeta' }, { name: 'zeta', workingDir: '/z', description: '' }, { unknown: 1 }]) {
      const res = await api.patch(`/api/projects/${p.id}`, body);
      assert.equal(res.status, 200);
      assert.equal(res.headers.etag, '"1"');
      assert.deepEqual(res.body, p);
    }
    const put = await api.put(`/api/projects/${p.id}`, { name: 'zeta' });
    assert.deepEqual(put.body, p);
    assert.deepEqual(await eventTypes(events), []);
    assert.deepEqual((await api.get(`/api/projects/${p.id}`)).body, p);
  });

  it('PUT/PATCH/DELETE honour If-Match: a match passes, a mismatch answers 412 with the current project', async () => {
    const p = await create({ name: 'eta' });
    const ok = await api.patch(`/api/projects/${p.id}`, { name: 'eta 2' }, { headers: { 'if-match': '"1"' } });
    assert.equal(ok.status, 200);
    const stale = await api.put(`/api/projects/${p.id}`, { name: 'eta 3' }, { headers: { 'if-match': '"1"' } });
    assertError(stale, 412, 'VERSION_CONFLICT');
    assert.deepEqual(stale.body.details.current, ok.body);
    const staleDelete = await api.delete(`/api/projects/${p.id}`, undefined, { headers: { 'if-match': '"7"' } });
    assertError(staleDelete, 412, 'VERSION_CONFLICT');
    assert.equal((await api.get(`/api/projects/${p.id}`)).body.name, 'eta 2');
    const del = await api.delete(`/api/projects/${p.id}`, undefined, { headers: { 'if-match': '"2"' } });
    assert.equal(del.status, 200);
  });

  it('DELETE answers {success:true,id}, broadcasts project:deleted {id} and removes the file after a flush', async () => {
    const p = await create({ name: 'theta' });
    await server.writer.flush();
    const file = join(server.dataDir, 'projects', `${p.id}.json`);
    assert.ok(await fileExists(file), 'file written');
    events.clear();
    const res = await api.delete(`/api/projects/${p.id}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { success: true, id: p.id });
    assert.deepEqual(await eventTypes(events), ['project:deleted']);
    assert.deepEqual(events.events[0].data, { id: p.id });
    assertError(await api.get(`/api/projects/${p.id}`), 404, 'PROJECT_NOT_FOUND');
    assert.ok(!(await api.get('/api/projects')).body.some((x: any) => x.id === p.id));
    await server.writer.flush();
    assert.equal(await fileExists(file), false, 'file removed');
  });

  it('DELETE is refused with 400 PROJECT_HAS_DEPENDENCIES while a task references the project', async () => {
    const p = await create({ name: 'iota' });
    const task = await api.post('/api/tasks', { projectId: p.id, title: 't' });
    assert.equal(task.status, 201);
    events.clear();
    assertError(await api.delete(`/api/projects/${p.id}`), 400, 'PROJECT_HAS_DEPENDENCIES');
    assert.deepEqual(await eventTypes(events), []);
    assert.equal((await api.get(`/api/projects/${p.id}`)).status, 200);
    assert.equal((await api.delete(`/api/tasks/${task.body.id}`)).status, 200);
    assert.equal((await api.delete(`/api/projects/${p.id}`)).status, 200);
  });

  it('DELETE is refused with 400 PROJECT_HAS_DEPENDENCIES while a session references the project', async () => {
    const p = await create({ name: 'kappa' });
    const session = await api.post('/api/sessions', { projectId: p.id, taskIds: [] });
    assert.equal(session.status, 201, session.text);
    assertError(await api.delete(`/api/projects/${p.id}`), 400, 'PROJECT_HAS_DEPENDENCIES');
    assert.equal((await api.delete(`/api/sessions/${session.body.id}`)).status, 200);
    assert.equal((await api.delete(`/api/projects/${p.id}`)).status, 200);
  });

  it('DELETE is refused while a session is active, whichever active status it has (spawning, idle, working, running, needs_input)', async () => {
    const p = await create({ name: 'lambda' });
    for (const status of ['spawning', 'idle', 'working', 'running', 'needs_input']) {
      const session = await api.post('/api/sessions', { projectId: p.id, status });
      assert.equal(session.status, 201, session.text);
      events.clear();
      const res = await api.delete(`/api/projects/${p.id}`);
      assertError(res, 400, 'PROJECT_HAS_DEPENDENCIES');
      assert.deepEqual(res.body.details, { tasks: 0, activeSessions: 1 }, status);
      assert.deepEqual(await eventTypes(events), []);
      assert.equal((await api.patch(`/api/sessions/${session.body.id}`, { status: 'stopped' })).status, 200);
    }
    assert.equal((await api.delete(`/api/projects/${p.id}`)).status, 200);
  });

  it('DELETE takes the ended sessions (completed, failed, stopped) and their manifests with the project, each with session:deleted', async () => {
    const p = await create({ name: 'mu', workingDir: '/tmp/mu' });
    const task = (await api.post('/api/tasks', { projectId: p.id, title: 't' })).body;
    const spawned = (await api.post('/api/sessions/spawn', { projectId: p.id, taskIds: [task.id] })).body;
    assert.equal(await fileExists(spawned.manifestPath), true);
    const ended: string[] = [spawned.sessionId];
    await api.patch(`/api/sessions/${spawned.sessionId}`, { status: 'completed' });
    for (const status of ['failed', 'stopped']) ended.push((await api.post('/api/sessions', { projectId: p.id, status })).body.id);
    const elsewhere = (await api.post('/api/sessions', { projectId: (await create({ name: 'nu' })).id, status: 'completed' })).body;
    // Tasks still block: the UI deletes them first.
    assertError(await api.delete(`/api/projects/${p.id}`), 400, 'PROJECT_HAS_DEPENDENCIES');
    assert.equal((await api.delete(`/api/tasks/${task.id}`)).status, 200);
    events.clear();
    const res = await api.delete(`/api/projects/${p.id}`, undefined, { headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { success: true, id: p.id });
    await waitFor(() => events.events.some((e) => e.type === 'project:deleted'));
    const seen = events.events;
    assert.deepEqual(seen.map((e) => e.type), ['session:deleted', 'session:deleted', 'session:deleted', 'project:deleted']);
    assert.deepEqual(seen.slice(0, 3).map((e) => e.data.id).sort(), [...ended].sort());
    for (const id of ended) assertError(await api.get(`/api/sessions/${id}`), 404, 'SESSION_NOT_FOUND');
    assert.equal((await api.get(`/api/sessions/${elsewhere.id}`)).status, 200);
    await server.writer.flush();
    for (const id of ended) assert.equal(await fileExists(join(server.dataDir, 'sessions', `${id}.json`)), false, id);
    await waitFor(async () => !(await fileExists(spawned.manifestPath)));
  });

  it('GET, PUT, PATCH and DELETE of an unknown project answer 404 PROJECT_NOT_FOUND', async () => {
    const id = 'proj_0_missing';
    assertError(await api.get(`/api/projects/${id}`), 404, 'PROJECT_NOT_FOUND');
    assertError(await api.put(`/api/projects/${id}`, { name: 'x' }), 404, 'PROJECT_NOT_FOUND');
    assertError(await api.patch(`/api/projects/${id}`, { name: 'x' }), 404, 'PROJECT_NOT_FOUND');
    assertError(await api.delete(`/api/projects/${id}`), 404, 'PROJECT_NOT_FOUND');
  });

  it('POST refuses a missing, empty or non-string name with 400 VALIDATION_ERROR naming the field', async () => {
    events.clear();
    const before = (await api.get('/api/projects')).body.length;
    assertValidation(await api.post('/api/projects', {}), 'name');
    assertValidation(await api.post('/api/projects', { name: '' }), 'name');
    assertValidation(await api.post('/api/projects', { name: 42 }), 'name');
    assertValidation(await api.post('/api/projects', { name: null }), 'name');
    assert.equal((await api.get('/api/projects')).body.length, before);
    assert.deepEqual(await eventTypes(events), []);
  });

  it('POST refuses non-string workingDir and description with 400 VALIDATION_ERROR naming the field', async () => {
    assertValidation(await api.post('/api/projects', { name: 'ok', workingDir: 5 }), 'workingDir');
    assertValidation(await api.post('/api/projects', { name: 'ok', description: ['x'] }), 'description');
  });

  it('POST refuses a body that is not an object, and no body at all, with 400 VALIDATION_ERROR', async () => {
    assertError(await api.post('/api/projects', ['name']), 400, 'VALIDATION_ERROR');
    assertError(await api.post('/api/projects', 'name'), 400, 'VALIDATION_ERROR');
    assertError(await api.post('/api/projects', null), 400, 'VALIDATION_ERROR');
    assertError(await api.post('/api/projects'), 400, 'VALIDATION_ERROR');
  });

  it('PUT/PATCH refuse an empty name or wrong types with 400 and change nothing', async () => {
    const p = await create({ name: 'lambda' });
    assertValidation(await api.patch(`/api/projects/${p.id}`, { name: '' }), 'name');
    assertValidation(await api.put(`/api/projects/${p.id}`, { name: 7 }), 'name');
    assertValidation(await api.patch(`/api/projects/${p.id}`, { description: 1 }), 'description');
    assertError(await api.patch(`/api/projects/${p.id}`), 400, 'VALIDATION_ERROR');
    assert.deepEqual((await api.get(`/api/projects/${p.id}`)).body, p);
  });

  it('a restart on the same data folder lists the projects oldest first, unchanged', async () => {
    const first = await startTestServer();
    const firstApi = client(first.url);
    const made = [];
    for (const name of ['r1', 'r2', 'r3', 'r4']) {
      made.push((await firstApi.post('/api/projects', { name })).body);
      await sleep(2);
    }
    await first.stop();
    const second = await startTestServer({ DATA_DIR: first.dataDir });
    try {
      const listed = (await client(second.url).get('/api/projects')).body;
      assert.deepEqual(listed, made);
    } finally {
      await second.cleanup();
    }
  });
});
