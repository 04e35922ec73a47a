/**
 * SPEC §4 — task ↔ session links: `task.sessionIds` has s iff `session.taskIds` has t,
 * checked against GET /api/tasks and GET /api/sessions after every operation.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Project } from '../../src/types.ts';
import { type Api, assertError, client, entities, EventLog, startTestServer, type TestServer, useApiServer, type WsMessage } from '../helpers.ts';

/** The §4 invariant over everything the server holds; no duplicate ids, no dangling ids. */
async function assertLinksConsistent(api: Api) {
  const tasks = await entities(api).list('task');
  const sessions = await entities(api).list('session');
  const taskById = new Map(tasks.map((t) => [t.id, t]));
  const sessionById = new Map(sessions.map((s) => [s.id, s]));
  for (const t of tasks) {
    assert.equal(new Set(t.sessionIds).size, t.sessionIds.length, `duplicate in task ${t.id}.sessionIds`);
    for (const sid of t.sessionIds) {
      const s = sessionById.get(sid);
      assert.ok(s, `task ${t.id} names missing session ${sid}`);
      assert.ok(s.taskIds.includes(t.id), `task ${t.id} has ${sid} but the session lacks the task`);
    }
  }
  for (const s of sessions) {
    assert.equal(new Set(s.taskIds).size, s.taskIds.length, `duplicate in session ${s.id}.taskIds`);
    for (const tid of s.taskIds) {
      const t = taskById.get(tid);
      assert.ok(t, `session ${s.id} names missing task ${tid}`);
      assert.ok(t.sessionIds.includes(s.id), `session ${s.id} has ${tid} but the task lacks the session`);
    }
  }
}

