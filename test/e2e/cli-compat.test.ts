/**
 * SPEC §2 and §5 as the original Maestro CLI uses them: what it sends must work
 * unchanged — a JSON Content-Type on body-less GET/DELETE, extra fields, ids it
 * chose itself, its timeline types, spawning from a session.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError, client, FIXTURE_SKILLS, type HttpResult, startTestServer, type TestServer } from '../helpers.ts';

/** The header the CLI puts on every request, body or not. */
const CLI_HEADERS = { 'content-type': 'application/json', accept: 'application/json' };

describe('§2/§5 compatibility with the original Maestro CLI', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  let cli: ReturnType<typeof client>;
  let project: any;

  before(async () => {
    server = await startTestServer({ SKILLS_DIR: FIXTURE_SKILLS });
    api = client(server.url);
    cli = client(server.url, { headers: CLI_HEADERS });
    project = (await api.post('/api/projects', { name: 'cli', workingDir: '/work/cli' })).body;
  });
  after(() => server.cleanup());

  const newTask = async (title = 'work') => (await api.post('/api/tasks', { projectId: project.id, title })).body;
  const assertJson = (res: HttpResult, what: string) => {
    assert.match(String(res.headers['content-type']), /^application\/json(;|$)/, `${what}: ${res.headers['content-type']}`);
    assert.notEqual(res.body, undefined, `${what}: body is JSON`);
  };

  it('GET with Content-Type: application/json and no body works', async () => {
    const task = await newTask();
    for (const path of ['/api/projects', `/api/projects/${project.id}`, '/api/tasks', `/api/tasks/${task.id}`, '/api/sessions', '/api/skills', '/health']) {
      const res = await cli.get(path);
      assert.equal(res.status, 200, path);
      assertJson(res, path);
    }
  });

  it('GET with Content-Type and Content-Length: 0 works', async () => {
    const res = await cli.get('/api/tasks', undefined, { headers: { 'content-length': '0' } });
    assert.equal(res.status, 200);
  });

  it('DELETE with Content-Type: application/json and no body works', async () => {
    const task = await newTask();
    const res = await cli.delete(`/api/tasks/${task.id}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { success: true, id: task.id });
    const s = (await api.post('/api/sessions', { projectId: project.id })).body;
    const res2 = await cli.delete(`/api/sessions/${s.id}`, undefined, { headers: { 'content-length': '0' } });
    assert.equal(res2.status, 200);
    assert.deepEqual(res2.body, { success: true, id: s.id });
  });

  it('link and unlink with Content-Type and an empty body work', async () => {
    const task = await newTask();
    const s = (await api.post('/api/sessions', { projectId: project.id })).body;
    const linked = await cli.post(`/api/sessions/${s.id}/tasks/${task.id}`, undefined, { headers: { 'content-length': '0' } });
    assert.equal(linked.status, 200);
    assert.deepEqual(linked.body.taskIds, [task.id]);
    const unlinked = await cli.delete(`/api/sessions/${s.id}/tasks/${task.id}`);
    assert.equal(unlinked.status, 200);
    assert.deepEqual(unlinked.body.taskIds, []);
  });

  it('PATCH of a task with updateSource "session": only sessionStatus applies, other fields ignored and not stored', async () => {
    const task = await newTask();
    const res = await cli.patch(`/api/tasks/${task.id}`, {
      status: 'in_progress', title: '', sessionStatus: 'working', updateSource: 'session', sessionId: 'sess_gone',
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, 'todo');
    assert.equal(res.body.title, task.title);
    assert.equal(res.body.sessionStatus, 'working');
    const stored = (await api.get(`/api/tasks/${task.id}`)).body;
    for (const body of [res.body, stored]) {
      assert.equal(body.sessionStatus, 'working');
      assert.ok(!('updateSource' in body) && !('sessionId' in body));
    }
  });

  it('without updateSource "session", sessionStatus is an ordinary field beside the others', async () => {
    const task = await newTask();
    const res = await cli.patch(`/api/tasks/${task.id}`, { status: 'in_progress', sessionStatus: 'blocked', updateSource: 'user' });
    assert.equal(res.status, 200);
    assert.deepEqual([res.body.status, res.body.sessionStatus], ['in_progress', 'blocked']);
    const cleared = await cli.patch(`/api/tasks/${task.id}`, { sessionStatus: null });
    assert.equal(cleared.body.sessionStatus, null);
  });

  it('an invalid sessionStatus is 400, as a report or not', async () => {
    const task = await newTask();
    for (const body of [{ sessionStatus: 'idle' }, { sessionStatus: 'idle', updateSource: 'session' }]) {
      assertError(await cli.patch(`/api/tasks/${task.id}`, body), 400, 'VALIDATION_ERROR');
    }
  });

  it('a PATCH of only unknown fields is a no-op', async () => {
    const task = await newTask();
    const res = await cli.patch(`/api/tasks/${task.id}`, { updateSource: 'user', claimedBy: 'x' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, task);
  });

  it('task status "todo" is stored and "pending" is its input synonym', async () => {
    const task = await newTask();
    assert.equal(task.status, 'todo');
    await cli.patch(`/api/tasks/${task.id}`, { status: 'in_progress' });
    const res = await cli.patch(`/api/tasks/${task.id}`, { status: 'pending' });
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'todo');
    for (const status of ['todo', 'pending']) {
      const list = await cli.get(`/api/tasks?projectId=${project.id}&status=${status}`);
      assert.ok(list.body.some((t: any) => t.id === task.id), status);
    }
  });

  it('a session with the id the CLI chose: created, read, updated, deleted by that id', async () => {
    const task = await newTask();
    const id = `sess_${Date.now()}_cli9z`;
    const created = await cli.post('/api/sessions', { id, projectId: project.id, taskIds: [task.id], name: 'from cli', strategy: 'simple' });
    assert.equal(created.status, 201);
    assert.equal(created.body.id, id);
    assert.equal(created.body.strategy, 'simple');
    assert.deepEqual((await cli.get(`/api/tasks/${task.id}`)).body.sessionIds, [id]);
    const patched = await cli.patch(`/api/sessions/${id}`, { status: 'running', strategy: 'queue', updateSource: 'session' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.strategy, 'queue');
    assert.ok(!('updateSource' in patched.body));
    assert.equal((await cli.get(`/api/sessions/${id}`)).body.id, id);
    assert.equal((await cli.delete(`/api/sessions/${id}`)).status, 200);
  });

  it('the legacy taskId on session create works', async () => {
    const task = await newTask();
    const res = await cli.post('/api/sessions', { projectId: project.id, taskId: task.id });
    assert.equal(res.status, 201);
    assert.deepEqual(res.body.taskIds, [task.id]);
  });

  it('the CLI timeline types are accepted on tasks and sessions', async () => {
    const task = await newTask();
    const s = (await api.post('/api/sessions', { projectId: project.id, taskIds: [task.id] })).body;
    for (const type of ['task_status_changed', 'update', 'progress', 'milestone', 'blocker', 'needs_input', 'task_completed', 'task_blocked', 'error']) {
      const onTask = await cli.post(`/api/tasks/${task.id}/timeline`, { type, message: `${type} on task`, sessionId: s.id });
      assert.equal(onTask.status, 201, type);
      assert.deepEqual(
        [onTask.body.timeline.at(-1).type, onTask.body.timeline.at(-1).message, onTask.body.timeline.at(-1).sessionId],
        [type, `${type} on task`, s.id],
      );
      const onSession = await cli.post(`/api/sessions/${s.id}/timeline`, { type, message: `${type} on session`, taskId: task.id });
      assert.equal(onSession.status, 201, type);
      assert.equal(onSession.body.timeline.at(-1).type, type);
    }
  });

  it('spawnSource "session" with the parent in sessionId, plus extra fields', async () => {
    const task = await newTask();
    const parent = (await api.post('/api/sessions', { projectId: project.id, taskIds: [task.id] })).body;
    const res = await cli.post('/api/sessions/spawn', {
      projectId: project.id, taskIds: [task.id], role: 'worker', skills: ['git-flow'], spawnSource: 'session',
      sessionId: parent.id, strategy: 'simple', context: { reason: 'delegate' },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const m = res.body.session.metadata;
    assert.equal(m.spawnSource, 'session');
    assert.equal(m.spawnedBy, parent.id);
    assert.equal(m.spawnReason, 'delegate');
    assert.notEqual(res.body.sessionId, parent.id);
    assert.ok(!('strategy' in m));
    assert.deepEqual([res.body.session.strategy, res.body.session.spawnSource, res.body.session.spawnedBy], ['simple', 'session', parent.id]);
    assert.equal(res.body.session.status, 'spawning');
    // Then the CLI inside the new terminal moves it to running.
    const running = await cli.patch(`/api/sessions/${res.body.sessionId}`, { status: 'running' });
    assert.equal(running.status, 200);
    assert.equal(running.body.status, 'running');
  });

  it('every 2xx answer is JSON with Content-Type: application/json', async () => {
    const checked: string[] = [];
    const call = async (method: 'get' | 'post' | 'patch' | 'put' | 'delete', path: string, body?: unknown) => {
      const res = await cli[method](path, body);
      assert.ok(res.status >= 200 && res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
      assertJson(res, `${method} ${path}`);
      checked.push(`${method} ${path}`);
      return res.body;
    };
    const p = await call('post', '/api/projects', { name: 'json' });
    await call('get', `/api/projects/${p.id}`);
    await call('put', `/api/projects/${p.id}`, { description: 'd' });
    await call('patch', `/api/projects/${p.id}`, { description: 'e' });
    const t = await call('post', '/api/tasks', { projectId: p.id, title: 't' });
    await call('get', `/api/tasks?projectId=${p.id}`);
    await call('patch', `/api/tasks/${t.id}`, { priority: 'high' });
    await call('get', `/api/tasks/${t.id}/children`);
    await call('post', `/api/tasks/${t.id}/timeline`, { message: 'm' });
    const sub = await call('post', `/api/tasks/${t.id}/subtasks`, { title: 'st' });
    await call('get', `/api/tasks/${t.id}/subtasks`);
    await call('patch', `/api/tasks/${t.id}/subtasks/${sub.id}`, { completed: true });
    await call('delete', `/api/tasks/${t.id}/subtasks/${sub.id}`);
    const s = await call('post', '/api/sessions', { projectId: p.id });
    await call('get', `/api/sessions?projectId=${p.id}&active=true`);
    await call('patch', `/api/sessions/${s.id}`, { status: 'needs_input' });
    await call('post', `/api/sessions/${s.id}/events`, { type: 'e' });
    await call('post', `/api/sessions/${s.id}/timeline`, { message: 'm' });
    await call('post', `/api/sessions/${s.id}/tasks/${t.id}`);
    await call('delete', `/api/sessions/${s.id}/tasks/${t.id}`);
    const spawned = await call('post', '/api/sessions/spawn', { projectId: p.id, taskIds: [t.id] });
    await call('delete', `/api/sessions/${spawned.sessionId}`);
    await call('delete', `/api/sessions/${s.id}`);
    await call('get', '/api/skills');
    await call('get', '/api/skills/git-flow');
    await call('get', '/api/skills/prompt?role=worker&skills=deploy');
    await call('delete', `/api/tasks/${t.id}`);
    await call('delete', `/api/projects/${p.id}`);
    await call('get', '/health');
    assert.equal(checked.length, 29);
  });
});
