/**
 * SPEC §11 over real sockets: Idempotency-Key on writes, byte-identical replays
 * that change and broadcast nothing, 422 for a reused key, concurrent repeats
 * making one entity, which answers are remembered, and clientRequestId.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type Api, assertError, client, entities, EventLog, startTestServer, type TestServer } from '../helpers.ts';

const settle = () => new Promise((r) => setImmediate(r));
let keyCounter = 0;
const freshKey = () => `key-${process.pid}-${++keyCounter}`;

describe('§11 idempotent writes', () => {
  let server: TestServer;
  let api: Api;
  let events: EventLog;
  let projectId: string;
  before(async () => {
    server = await startTestServer({ MAX_ACTIVE_SESSIONS: '1' });
    api = client(server.url);
    events = await EventLog.connect(server.url);
    projectId = (await entities(api).create('project', { name: 'idem' })).id;
  });
  beforeEach(() => events.clear());
  after(async () => {
    events.close();
    await server.cleanup();
  });

  const withKey = (key: string) => ({ headers: { 'Idempotency-Key': key } });
  const taskCount = async () => (await entities(api).list('task', `?projectId=${projectId}`)).length;

  it('a repeat gets the first answer byte for byte with Idempotent-Replayed: true, and changes and broadcasts nothing', async () => {
    const key = freshKey();
    const before = await taskCount();
    const first = await api.post('/api/tasks', { projectId, title: 'once' }, withKey(key));
    assert.equal(first.status, 201);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    await settle();
    assert.deepEqual(events.types(), ['task:created']);
    events.clear();
    const again = await api.post('/api/tasks', { projectId, title: 'once' }, withKey(key));
    assert.equal(again.status, 201);
    assert.equal(again.text, first.text);
    assert.equal(again.headers.etag, first.headers.etag);
    assert.equal(again.headers['content-type'], first.headers['content-type']);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(await taskCount(), before + 1);
    await settle();
    assert.deepEqual(events.types(), []);
  });

  it('PATCH and DELETE replays: the entity keeps its version; a repeated DELETE answers 200 again', async () => {
    const t = await entities(api).create('task', { projectId, title: 'p' });
    const key = freshKey();
    const first = await api.patch(`/api/tasks/${t.id}`, { timeline: [{ message: 'once' }] }, withKey(key));
    const again = await api.patch(`/api/tasks/${t.id}`, { timeline: [{ message: 'once' }] }, withKey(key));
    assert.equal(again.text, first.text);
    const now = await entities(api).get('task', t.id);
    assert.equal(now.version, first.body.version);
    assert.equal(now.timeline.length, 2);
    const del = freshKey();
    assert.equal((await api.delete(`/api/tasks/${t.id}`, undefined, withKey(del))).status, 200);
    const delAgain = await api.delete(`/api/tasks/${t.id}`, undefined, withKey(del));
    assert.deepEqual([delAgain.status, delAgain.headers['idempotent-replayed']], [200, 'true']);
    assertError(await api.delete(`/api/tasks/${t.id}`), 404, 'TASK_NOT_FOUND');
  });

  it('the same key with another method, path or body (reordered keys included) is 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const key = freshKey();
    const raw = '{"projectId":"' + projectId + '","title":"a"}';
    const reordered = '{"title":"a","projectId":"' + projectId + '"}';
    const headers = { 'Idempotency-Key': key, 'content-type': 'application/json' };
    assert.equal((await api.post('/api/tasks', undefined, { raw, headers })).status, 201);
    const before = await taskCount();
    for (const res of [
      await api.post('/api/tasks', undefined, { raw: reordered, headers }),
      await api.post('/api/tasks', { projectId, title: 'b' }, withKey(key)),
      await api.post('/api/projects', undefined, { raw, headers }),
      await api.put(`/api/projects/${projectId}`, undefined, { raw, headers }),
    ]) {
      assertError(res, 422, 'IDEMPOTENCY_KEY_REUSED');
      assert.deepEqual(res.body.details, { key });
    }
    assert.equal(await taskCount(), before);
  });

  it('a key that is empty, longer than 255 or not printable ASCII is 400', async () => {
    for (const key of ['', 'x'.repeat(256), 'tab\there', 'caf\u00e9']) {
      const res = await api.post('/api/tasks', { projectId, title: 'k' }, withKey(key));
      assertError(res, 400, 'VALIDATION_ERROR');
      assert.equal(res.body.details.fields[0].field, 'Idempotency-Key');
    }
    const longest = await api.post('/api/tasks', { projectId, title: 'k' }, withKey(`${'~'.repeat(254)} `));
    assert.equal(longest.status, 201);
  });

  it('20 concurrent repeats make one entity; every answer is the same bytes', async () => {
    const key = freshKey();
    const before = await taskCount();
    const answers = await Promise.all(Array.from({ length: 20 }, () => api.post('/api/tasks', { projectId, title: 'race' }, withKey(key))));
    assert.ok(answers.every((r) => r.status === 201 && r.text === answers[0].text));
    assert.equal(answers.filter((r) => r.headers['idempotent-replayed'] === undefined).length, 1);
    assert.equal(await taskCount(), before + 1);
    await settle();
    assert.deepEqual(events.types(), ['task:created']);
  });

  it('4xx answers are remembered; 429 is not (a retry is evaluated afresh)', async () => {
    const missing = freshKey();
    assertError(await api.patch('/api/tasks/task_gone', { title: 'x' }, withKey(missing)), 404, 'TASK_NOT_FOUND');
    const replay = await api.patch('/api/tasks/task_gone', { title: 'x' }, withKey(missing));
    assertError(replay, 404, 'TASK_NOT_FOUND');
    assert.equal(replay.headers['idempotent-replayed'], 'true');

    const t = await entities(api).create('task', { projectId, title: 'cap' });
    const blocker = await entities(api).create('session', { projectId, taskIds: [] }); // MAX_ACTIVE_SESSIONS is 1
    const key = freshKey();
    const spawn = () => api.post('/api/sessions/spawn', { projectId, taskIds: [t.id] }, withKey(key));
    assertError(await spawn(), 429, 'SESSION_LIMIT');
    await entities(api).update('session', blocker.id, { status: 'stopped' });
    const retried = await spawn();
    assert.equal(retried.status, 201, retried.text);
    assert.equal(retried.headers['idempotent-replayed'], undefined);
    await entities(api).update('session', retried.body.sessionId, { status: 'stopped' });
  });

  it('clientRequestId in POST /api/tasks works as a key, is never stored, and the header wins', async () => {
    const before = await taskCount();
    const body = { projectId, title: 'from the CLI', clientRequestId: 'cli-1' };
    const first = await api.post('/api/tasks', body);
    const again = await api.post('/api/tasks', body);
    assert.equal(first.status, 201);
    assert.equal(again.text, first.text);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(first.body.clientRequestId, undefined);
    assert.equal(await taskCount(), before + 1);
    assertError(await api.post('/api/tasks', { ...body, title: 'changed' }), 422, 'IDEMPOTENCY_KEY_REUSED');
    // A header key never meets a body key, even when spelled the same.
    const header = await api.post('/api/tasks', { ...body, clientRequestId: 'cli-2' }, withKey('POST /api/tasks cli-2'));
    assert.equal(header.status, 201);
    const bodyOnly = await api.post('/api/tasks', { ...body, clientRequestId: 'cli-2' });
    assert.equal(bodyOnly.status, 201);
    assert.notEqual(bodyOnly.body.id, header.body.id);
    assert.equal(bodyOnly.headers['idempotent-replayed'], undefined);
    assertError(await api.post('/api/tasks', { ...body, clientRequestId: 7 }), 400, 'VALIDATION_ERROR');
    assertError(await api.post('/api/tasks', { ...body, clientRequestId: '' }), 400, 'VALIDATION_ERROR');
  });

  it('clientRequestId in POST /api/sessions/spawn: a retried spawn makes one session and one spawn request', async () => {
    const t = await entities(api).create('task', { projectId, title: 'spawn' });
    const body = { projectId, taskIds: [t.id], clientRequestId: 'spawn-1' };
    const answers = await Promise.all([api.post('/api/sessions/spawn', body), api.post('/api/sessions/spawn', body)]);
    assert.deepEqual(answers.map((r) => r.status), [201, 201]);
    assert.equal(answers[0].text, answers[1].text);
    await settle();
    assert.equal(events.types().filter((type) => type === 'session:spawn_request').length, 1);
    assert.equal(answers[0].body.session.metadata.clientRequestId, undefined);
    await entities(api).update('session', answers[0].body.sessionId, { status: 'stopped' });
  });

  it('GET ignores the header', async () => {
    const key = freshKey();
    assert.equal((await api.post('/api/tasks', { projectId, title: 'g' }, withKey(key))).status, 201);
    const res = await api.get(`/api/tasks?projectId=${projectId}`, undefined, withKey(key));
    assert.equal(res.status, 200);
    assert.equal(res.headers['idempotent-replayed'], undefined);
  });
});

describe('§11 answers about the moment are not remembered', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ MAESTRO_TOKEN: 'secret-token' }); });
  after(() => server.cleanup());

  it('a 401 is not remembered: the retry with the token is carried out', async () => {
    const api = client(server.url);
    const key = { 'Idempotency-Key': 'auth-retry' };
    assertError(await api.post('/api/projects', { name: 'p' }, { headers: key }), 401, 'UNAUTHORIZED');
    const ok = await api.post('/api/projects', { name: 'p' }, { headers: { ...key, Authorization: 'Bearer secret-token' } });
    assert.equal(ok.status, 201);
    assert.equal(ok.headers['idempotent-replayed'], undefined);
  });
});