describe('§4 task ↔ session links', () => {
  let api: Api;
  let events: EventLog;
  let project: Project;
  let otherProject: Project;
  useApiServer(['app', 'other'], (f) => ({ api, events, projects: [project, otherProject] } = f));
  beforeEach(() => events.clear());

  const newTask = (projectId = project.id) => entities(api).create('task', { projectId, title: 'work' });
  const newSession = (taskIds: string[] = [], projectId = project.id) => entities(api).create('session', { projectId, taskIds });
  const getTask = (id: string) => entities(api).get('task', id);
  const getSession = (id: string) => entities(api).get('session', id);
  const linkPath = (sid: string, tid: string) => `/api/sessions/${sid}/tasks/${tid}`;
  const lastTimeline = async (taskId: string) => (await getTask(taskId)).timeline.at(-1)!;
  const find = (type: string, pred: (d: any) => boolean = () => true) =>
    events.events.filter((e: WsMessage) => e.type === type && pred(e.data));
  it('creating a session with taskIds links each, with session_started on each task', async () => {
    const t1 = await newTask();
    const t2 = await newTask();
    events.clear();
    const s = await newSession([t1.id, t2.id]);
    assert.deepEqual(s.taskIds, [t1.id, t2.id]);
    for (const t of [t1, t2]) {
      const task = await getTask(t.id);
      assert.deepEqual(task.sessionIds, [s.id]);
      assert.equal(task.version, 2);
      assert.equal(task.timeline.at(-1)!.type, 'session_started');
      assert.equal(task.timeline.at(-1)!.sessionId, s.id);
      assert.equal(find('task:session_added', (d) => d.taskId === t.id && d.sessionId === s.id).length, 1);
      assert.equal(find('session:task_added', (d) => d.taskId === t.id && d.sessionId === s.id).length, 1);
      assert.deepEqual(find('task:updated', (d) => d.id === t.id).at(-1)!.data, task);
    }
    assert.equal(events.types()[0], 'session:created');
    await assertLinksConsistent(api);
  });

  it('creating a session with a task named twice links it once', async () => {
    const t = await newTask();
    const s = await newSession([t.id, t.id]);
    assert.deepEqual(s.taskIds, [t.id]);
    assert.deepEqual((await getTask(t.id)).sessionIds, [s.id]);
    await assertLinksConsistent(api);
  });

  it('POST /api/sessions/:id/tasks/:taskId links: 200 session, events in order, session_started', async () => {
    const t = await newTask();
    const s = await newSession();
    events.clear();
    const res = await api.post(linkPath(s.id, t.id));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.taskIds, [t.id]);
    assert.equal(res.body.version, 2);
    assert.equal(res.headers.etag, '"2"');
    assert.deepEqual(res.body, await getSession(s.id));
    const task = await getTask(t.id);
    assert.deepEqual(task.sessionIds, [s.id]);
    assert.equal(task.version, t.version + 1);
    const last = task.timeline.at(-1)!;
    assert.equal(last.type, 'session_started');
    assert.equal(last.sessionId, s.id);
    assert.deepEqual(events.types(), ['session:task_added', 'task:session_added', 'task:updated', 'session:updated']);
    assert.deepEqual(events.events[0].data, { sessionId: s.id, taskId: t.id });
    assert.deepEqual(events.events[1].data, { taskId: t.id, sessionId: s.id });
    assert.deepEqual(events.events[2].data, task);
    assert.deepEqual(events.events[3].data, res.body);
    await assertLinksConsistent(api);
  });

  it('linking twice is a no-op: 200, no event, no version bump, no duplicate', async () => {
    const t = await newTask();
    const s = await newSession([t.id]);
    const taskBefore = await getTask(t.id);
    events.clear();
    const res = await api.post(linkPath(s.id, t.id));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, s);
    assert.deepEqual(await getTask(t.id), taskBefore);
    assert.deepEqual(events.types(), []);
    await assertLinksConsistent(api);
  });

  it('DELETE /api/sessions/:id/tasks/:taskId unlinks: 200 session, events in order, session_ended', async () => {
    const t = await newTask();
    const keep = await newTask();
    const s = await newSession([t.id, keep.id]);
    events.clear();
    const res = await api.delete(linkPath(s.id, t.id));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.taskIds, [keep.id]);
    assert.equal(res.body.version, s.version + 1);
    const task = await getTask(t.id);
    assert.deepEqual(task.sessionIds, []);
    const last = task.timeline.at(-1)!;
    assert.equal(last.type, 'session_ended');
    assert.equal(last.sessionId, s.id);
    assert.deepEqual(events.types(), ['session:task_removed', 'task:session_removed', 'task:updated', 'session:updated']);
    assert.deepEqual(events.events[0].data, { sessionId: s.id, taskId: t.id });
    assert.deepEqual(events.events[1].data, { taskId: t.id, sessionId: s.id });
    assert.deepEqual(events.events[2].data, task);
    assert.deepEqual(events.events[3].data, res.body);
    await assertLinksConsistent(api);
  });

  it('unlinking a pair that is not linked changes nothing', async () => {
    const t = await newTask();
    const s = await newSession();
    events.clear();
    const res = await api.delete(linkPath(s.id, t.id));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, s);
    assert.deepEqual(await getTask(t.id), t);
    assert.deepEqual(events.types(), []);
  });

  it('the link routes ignore whatever body is sent', async () => {
    const t = await newTask();
    const s = await newSession();
    const linked = await api.post(linkPath(s.id, t.id), undefined, { raw: '{not json', headers: { 'content-type': 'text/plain' } });
    assert.equal(linked.status, 200);
    assert.deepEqual(linked.body.taskIds, [t.id]);
    const unlinked = await api.delete(linkPath(s.id, t.id), undefined, { raw: '[1,2', headers: { 'content-type': 'application/json' } });
    assert.equal(unlinked.status, 200);
    assert.deepEqual(unlinked.body.taskIds, []);
    await assertLinksConsistent(api);
  });

  it('PATCH of a session taskIds is diffed into links and unlinks, with their events', async () => {
    const [a, b, c] = [await newTask(), await newTask(), await newTask()];
    const s = await newSession([a.id, b.id]);
    const bBefore = await getTask(b.id);
    events.clear();
    const res = await api.patch(`/api/sessions/${s.id}`, { taskIds: [b.id, c.id] });
    assert.equal(res.status, 200);
    assert.deepEqual([...res.body.taskIds].sort(), [b.id, c.id].sort());
    assert.ok(res.body.version > s.version);
    assert.deepEqual(res.body, await getSession(s.id));

    assert.equal((await lastTimeline(a.id)).type, 'session_ended');
    assert.equal((await lastTimeline(c.id)).type, 'session_started');
    assert.deepEqual(await getTask(b.id), bBefore, 'the task kept linked is untouched');
    assert.deepEqual(find('session:task_removed').map((e) => e.data), [{ sessionId: s.id, taskId: a.id }]);
    assert.deepEqual(find('task:session_removed').map((e) => e.data), [{ taskId: a.id, sessionId: s.id }]);
    assert.deepEqual(find('session:task_added').map((e) => e.data), [{ sessionId: s.id, taskId: c.id }]);
    assert.deepEqual(find('task:session_added').map((e) => e.data), [{ taskId: c.id, sessionId: s.id }]);
    assert.deepEqual(find('task:updated').map((e) => e.data.id).sort(), [a.id, c.id].sort());
    assert.deepEqual(find('session:updated').at(-1)!.data, res.body);
    await assertLinksConsistent(api);
  });

  it('PATCH of a session taskIds to the same set is a no-op', async () => {
    const [a, b] = [await newTask(), await newTask()];
    const s = await newSession([a.id, b.id]);
    events.clear();
    const res = await api.patch(`/api/sessions/${s.id}`, { taskIds: [b.id, a.id] });
    assert.equal(res.status, 200);
    assert.equal(res.body.version, s.version);
    assert.deepEqual(events.types(), []);
  });

  it('PATCH of a task sessionIds is diffed into links and unlinks, with their events', async () => {
    const t = await newTask();
    const [s1, s2, s3] = [await newSession([t.id]), await newSession([t.id]), await newSession()];
    const s2Before = await getSession(s2.id);
    events.clear();
    const res = await api.patch(`/api/tasks/${t.id}`, { sessionIds: [s2.id, s3.id] });
    assert.equal(res.status, 200);
    assert.deepEqual([...res.body.sessionIds].sort(), [s2.id, s3.id].sort());
    assert.deepEqual(res.body, await getTask(t.id));
    assert.deepEqual((await getSession(s1.id)).taskIds, []);
    assert.deepEqual((await getSession(s3.id)).taskIds, [t.id]);
    assert.deepEqual(await getSession(s2.id), s2Before, 'the session kept linked is untouched');
    const types = res.body.timeline.slice(-2).map((e: any) => [e.type, e.sessionId]);
    assert.deepEqual(types, [['session_ended', s1.id], ['session_started', s3.id]]);
    assert.deepEqual(find('session:task_removed').map((e) => e.data), [{ sessionId: s1.id, taskId: t.id }]);
    assert.deepEqual(find('task:session_removed').map((e) => e.data), [{ taskId: t.id, sessionId: s1.id }]);
    assert.deepEqual(find('session:task_added').map((e) => e.data), [{ sessionId: s3.id, taskId: t.id }]);
    assert.deepEqual(find('task:session_added').map((e) => e.data), [{ taskId: t.id, sessionId: s3.id }]);
    assert.deepEqual(find('session:updated').map((e) => e.data.id).sort(), [s1.id, s3.id].sort());
    assert.deepEqual(find('task:updated').at(-1)!.data, res.body);
    await assertLinksConsistent(api);
  });

  it('deleting a session unlinks all its tasks', async () => {
    const [a, b] = [await newTask(), await newTask()];
    const s = await newSession([a.id, b.id]);
    const other = await newSession([a.id]);
    events.clear();
    assert.equal((await api.delete(`/api/sessions/${s.id}`)).status, 200);
    assert.deepEqual((await getTask(a.id)).sessionIds, [other.id]);
    assert.deepEqual((await getTask(b.id)).sessionIds, []);
    for (const t of [a, b]) {
      const last = await lastTimeline(t.id);
      assert.deepEqual([last.type, last.sessionId], ['session_ended', s.id]);
      assert.equal(find('task:session_removed', (d) => d.taskId === t.id && d.sessionId === s.id).length, 1);
      assert.equal(find('session:task_removed', (d) => d.taskId === t.id && d.sessionId === s.id).length, 1);
      assert.deepEqual(find('task:updated', (d) => d.id === t.id).at(-1)!.data, await getTask(t.id));
    }
    assert.deepEqual(events.events.at(-1)!.data, { id: s.id });
    assert.equal(events.events.at(-1)!.type, 'session:deleted');
    await assertLinksConsistent(api);
  });

  it('deleting a task removes it from its sessions', async () => {
    const [a, b] = [await newTask(), await newTask()];
    const s = await newSession([a.id, b.id]);
    events.clear();
    assert.equal((await api.delete(`/api/tasks/${a.id}`)).status, 200);
    const after = await getSession(s.id);
    assert.deepEqual(after.taskIds, [b.id]);
    assert.equal(after.version, s.version + 1);
    assert.deepEqual(find('session:updated').at(-1)!.data, after);
    assert.equal(find('session:task_removed', (d) => d.taskId === a.id && d.sessionId === s.id).length, 1);
    assert.equal(find('task:session_removed', (d) => d.taskId === a.id && d.sessionId === s.id).length, 1);
    assert.deepEqual(events.events.at(-1), { ...events.events.at(-1)!, type: 'task:deleted', data: { id: a.id } });
    await assertLinksConsistent(api);
  });

  describe('refusals change nothing', () => {
    it('a task of another project → 400 VALIDATION_ERROR on every link path', async () => {
      const mine = await newTask();
      const foreign = await newTask(otherProject.id);
      const s = await newSession([mine.id]);
      const foreignSession = await newSession([], otherProject.id);
      events.clear();
      assertError(await api.post(linkPath(s.id, foreign.id)), 400, 'VALIDATION_ERROR');
      assertError(await api.post('/api/sessions', { projectId: project.id, taskIds: [mine.id, foreign.id] }), 400, 'VALIDATION_ERROR');
      assertError(await api.patch(`/api/sessions/${s.id}`, { taskIds: [foreign.id] }), 400, 'VALIDATION_ERROR');
      assertError(await api.patch(`/api/tasks/${mine.id}`, { sessionIds: [s.id, foreignSession.id] }), 400, 'VALIDATION_ERROR');
      assert.deepEqual(events.types(), []);
      assert.deepEqual(await getSession(s.id), s);
      assert.deepEqual((await getTask(foreign.id)).sessionIds, []);
      assert.deepEqual((await getTask(mine.id)).sessionIds, [s.id]);
      await assertLinksConsistent(api);
    });

    it('a missing task → 404 TASK_NOT_FOUND, a missing session → 404 SESSION_NOT_FOUND', async () => {
      const t = await newTask();
      const s = await newSession([t.id]);
      events.clear();
      assertError(await api.post(linkPath(s.id, 'task_nope')), 404, 'TASK_NOT_FOUND');
      assertError(await api.delete(linkPath(s.id, 'task_nope')), 404, 'TASK_NOT_FOUND');
      assertError(await api.post(linkPath('sess_nope', t.id)), 404, 'SESSION_NOT_FOUND');
      assertError(await api.delete(linkPath('sess_nope', t.id)), 404, 'SESSION_NOT_FOUND');
      assertError(await api.patch(`/api/sessions/${s.id}`, { taskIds: [t.id, 'task_nope'] }), 404, 'TASK_NOT_FOUND');
      assertError(await api.patch(`/api/tasks/${t.id}`, { sessionIds: [s.id, 'sess_nope'] }), 404, 'SESSION_NOT_FOUND');
      assert.deepEqual(events.types(), []);
      assert.deepEqual(await getSession(s.id), s);
      await assertLinksConsistent(api);
    });

    it('a refused PATCH applies none of its other fields either', async () => {
      const t = await newTask();
      const s = await newSession([t.id]);
      const task = await getTask(t.id);
      assertError(await api.patch(`/api/sessions/${s.id}`, { name: 'renamed', taskIds: ['task_nope'] }), 404, 'TASK_NOT_FOUND');
      assert.deepEqual(await getSession(s.id), s);
      assertError(await api.patch(`/api/tasks/${t.id}`, { title: 'renamed', sessionIds: ['sess_nope'] }), 404, 'SESSION_NOT_FOUND');
      assert.deepEqual(await getTask(t.id), task);
    });
  });
});

