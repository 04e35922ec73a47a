/**
 * SPEC §1 (Session, SessionEvent) and §2 (the /api/sessions rows and the general
 * rules): defaults, client ids, filters, status and completedAt, metadata/env/events,
 * timelines, deletion, If-Match, no-op PATCH, not-found codes.
 */
import assert from 'node:assert/strict';
import { hostname, platform } from 'node:os';
import { before, beforeEach, describe, it } from 'node:test';
import { type Api, assertError, EventLog, sleep, useApiServer } from '../helpers.ts';

const ENDED = ['completed', 'failed', 'stopped'];
/** Active statuses; `idle` and `working` are the original UI's words (SPEC §1). */
const ACTIVE = ['spawning', 'idle', 'working', 'running', 'needs_input'];

describe('§1/§2 sessions', () => {
  let api: Api;
  let events: EventLog;
  let project: any;
  let otherProject: any;
  useApiServer(['app', 'other'], (f) => ({ api, events, projects: [project, otherProject] } = f));
  beforeEach(() => events.clear());

  const newTask = async (projectId = project.id, title = 'a task') =>
    (await api.post('/api/tasks', { projectId, title })).body;
  const newSession = async (fields: Record<string, unknown> = {}) => {
    const res = await api.post('/api/sessions', { projectId: project.id, ...fields });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };
  const getSession = async (id: string) => (await api.get(`/api/sessions/${id}`)).body;
  const getTask = async (id: string) => (await api.get(`/api/tasks/${id}`)).body;
  /** Lets the clock move so that a new timestamp is strictly later (not a timing assertion). */
  const tick = () => sleep(3);
  describe('POST /api/sessions', () => {
    it('creates a session with every default', async () => {
      const before = Date.now();
      const res = await api.post('/api/sessions', { projectId: project.id });
      const afterCreate = Date.now();
      assert.equal(res.status, 201);
      assert.equal(res.headers.etag, '"1"');
      const s = res.body;
      assert.match(s.id, /^sess_\d+_[a-z0-9]+$/);
      assert.deepEqual({ ...s, id: undefined, name: undefined, startedAt: undefined, lastActivity: undefined }, {
        id: undefined, name: undefined, startedAt: undefined, lastActivity: undefined,
        projectId: project.id, taskIds: [], agentId: null, status: 'running', strategy: 'simple', role: null, spawnSource: null,
        spawnedBy: null, model: null, queue: null, env: {}, events: [], timeline: [],
        metadata: {}, completedAt: null, hostname: hostname(), platform: platform(), version: 1,
      });
      assert.ok(Number.isInteger(s.startedAt) && s.startedAt >= before && s.startedAt <= afterCreate);
      assert.equal(s.lastActivity, s.startedAt);
      assert.deepEqual(events.types(), ['session:created']);
      assert.deepEqual(events.events[0].data, s);
      assert.deepEqual(await getSession(s.id), s);
    });

    it('derives the default name from the id', async () => {
      const s = await newSession();
      assert.match(s.name, /^Session \S+$/);
      const short = s.name.slice('Session '.length);
      assert.ok(s.id.includes(short), `${s.name} is derived from ${s.id}`);
    });

    it('takes name, agentId, status, env and metadata as given', async () => {
      const s = await newSession({
        name: 'Refactor', agentId: 'claude', status: 'needs_input', env: { A: '1' }, metadata: { a: { b: [1, 2] } },
      });
      assert.equal(s.name, 'Refactor');
      assert.equal(s.agentId, 'claude');
      assert.equal(s.status, 'needs_input');
      assert.deepEqual(s.env, { A: '1' });
      assert.deepEqual(s.metadata, { a: { b: [1, 2] } });
      assert.equal(s.completedAt, null);
    });

    it('a session created ended has completedAt set', async () => {
      const s = await newSession({ status: 'completed' });
      assert.ok(Number.isInteger(s.completedAt));
    });

    it('accepts a valid client-supplied id', async () => {
      for (const id of ['my-session_01', 'x'.repeat(128), 'A']) {
        const s = await newSession({ id });
        assert.equal(s.id, id);
        assert.equal((await api.get(`/api/sessions/${id}`)).status, 200);
      }
    });

    it('refuses an id that is not [A-Za-z0-9_-]{1,128} with 400', async () => {
      for (const id of ['../x', 'a b', 'x'.repeat(129), '', 'a/b', 'a.b', 42]) {
        const res = await api.post('/api/sessions', { projectId: project.id, id });
        assertError(res, 400, 'VALIDATION_ERROR');
      }
      assert.deepEqual(events.types(), []);
    });

    it('refuses a duplicate id with 400 and leaves the first session alone', async () => {
      const first = await newSession({ id: 'dup-session', name: 'first' });
      events.clear();
      const res = await api.post('/api/sessions', { projectId: project.id, id: 'dup-session', name: 'second' });
      assertError(res, 400, 'VALIDATION_ERROR');
      assert.deepEqual(await getSession('dup-session'), first);
      assert.deepEqual(events.types(), []);
    });

    it('links taskIds, and the legacy single taskId', async () => {
      const t1 = await newTask();
      const t2 = await newTask();
      const a = await newSession({ taskIds: [t1.id, t2.id] });
      assert.deepEqual(a.taskIds, [t1.id, t2.id]);
      const b = await newSession({ taskId: t1.id });
      assert.deepEqual(b.taskIds, [t1.id]);
      assert.deepEqual((await getTask(t1.id)).sessionIds, [a.id, b.id]);
      assert.deepEqual((await getTask(t2.id)).sessionIds, [a.id]);
    });

    it('needs a projectId (400), an existing project (404) and existing tasks (404)', async () => {
      assertError(await api.post('/api/sessions', {}), 400, 'VALIDATION_ERROR');
      assertError(await api.post('/api/sessions', { projectId: 'proj_nope' }), 404, 'PROJECT_NOT_FOUND');
      assertError(await api.post('/api/sessions', { projectId: project.id, taskIds: ['task_nope'] }), 404, 'TASK_NOT_FOUND');
      assertError(await api.post('/api/sessions', { projectId: project.id, taskId: 'task_nope' }), 404, 'TASK_NOT_FOUND');
      assertError(await api.post('/api/sessions'), 400, 'VALIDATION_ERROR');
      assert.deepEqual(events.types(), []);
    });

    it('refuses a bad status, env or metadata with 400', async () => {
      for (const bad of [{ status: 'done' }, { env: { A: 1 } }, { env: ['A'] }, { metadata: [1] }, { metadata: 'x' }, { name: '' }]) {
        assertError(await api.post('/api/sessions', { projectId: project.id, ...bad }), 400, 'VALIDATION_ERROR');
      }
    });
  });

  describe('GET /api/sessions filters', () => {
    let p: any;
    let q: any;
    let ta: any;
    let tb: any;
    const byStatus: Record<string, string> = {};
    const ids = (list: any[]) => list.map((s) => s.id).sort();
    const list = async (query: string) => {
      const res = await api.get(`/api/sessions${query}`);
      assert.equal(res.status, 200);
      return ids(res.body);
    };

    before(async () => {
      p = (await api.post('/api/projects', { name: 'filters' })).body;
      q = (await api.post('/api/projects', { name: 'filters-2' })).body;
      ta = await newTask(p.id);
      tb = await newTask(p.id);
      for (const status of [...ACTIVE, ...ENDED]) {
        byStatus[status] = (await newSession({ projectId: p.id, status, taskIds: status === 'running' || status === 'failed' ? [ta.id] : [tb.id] })).id;
      }
      byStatus.other = (await newSession({ projectId: q.id })).id;
    });

    it('projectId', async () => {
      assert.deepEqual(await list(`?projectId=${p.id}`), ids([...ACTIVE, ...ENDED].map((s) => ({ id: byStatus[s] }))));
      assert.deepEqual(await list(`?projectId=${q.id}`), [byStatus.other]);
      assert.deepEqual(await list('?projectId=proj_nope'), []);
    });

    it('taskId', async () => {
      assert.deepEqual(await list(`?taskId=${ta.id}`), [byStatus.running, byStatus.failed].sort());
      assert.deepEqual(await list('?taskId=task_nope'), []);
    });

    it('status, one or a comma list', async () => {
      assert.deepEqual(await list(`?projectId=${p.id}&status=failed`), [byStatus.failed]);
      assert.deepEqual(await list(`?projectId=${p.id}&status=needs_input,stopped`), [byStatus.needs_input, byStatus.stopped].sort());
    });

    it('active=true: not completed, failed or stopped', async () => {
      assert.deepEqual(await list(`?projectId=${p.id}&active=true`), ACTIVE.map((s) => byStatus[s]).sort());
      assert.deepEqual(await list(`?taskId=${tb.id}&active=true`), [byStatus.spawning, byStatus.idle, byStatus.working, byStatus.needs_input].sort());
    });

    it('no filter lists every session', async () => {
      const all = await list('');
      for (const id of Object.values(byStatus)) assert.ok(all.includes(id));
    });
  });

  describe('PATCH /api/sessions/:id', () => {
    it('status: completedAt set for completed, failed, stopped and cleared when active again', async () => {
      const s = await newSession();
      let version = s.version;
      for (const [status, ended] of [
        ['completed', true], ['running', false], ['failed', true], ['needs_input', false], ['stopped', true], ['idle', false],
        ['completed', true], ['working', false], ['stopped', true], ['running', false],
      ] as const) {
        await tick();
        const before = Date.now();
        const res = await api.patch(`/api/sessions/${s.id}`, { status });
        assert.equal(res.status, 200);
        assert.equal(res.body.status, status);
        assert.equal(res.body.version, ++version);
        assert.equal(res.headers.etag, `"${version}"`);
        if (ended) assert.ok(Number.isInteger(res.body.completedAt) && res.body.completedAt >= before, status);
        else assert.equal(res.body.completedAt, null, status);
      }
    });

    it('broadcasts session:updated with the whole session', async () => {
      const s = await newSession();
      events.clear();
      const res = await api.patch(`/api/sessions/${s.id}`, { status: 'needs_input', name: 'Waiting', agentId: 'codex' });
      assert.deepEqual(events.types(), ['session:updated']);
      assert.deepEqual(events.events[0].data, res.body);
      assert.equal(res.body.agentId, 'codex');
      assert.equal(res.body.name, 'Waiting');
      assert.deepEqual(await getSession(s.id), res.body);
    });

    it('lastActivity moves on every change', async () => {
      const s = await newSession();
      const task = await newTask();
      let last = s.lastActivity;
      const changes: [string, string, unknown][] = [
        ['patch', `/api/sessions/${s.id}`, { status: 'needs_input' }],
        ['patch', `/api/sessions/${s.id}`, { name: 'renamed' }],
        ['patch', `/api/sessions/${s.id}`, { metadata: { k: 1 } }],
        ['patch', `/api/sessions/${s.id}`, { env: { E: 'e' } }],
        ['patch', `/api/sessions/${s.id}`, { events: [{ type: 'tick' }] }],
        ['post', `/api/sessions/${s.id}/events`, { type: 'tool_use' }],
        ['post', `/api/sessions/${s.id}/timeline`, { message: 'step' }],
        ['post', `/api/sessions/${s.id}/tasks/${task.id}`, undefined],
        ['delete', `/api/sessions/${s.id}/tasks/${task.id}`, undefined],
        ['patch', `/api/sessions/${s.id}`, { taskIds: [task.id] }],
      ];
      for (const [method, path, body] of changes) {
        await tick();
        const res = await (api as any)[method](path, body);
        assert.ok(res.status < 300, `${method} ${path}: ${res.status}`);
        const now = (await getSession(s.id)).lastActivity;
        assert.ok(now > last, `lastActivity moved after ${method} ${path} ${JSON.stringify(body)}`);
        last = now;
      }
    });

    it('metadata is merged one level deep; null deletes a key', async () => {
      const s = await newSession({ metadata: { a: 1, b: { x: 1, y: 2 }, c: 'keep' } });
      const res = await api.patch(`/api/sessions/${s.id}`, { metadata: { a: null, b: { z: 3 }, d: [true] } });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.metadata, { b: { z: 3 }, c: 'keep', d: [true] });
      assert.equal(res.body.version, 2);
    });

    it('env is replaced whole', async () => {
      const s = await newSession({ env: { A: '1', B: '2' } });
      const res = await api.patch(`/api/sessions/${s.id}`, { env: { C: '3' } });
      assert.deepEqual(res.body.env, { C: '3' });
      const cleared = await api.patch(`/api/sessions/${s.id}`, { env: {} });
      assert.deepEqual(cleared.body.env, {});
    });

    it('events: [...] appends SessionEvents', async () => {
      const s = await newSession();
      const before = Date.now();
      const a = await api.patch(`/api/sessions/${s.id}`, { events: [{ type: 'started', data: { pid: 42 } }, { type: 'tick' }] });
      assert.equal(a.status, 200);
      assert.equal(a.body.events.length, 2);
      const b = await api.patch(`/api/sessions/${s.id}`, { events: [{ type: 'done', data: null }] });
      const evs = b.body.events;
      assert.deepEqual(evs.map((e: any) => e.type), ['started', 'tick', 'done']);
      assert.deepEqual(evs[0].data, { pid: 42 });
      assert.ok(!('data' in evs[1]) || evs[1].data === undefined);
      assert.equal(evs[2].data, null);
      for (const e of evs) {
        assert.match(e.id, /^evt_\d+_[a-z0-9]+$/);
        assert.ok(Number.isInteger(e.timestamp) && e.timestamp >= before);
      }
      assert.equal(new Set(evs.map((e: any) => e.id)).size, 3);
      assert.equal(b.body.version, 3);
    });

    it('refuses bad fields with 400 and changes nothing', async () => {
      const s = await newSession();
      for (const bad of [{ status: 'finished' }, { env: { A: 2 } }, { metadata: [] }, { events: [{ data: 1 }] }, { events: [{ type: '' }] }, { name: '' }, { taskIds: 'x' }]) {
        assertError(await api.patch(`/api/sessions/${s.id}`, bad), 400, 'VALIDATION_ERROR');
      }
      assertError(await api.patch(`/api/sessions/${s.id}`), 400, 'VALIDATION_ERROR');
      assert.deepEqual(await getSession(s.id), s);
    });

    it('a no-op PATCH answers 200 with the session, broadcasts nothing, keeps version and lastActivity', async () => {
      const s = await newSession({ name: 'same', env: { A: '1' }, metadata: { k: 'v' } });
      events.clear();
      await tick();
      for (const body of [{}, { name: 'same' }, { status: 'running' }, { env: { A: '1' } }, { metadata: { k: 'v' } }, { metadata: { gone: null } }, { events: [] }, { taskIds: [] }]) {
        const res = await api.patch(`/api/sessions/${s.id}`, body);
        assert.equal(res.status, 200, JSON.stringify(body));
        assert.equal(res.headers.etag, '"1"');
        assert.deepEqual(res.body, s, JSON.stringify(body));
      }
      assert.deepEqual(events.types(), []);
    });

    it('If-Match: a stale version answers 412 VERSION_CONFLICT with the current session; the right one passes', async () => {
      const s = await newSession();
      await api.patch(`/api/sessions/${s.id}`, { name: 'v2' });
      const current = await getSession(s.id);
      events.clear();
      const stale = await api.patch(`/api/sessions/${s.id}`, { name: 'lost' }, { headers: { 'if-match': '"1"' } });
      assertError(stale, 412, 'VERSION_CONFLICT');
      assert.deepEqual(stale.body.details.current, current);
      assert.deepEqual(events.types(), []);
      const ok = await api.patch(`/api/sessions/${s.id}`, { name: 'won' }, { headers: { 'if-match': '"2"' } });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.name, 'won');
      assert.equal(ok.body.version, 3);
    });

    it('If-Match on DELETE: a stale version answers 412 and deletes nothing', async () => {
      const s = await newSession();
      const res = await api.delete(`/api/sessions/${s.id}`, undefined, { headers: { 'if-match': '"7"' } });
      assertError(res, 412, 'VERSION_CONFLICT');
      assert.deepEqual(res.body.details.current, s);
      assert.equal((await api.get(`/api/sessions/${s.id}`)).status, 200);
      const ok = await api.delete(`/api/sessions/${s.id}`, undefined, { headers: { 'if-match': '"1"' } });
      assert.equal(ok.status, 200);
    });
  });

  describe('POST /api/sessions/:id/events', () => {
    it('appends {type, data} and answers 201 with the session', async () => {
      const s = await newSession();
      events.clear();
      const res = await api.post(`/api/sessions/${s.id}/events`, { type: 'tool_use', data: { tool: 'bash', ok: true } });
      assert.equal(res.status, 201);
      assert.equal(res.headers.etag, '"2"');
      assert.equal(res.body.id, s.id);
      assert.equal(res.body.version, 2);
      assert.equal(res.body.events.length, 1);
      const e = res.body.events[0];
      assert.equal(e.type, 'tool_use');
      assert.deepEqual(e.data, { tool: 'bash', ok: true });
      assert.match(e.id, /^evt_/);
      assert.ok(Number.isInteger(e.timestamp));
      assert.deepEqual(events.types(), ['session:updated']);
      assert.deepEqual(events.events[0].data, res.body);
    });

    it('type is required and non-empty (400)', async () => {
      const s = await newSession();
      for (const body of [{}, { type: '' }, { data: 1 }, { type: 3 }]) {
        assertError(await api.post(`/api/sessions/${s.id}/events`, body), 400, 'VALIDATION_ERROR');
      }
      assertError(await api.post(`/api/sessions/${s.id}/events`), 400, 'VALIDATION_ERROR');
      assert.deepEqual((await getSession(s.id)).events, []);
    });
  });

  describe('POST /api/sessions/:id/timeline', () => {
    it('appends {message} with type "progress" by default', async () => {
      const s = await newSession();
      const res = await api.post(`/api/sessions/${s.id}/timeline`, { message: 'half way' });
      assert.equal(res.status, 201);
      assert.equal(res.body.version, 2);
      const e = res.body.timeline.at(-1);
      assert.equal(e.type, 'progress');
      assert.equal(e.message, 'half way');
      assert.match(e.id, /^evt_/);
      assert.ok(Number.isInteger(e.timestamp));
    });

    it('takes any lower-case identifier as type and refuses others', async () => {
      const s = await newSession();
      const ok = await api.post(`/api/sessions/${s.id}/timeline`, { message: 'm', type: 'milestone' });
      assert.equal(ok.body.timeline.at(-1).type, 'milestone');
      for (const type of ['Milestone', '1x', 'a-b', '', 'x'.repeat(65)]) {
        assertError(await api.post(`/api/sessions/${s.id}/timeline`, { message: 'm', type }), 400, 'VALIDATION_ERROR');
      }
    });

    it('with taskId the event lands in the task timeline too, with the sessionId', async () => {
      const task = await newTask();
      const s = await newSession({ taskIds: [task.id] });
      const taskBefore = await getTask(task.id);
      events.clear();
      const res = await api.post(`/api/sessions/${s.id}/timeline`, { message: 'tests pass', type: 'milestone', taskId: task.id });
      assert.equal(res.status, 201);
      const own = res.body.timeline.at(-1);
      assert.equal(own.type, 'milestone');
      assert.equal(own.message, 'tests pass');
      assert.equal(own.taskId, task.id);
      const t = await getTask(task.id);
      assert.equal(t.timeline.length, taskBefore.timeline.length + 1);
      assert.equal(t.version, taskBefore.version + 1);
      const mirrored = t.timeline.at(-1);
      assert.equal(mirrored.type, 'milestone');
      assert.equal(mirrored.message, 'tests pass');
      assert.equal(mirrored.sessionId, s.id);
      assert.deepEqual(events.types().sort(), ['session:updated', 'task:updated']);
      assert.deepEqual(events.events.find((e) => e.type === 'task:updated')!.data, t);
      assert.deepEqual(events.events.find((e) => e.type === 'session:updated')!.data, res.body);
    });

    it('a missing task answers 404 TASK_NOT_FOUND and changes nothing', async () => {
      const s = await newSession();
      events.clear();
      assertError(await api.post(`/api/sessions/${s.id}/timeline`, { message: 'x', taskId: 'task_nope' }), 404, 'TASK_NOT_FOUND');
      assert.deepEqual(await getSession(s.id), s);
      assert.deepEqual(events.types(), []);
    });

    it('a task of another project answers 400 VALIDATION_ERROR and changes nothing', async () => {
      const foreign = await newTask(otherProject.id);
      const s = await newSession();
      events.clear();
      assertError(await api.post(`/api/sessions/${s.id}/timeline`, { message: 'x', taskId: foreign.id }), 400, 'VALIDATION_ERROR');
      assert.deepEqual(await getSession(s.id), s);
      assert.deepEqual(await getTask(foreign.id), foreign);
      assert.deepEqual(events.types(), []);
    });

    it('message is required (400)', async () => {
      const s = await newSession();
      assertError(await api.post(`/api/sessions/${s.id}/timeline`, { type: 'progress' }), 400, 'VALIDATION_ERROR');
      assertError(await api.post(`/api/sessions/${s.id}/timeline`), 400, 'VALIDATION_ERROR');
    });
  });

  describe('DELETE /api/sessions/:id', () => {
    it('answers {success:true, id}, removes the id from its tasks and appends session_ended to each', async () => {
      const t1 = await newTask();
      const t2 = await newTask();
      const s = await newSession({ taskIds: [t1.id, t2.id] });
      events.clear();
      const res = await api.delete(`/api/sessions/${s.id}`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { success: true, id: s.id });
      assertError(await api.get(`/api/sessions/${s.id}`), 404, 'SESSION_NOT_FOUND');
      for (const t of [t1, t2]) {
        const task = await getTask(t.id);
        assert.deepEqual(task.sessionIds, []);
        const last = task.timeline.at(-1);
        assert.equal(last.type, 'session_ended');
        assert.equal(last.sessionId, s.id);
      }
      assert.deepEqual(events.events.at(-1), { ...events.events.at(-1), type: 'session:deleted', data: { id: s.id } });
      assert.equal(events.types().filter((t) => t === 'task:updated').length, 2);
    });

    it('deleting twice answers 404 SESSION_NOT_FOUND', async () => {
      const s = await newSession();
      assert.equal((await api.delete(`/api/sessions/${s.id}`)).status, 200);
      assertError(await api.delete(`/api/sessions/${s.id}`), 404, 'SESSION_NOT_FOUND');
    });
  });

  describe('SESSION_NOT_FOUND', () => {
    it('every /api/sessions/:id route answers 404 SESSION_NOT_FOUND for an unknown id', async () => {
      const task = await newTask();
      const calls = [
        api.get('/api/sessions/sess_nope'),
        api.patch('/api/sessions/sess_nope', { name: 'x' }),
        api.delete('/api/sessions/sess_nope'),
        api.post('/api/sessions/sess_nope/events', { type: 'x' }),
        api.post('/api/sessions/sess_nope/timeline', { message: 'x' }),
        api.post(`/api/sessions/sess_nope/tasks/${task.id}`),
        api.delete(`/api/sessions/sess_nope/tasks/${task.id}`),
      ];
      for (const res of await Promise.all(calls)) assertError(res, 404, 'SESSION_NOT_FOUND');
    });

    it('a path id that is not [A-Za-z0-9_-]{1,128} answers 400', async () => {
      assertError(await api.get('/api/sessions/a%20b'), 400, 'VALIDATION_ERROR');
      assertError(await api.get(`/api/sessions/${'x'.repeat(129)}`), 400, 'VALIDATION_ERROR');
    });
  });

  describe('projects', () => {
    it('a project with sessions cannot be deleted (PROJECT_HAS_DEPENDENCIES)', async () => {
      const s = await newSession({ projectId: otherProject.id });
      assertError(await api.delete(`/api/projects/${otherProject.id}`), 400, 'PROJECT_HAS_DEPENDENCIES');
      await api.delete(`/api/sessions/${s.id}`);
    });
  });
});