describe('§4/§7 links survive a restart', () => {
  let server: TestServer;
  let dataDir: string;
  before(async () => {
    server = await startTestServer();
    dataDir = server.dataDir;
  });
  after(() => server.cleanup());

  it('GET results after a restart on the same folder equal those before', async () => {
    let api = client(server.url);
    const project = (await api.post('/api/projects', { name: 'persist', workingDir: '/tmp/x' })).body;
    const tasks = [];
    for (let i = 0; i < 3; i++) tasks.push((await api.post('/api/tasks', { projectId: project.id, title: `t${i}` })).body);
    const s1 = (await api.post('/api/sessions', { projectId: project.id, taskIds: [tasks[0].id, tasks[1].id] })).body;
    const s2 = (await api.post('/api/sessions', { projectId: project.id, id: 'cli-chosen-id', taskIds: [tasks[1].id] })).body;
    await api.post(`/api/sessions/${s2.id}/tasks/${tasks[2].id}`);
    await api.delete(`/api/sessions/${s1.id}/tasks/${tasks[0].id}`);
    await api.patch(`/api/sessions/${s1.id}`, { status: 'completed', metadata: { a: 1 }, events: [{ type: 'done', data: { ok: true } }] });
    await api.post(`/api/sessions/${s2.id}/timeline`, { message: 'm', taskId: tasks[2].id });
    const s3 = (await api.post('/api/sessions', { projectId: project.id, taskIds: [tasks[0].id] })).body;
    await api.delete(`/api/sessions/${s3.id}`);
    await assertLinksConsistent(api);

    const paths = ['/api/projects', '/api/tasks', '/api/sessions', `/api/sessions/${s1.id}`, `/api/sessions/${s2.id}`,
      `/api/tasks/${tasks[1].id}`, `/api/sessions?taskId=${tasks[1].id}`, `/api/tasks?sessionId=${s2.id}`];
    const byId = (body: any) => (Array.isArray(body) ? [...body].sort((x, y) => (x.id < y.id ? -1 : 1)) : body);
    const snapshot = async () => Promise.all(paths.map(async (p) => byId((await api.get(p)).body)));
    const before = await snapshot();

    await server.stop();
    server = await startTestServer({ DATA_DIR: dataDir });
    api = client(server.url);
    const after = await snapshot();
    paths.forEach((p, i) => assert.deepEqual(after[i], before[i], p));
    assert.equal((await api.get(`/api/sessions/${s3.id}`)).status, 404);
    await assertLinksConsistent(api);
  });
});

describe('§3/§4 many links in one request: linear work, events proportionate', () => {
  let api: Api;
  let events: EventLog;
  let project: Project;
  useApiServer(['bulk'], (f) => ({ api, events, projects: [project] } = f));
  /** Clears the log once every event sent so far has arrived: a pong comes after them on the one socket. */
  async function settled() {
    events.clear();
    events.ws.send(JSON.stringify({ type: 'ping' }));
    await events.next((m) => m.type === 'pong');
    events.clear();
  }

  const COUNT = 300;
  const bytes = (messages: WsMessage[]) => messages.reduce((n, m) => n + JSON.stringify(m).length, 0);
  async function manyTasks(count: number) {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push((await entities(api).create('task', { projectId: project.id, title: `t${i}` })).id);
    return ids;
  }

  it('PATCH taskIds linking 300 tasks: 3 events a link, then one session:updated; the session version grows by one', async () => {
    const taskIds = await manyTasks(COUNT);
    const s = await entities(api).create('session', { projectId: project.id, taskIds: [] });
    await settled();
    const res = await api.patch(`/api/sessions/${s.id}`, { name: 'bulk', taskIds });
    assert.equal(res.status, 200);
    await events.next((m) => m.type === 'session:updated');
    assert.deepEqual(res.body.taskIds, taskIds);
    assert.equal(res.body.name, 'bulk');
    assert.equal(res.body.version, s.version + 1, 'one request, one change of the session');
    const log = events.events;
    assert.equal(log.length, 3 * COUNT + 1);
    taskIds.forEach((taskId, i) => {
      assert.deepEqual(log.slice(3 * i, 3 * i + 3).map((m) => m.type), ['session:task_added', 'task:session_added', 'task:updated']);
      assert.deepEqual(log[3 * i].data, { sessionId: s.id, taskId });
      assert.equal(log[3 * i + 2].data.id, taskId);
      assert.deepEqual(log[3 * i + 2].data.sessionIds, [s.id]);
    });
    assert.equal(log.at(-1)!.type, 'session:updated');
    assert.deepEqual(log.at(-1)!.data, res.body);
    // Linear: each link costs a task and two small events; the session is sent once.
    const perTask = bytes(log.filter((m) => m.type === 'task:updated')) / COUNT;
    assert.ok(bytes(log) < COUNT * (perTask + 400) + 2 * res.text.length, `${bytes(log)} bytes sent`);
    for (const id of taskIds.slice(0, 3)) assert.deepEqual((await entities(api).get('task', id)).sessionIds, [s.id]);
  });

  it('PATCH taskIds unlinking 300 tasks: 3 events an unlink, one session:updated', async () => {
    const taskIds = await manyTasks(COUNT);
    const s = await entities(api).create('session', { projectId: project.id, taskIds });
    await settled();
    const res = await api.patch(`/api/sessions/${s.id}`, { taskIds: taskIds.slice(0, 1) });
    assert.equal(res.status, 200);
    await events.next((m) => m.type === 'session:updated');
    assert.deepEqual(res.body.taskIds, taskIds.slice(0, 1));
    assert.equal(res.body.version, s.version + 1);
    assert.equal(events.events.length, 3 * (COUNT - 1) + 1);
    assert.deepEqual(events.types().filter((t) => t.startsWith('session:')).slice(-2), ['session:task_removed', 'session:updated']);
    const last = (await entities(api).get('task', taskIds[COUNT - 1])).timeline.at(-1)!;
    assert.deepEqual([last.type, last.sessionId], ['session_ended', s.id]);
  });

  it('PATCH sessionIds linking a task to 200 sessions: one task:updated at the end with one session_started a session', async () => {
    const [taskId] = await manyTasks(1);
    const sessionIds: string[] = [];
    for (let i = 0; i < 200; i++) sessionIds.push((await entities(api).create('session', { projectId: project.id, taskIds: [] })).id);
    await settled();
    const res = await api.patch(`/api/tasks/${taskId}`, { sessionIds });
    assert.equal(res.status, 200);
    await events.next((m) => m.type === 'task:updated');
    assert.deepEqual(res.body.sessionIds, sessionIds);
    assert.equal(res.body.version, 2);
    assert.deepEqual(res.body.timeline.slice(1).map((e: any) => [e.type, e.sessionId]), sessionIds.map((id) => ['session_started', id]));
    const log = events.events;
    assert.equal(log.length, 3 * 200 + 1);
    assert.deepEqual(log.slice(0, 3).map((m) => m.type), ['session:task_added', 'task:session_added', 'session:updated']);
    assert.deepEqual(log.filter((m) => m.type === 'task:updated').map((m) => m.data), [res.body]);
    assert.equal(log.at(-1)!.type, 'task:updated');
  });
});
