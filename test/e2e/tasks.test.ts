/**
 * SPEC §1 (Task, TimelineEvent) and §2 (tasks rows): defaults, filters, status
 * timestamps, timeline, children, delete, references (404 vs 400), If-Match/ETag,
 * versions, unknown fields.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { type Api, assertError, EventLog, sleep, type TestServer, useApiServer } from '../helpers.ts';

const TASK_KEYS = [
  'agentIds', 'claimedAt', 'claimedBy', 'completedAt', 'createdAt', 'dependencies', 'description', 'id', 'initialPrompt', 'parentId', 'priority',
  'projectId', 'sessionIds', 'sessionStatus', 'skillIds', 'startedAt', 'status', 'subtasks', 'timeline', 'title', 'updatedAt',
  'version',
];

async function eventTypes(log: EventLog) {
  await new Promise((r) => setImmediate(r));
  return log.types();
}

describe('§2 tasks', () => {
  let server: TestServer;
  let api: Api;
  let events: EventLog;
  let project: any;
  let otherProject: any;
  useApiServer(['tasks', 'other'], (f) => ({ server, api, events, projects: [project, otherProject] } = f));

  const createTask = async (body: object = {}) => {
    const res = await api.post('/api/tasks', { projectId: project.id, title: 'a task', ...body });
    assert.equal(res.status, 201, res.text);
    return res.body;
  };
  const patch = async (id: string, body: object, headers: Record<string, string> = {}) => {
    const res = await api.patch(`/api/tasks/${id}`, body, { headers });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.etag, `"${res.body.version}"`);
    return res.body;
  };
  const get = async (id: string) => (await api.get(`/api/tasks/${id}`)).body;
  const ids = (list: any[]) => list.map((t) => t.id).sort();
  const list = async (query: string) => {
    const res = await api.get(`/api/tasks?${query}`);
    assert.equal(res.status, 200, res.text);
    return ids(res.body);
  };

  it('POST creates a task with every default, one created event and ETag "1"', async () => {
    const res = await api.post('/api/tasks', { projectId: project.id, title: 'first' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.etag, '"1"');
    const t = res.body;
    assert.deepEqual(Object.keys(t).sort(), TASK_KEYS);
    assert.match(t.id, /^task_\d+_[a-z0-9]+$/);
    assert.equal(t.projectId, project.id);
    assert.equal(t.parentId, null);
    assert.equal(t.title, 'first');
    assert.equal(t.description, '');
    assert.equal(t.initialPrompt, '');
    assert.equal(t.status, 'todo');
    assert.equal(t.sessionStatus, null);
    assert.equal(t.priority, 'medium');
    for (const k of ['sessionIds', 'skillIds', 'agentIds', 'dependencies', 'subtasks']) assert.deepEqual(t[k], [], k);
    assert.equal(t.timeline.length, 1);
    assert.equal(t.timeline[0].type, 'created');
    assert.match(t.timeline[0].id, /^evt_\d+_[a-z0-9]+$/);
    assert.ok(Number.isInteger(t.timeline[0].timestamp));
    assert.equal(t.startedAt, null);
    assert.equal(t.completedAt, null);
    assert.equal(t.version, 1);
    assert.ok(Number.isInteger(t.createdAt));
    assert.equal(t.updatedAt, t.createdAt);
  });

  it('POST stores the optional fields as given', async () => {
    const dep = await createTask({ title: 'dep' });
    const t = await createTask({
      title: 'full', description: 'd', priority: 'high', initialPrompt: 'go', dependencies: [dep.id],
      skillIds: ['maestro-worker'], agentIds: ['claude'],
    });
    assert.equal(t.description, 'd');
    assert.equal(t.priority, 'high');
    assert.equal(t.initialPrompt, 'go');
    assert.deepEqual(t.dependencies, [dep.id]);
    assert.deepEqual(t.skillIds, ['maestro-worker']);
    assert.deepEqual(t.agentIds, ['claude']);
    assert.deepEqual(await get(t.id), t);
  });

  it('PATCH removes duplicate skillIds, agentIds and dependencies like POST, keeping first-seen order', async () => {
    const dep = await createTask({ title: 'dep' });
    const created = await createTask({ skillIds: ['a', 'b', 'a'], agentIds: ['x', 'x'], dependencies: [dep.id, dep.id] });
    assert.deepEqual([created.skillIds, created.agentIds, created.dependencies], [['a', 'b'], ['x'], [dep.id]]);
    const t = await patch(created.id, { skillIds: ['c', 'b', 'c', 'b'], agentIds: ['y', 'x', 'y'], dependencies: [dep.id, dep.id] });
    assert.deepEqual([t.skillIds, t.agentIds, t.dependencies], [['c', 'b'], ['y', 'x'], [dep.id]]);
    assert.deepEqual(await get(t.id), t);
    const same = await patch(t.id, { skillIds: ['c', 'c', 'b'], agentIds: ['y', 'x', 'x'] });
    assert.equal(same.version, t.version, 'the same set with duplicates is no change');
  });

  it('POST refuses a missing or empty title, a bad status or priority with 400 VALIDATION_ERROR', async () => {
    assertError(await api.post('/api/tasks', { projectId: project.id }), 400, 'VALIDATION_ERROR');
    assertError(await api.post('/api/tasks', { projectId: project.id, title: '' }), 400, 'VALIDATION_ERROR');
    assertError(await api.post('/api/tasks', { projectId: project.id, title: 5 }), 400, 'VALIDATION_ERROR');
    assertError(await api.post('/api/tasks', { projectId: project.id, title: 't', priority: 'urgent' }), 400, 'VALIDATION_ERROR');
    assertError(await api.post('/api/tasks', { projectId: project.id, title: 't', status: 'done' }), 400, 'VALIDATION_ERROR');
    assertError(await api.post('/api/tasks', { projectId: project.id, title: 't', dependencies: 'x' }), 400, 'VALIDATION_ERROR');
    assertError(await api.post('/api/tasks', { title: 't' }), 400, 'VALIDATION_ERROR');
  });

  it('status "pending" in a body is taken as "todo", the stored status (SPEC §1)', async () => {
    const t = await createTask({ status: 'pending' });
    assert.equal(t.status, 'todo');
    const started = await patch(t.id, { status: 'in_progress' });
    const back = await patch(t.id, { status: 'pending' });
    assert.equal(back.status, 'todo');
    assert.equal(back.version, started.version + 1);
    assert.equal(back.timeline.at(-1).message, 'Status changed from in_progress to todo');
    assertError(await api.patch(`/api/tasks/${t.id}`, { status: 'done' }), 400, 'VALIDATION_ERROR');
  });

  it('PATCH of status "pending" on a todo task is a no-op', async () => {
    const t = await createTask();
    events.clear();
    const same = await patch(t.id, { status: 'pending' });
    assert.deepEqual(same, t);
    assert.deepEqual(await eventTypes(events), []);
  });

  it('GET /api/tasks/:id answers the task with its ETag; an unknown id answers 404 TASK_NOT_FOUND', async () => {
    const t = await createTask();
    const res = await api.get(`/api/tasks/${t.id}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.etag, '"1"');
    assert.deepEqual(res.body, t);
    assertError(await api.get('/api/tasks/task_0_missing'), 404, 'TASK_NOT_FOUND');
    assertError(await api.patch('/api/tasks/task_0_missing', { title: 'x' }), 404, 'TASK_NOT_FOUND');
    assertError(await api.delete('/api/tasks/task_0_missing'), 404, 'TASK_NOT_FOUND');
  });

  describe('filters', () => {
    let p: any;
    let root: any;
    let child: any;
    let grandchild: any;
    let done: any;
    let blocked: any;
    let elsewhere: any;
    let session: any;

    before(async () => {
      p = (await api.post('/api/projects', { name: 'filters' })).body;
      const make = async (body: object) => (await api.post('/api/tasks', { projectId: p.id, title: 'f', ...body })).body;
      root = await make({});
      child = await make({ parentId: root.id });
      grandchild = await make({ parentId: child.id });
      done = await make({});
      blocked = await make({ parentId: root.id });
      await patch(done.id, { status: 'completed' });
      await patch(blocked.id, { status: 'blocked' });
      elsewhere = (await api.post('/api/tasks', { projectId: otherProject.id, title: 'x' })).body;
      session = (await api.post('/api/sessions', { projectId: p.id, taskIds: [child.id, done.id] })).body;
    });

    it('projectId selects the tasks of one project', async () => {
      assert.deepEqual(await list(`projectId=${p.id}`), ids([root, child, grandchild, done, blocked]));
      assert.ok((await list(`projectId=${otherProject.id}`)).includes(elsewhere.id));
      assert.deepEqual(await list('projectId=proj_0_none'), []);
    });

    it('status selects one status, a comma list several, and "pending" means todo', async () => {
      assert.deepEqual(await list(`projectId=${p.id}&status=completed`), ids([done]));
      assert.deepEqual(await list(`projectId=${p.id}&status=completed,blocked`), ids([done, blocked]));
      assert.deepEqual(await list(`projectId=${p.id}&status=pending`), ids([root, child, grandchild]));
      assert.deepEqual(await list(`projectId=${p.id}&status=todo`), ids([root, child, grandchild]));
      assert.deepEqual(await list(`projectId=${p.id}&status=todo,completed`), ids([root, child, grandchild, done]));
      assert.deepEqual(await list(`projectId=${p.id}&status=pending,blocked`), ids([root, child, grandchild, blocked]));
    });

    it('an empty status (status= or status=,) is no status filter', async () => {
      const all = ids([root, child, grandchild, done, blocked]);
      assert.deepEqual(await list(`projectId=${p.id}&status=`), all);
      assert.deepEqual(await list(`projectId=${p.id}&status=,`), all);
    });

    it('parentId selects direct children; parentId=null selects root tasks', async () => {
      assert.deepEqual(await list(`parentId=${root.id}`), ids([child, blocked]));
      assert.deepEqual(await list(`parentId=${child.id}`), ids([grandchild]));
      assert.deepEqual(await list(`projectId=${p.id}&parentId=null`), ids([root, done]));
      const roots = (await api.get('/api/tasks?parentId=null')).body;
      assert.ok(roots.every((t: any) => t.parentId === null));
      assert.ok(roots.some((t: any) => t.id === elsewhere.id));
    });

    it('sessionId selects the tasks linked to a session', async () => {
      assert.deepEqual(await list(`sessionId=${session.id}`), ids([child, done]));
      assert.deepEqual(await list(`sessionId=${session.id}&status=completed`), ids([done]));
    });

    it('filters combine', async () => {
      assert.deepEqual(await list(`projectId=${p.id}&parentId=${root.id}&status=blocked`), ids([blocked]));
      assert.deepEqual(await list(`projectId=${otherProject.id}&parentId=${root.id}`), []);
    });

    it('GET /api/tasks/:id/children lists direct children; unknown id is 404', async () => {
      const res = await api.get(`/api/tasks/${root.id}/children`);
      assert.equal(res.status, 200);
      assert.deepEqual(ids(res.body), ids([child, blocked]));
      assert.deepEqual((await api.get(`/api/tasks/${grandchild.id}/children`)).body, []);
      assertError(await api.get('/api/tasks/task_0_missing/children'), 404, 'TASK_NOT_FOUND');
    });
  });

  describe('status changes', () => {
    it('in_progress sets startedAt the first time and keeps it afterwards', async () => {
      const t = await createTask();
      await sleep(2);
      const started = await patch(t.id, { status: 'in_progress' });
      assert.ok(Number.isInteger(started.startedAt));
      assert.ok(started.startedAt >= t.createdAt);
      assert.equal(started.completedAt, null);
      await sleep(2);
      const blocked = await patch(t.id, { status: 'blocked' });
      assert.equal(blocked.startedAt, started.startedAt);
      await sleep(2);
      const again = await patch(t.id, { status: 'in_progress' });
      assert.equal(again.startedAt, started.startedAt);
    });

    it('completed sets completedAt; leaving completed clears it', async () => {
      const t = await createTask();
      const done = await patch(t.id, { status: 'completed' });
      assert.ok(Number.isInteger(done.completedAt));
      assert.equal(done.startedAt, null);
      const reopened = await patch(t.id, { status: 'in_progress' });
      assert.equal(reopened.completedAt, null);
      assert.ok(Number.isInteger(reopened.startedAt));
      const cancelled = await patch(t.id, { status: 'cancelled' });
      assert.equal(cancelled.completedAt, null);
    });

    it('a status change appends one status_changed event and broadcasts task:updated', async () => {
      const t = await createTask();
      events.clear();
      const next = await patch(t.id, { status: 'in_progress' });
      assert.equal(next.timeline.length, 2);
      assert.deepEqual(next.timeline[0], t.timeline[0]);
      const ev = next.timeline[1];
      assert.equal(ev.type, 'status_changed');
      assert.match(ev.id, /^evt_/);
      assert.ok(Number.isInteger(ev.timestamp));
      assert.deepEqual(await eventTypes(events), ['task:updated']);
      assert.deepEqual(events.events[0].data, next);
    });

    it('a change of other fields adds no status_changed event', async () => {
      const t = await createTask();
      const next = await patch(t.id, { title: 'renamed', priority: 'low', description: 'x' });
      assert.equal(next.timeline.length, 1);
      assert.equal(next.version, 2);
      assert.equal(next.title, 'renamed');
      assert.equal(next.priority, 'low');
    });
  });

  describe('timeline', () => {
    it('PATCH with timeline: [...] appends every entry once (default type "update")', async () => {
      const t = await createTask();
      const next = await patch(t.id, { timeline: [{ type: 'progress', message: 'half' }, { message: 'note' }] });
      assert.equal(next.version, 2);
      assert.equal(next.timeline.length, 3);
      assert.equal(next.timeline[1].type, 'progress');
      assert.equal(next.timeline[1].message, 'half');
      assert.equal(next.timeline[2].type, 'update');
      assert.equal(next.timeline[2].message, 'note');
      for (const ev of next.timeline.slice(1)) {
        assert.match(ev.id, /^evt_/);
        assert.ok(Number.isInteger(ev.timestamp));
      }
    });

    it('PATCH with a status change and timeline appends both in one version', async () => {
      const t = await createTask();
      const next = await patch(t.id, { status: 'blocked', timeline: [{ type: 'blocker', message: 'waiting' }] });
      assert.equal(next.version, 2);
      assert.deepEqual(next.timeline.map((e: any) => e.type), ['created', 'status_changed', 'blocker']);
    });

    it('POST /:id/timeline appends {message, type="update"} and answers 201 with the task', async () => {
      const t = await createTask();
      events.clear();
      const res = await api.post(`/api/tasks/${t.id}/timeline`, { message: 'hello' });
      assert.equal(res.status, 201);
      assert.equal(res.headers.etag, '"2"');
      assert.equal(res.body.id, t.id);
      assert.equal(res.body.version, 2);
      const ev = res.body.timeline.at(-1);
      assert.equal(ev.type, 'update');
      assert.equal(ev.message, 'hello');
      assert.deepEqual(await eventTypes(events), ['task:updated']);
      const typed = await api.post(`/api/tasks/${t.id}/timeline`, { message: 'm', type: 'milestone' });
      assert.equal(typed.status, 201);
      assert.equal(typed.body.timeline.at(-1).type, 'milestone');
      assert.equal(typed.body.timeline.length, 3);
    });

    it('POST /:id/timeline records a sessionId that exists; an unknown one is 404 SESSION_NOT_FOUND', async () => {
      const t = await createTask();
      const s = (await api.post('/api/sessions', { projectId: project.id })).body;
      const res = await api.post(`/api/tasks/${t.id}/timeline`, { message: 'by s', sessionId: s.id });
      assert.equal(res.status, 201);
      assert.equal(res.body.timeline.at(-1).sessionId, s.id);
      assertError(await api.post(`/api/tasks/${t.id}/timeline`, { message: 'x', sessionId: 'sess_0_none' }), 404, 'SESSION_NOT_FOUND');
    });

    it('POST /:id/timeline refuses a bad type or a missing message with 400 and appends nothing', async () => {
      const t = await createTask();
      for (const type of ['Update', '1abc', 'has space', '', 'a'.repeat(65), 3]) {
        assertError(await api.post(`/api/tasks/${t.id}/timeline`, { message: 'x', type }), 400, 'VALIDATION_ERROR');
      }
      assertError(await api.post(`/api/tasks/${t.id}/timeline`, { type: 'update' }), 400, 'VALIDATION_ERROR');
      assertError(await api.post(`/api/tasks/${t.id}/timeline`), 400, 'VALIDATION_ERROR');
      assertError(await api.patch(`/api/tasks/${t.id}`, { timeline: [{ type: 'BAD' }] }), 400, 'VALIDATION_ERROR');
      assert.deepEqual(await get(t.id), t);
      assertError(await api.post('/api/tasks/task_0_none/timeline', { message: 'x' }), 404, 'TASK_NOT_FOUND');
    });

    it('a lower-case identifier of 64 characters is a valid type', async () => {
      const t = await createTask();
      const type = 'a' + 'b_9'.repeat(21);
      assert.equal(type.length, 64);
      const res = await api.post(`/api/tasks/${t.id}/timeline`, { message: 'x', type });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.timeline.at(-1).type, type);
    });
  });

  describe('delete', () => {
    it('answers {success:true,id}, broadcasts task:deleted {id}, re-parents children to null', async () => {
      const parent = await createTask({ title: 'parent' });
      const kid = await createTask({ title: 'kid', parentId: parent.id });
      const grandkid = await createTask({ title: 'grandkid', parentId: kid.id });
      events.clear();
      const res = await api.delete(`/api/tasks/${parent.id}`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { success: true, id: parent.id });
      const types = await eventTypes(events);
      assert.ok(types.includes('task:deleted'));
      assert.deepEqual(events.events.find((e) => e.type === 'task:deleted')!.data, { id: parent.id });
      const kidNow = await get(kid.id);
      assert.equal(kidNow.parentId, null);
      assert.equal(kidNow.version, kid.version + 1);
      assert.deepEqual(events.events.find((e) => e.type === 'task:updated' && e.data.id === kid.id)?.data, kidNow);
      assert.equal((await get(grandkid.id)).parentId, kid.id);
      assertError(await api.get(`/api/tasks/${parent.id}`), 404, 'TASK_NOT_FOUND');
      assert.ok((await list(`projectId=${project.id}&parentId=null`)).includes(kid.id));
    });

    it('removes the id from its sessions', async () => {
      const t = await createTask();
      const keep = await createTask();
      const s = (await api.post('/api/sessions', { projectId: project.id, taskIds: [t.id, keep.id] })).body;
      assert.deepEqual(s.taskIds, [t.id, keep.id]);
      events.clear();
      assert.equal((await api.delete(`/api/tasks/${t.id}`)).status, 200);
      const sessionNow = (await api.get(`/api/sessions/${s.id}`)).body;
      assert.deepEqual(sessionNow.taskIds, [keep.id]);
      assert.ok(sessionNow.version > s.version);
      const updated = events.events.filter((e) => e.type === 'session:updated');
      assert.deepEqual(updated.at(-1)?.data, sessionNow);
    });

    it('removes the file of the task after a flush', async () => {
      const t = await createTask();
      await server.writer.flush();
      const file = join(server.dataDir, 'tasks', project.id, `${t.id}.json`);
      assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), t);
      assert.equal((await api.delete(`/api/tasks/${t.id}`)).status, 200);
      await server.writer.flush();
      await assert.rejects(readFile(file), { code: 'ENOENT' });
    });
  });

  describe('references: missing → 404, not allowed → 400', () => {
    it('POST with an unknown projectId answers 404 PROJECT_NOT_FOUND', async () => {
      assertError(await api.post('/api/tasks', { projectId: 'proj_0_none', title: 'x' }), 404, 'PROJECT_NOT_FOUND');
    });

    it('POST with an unknown parentId or dependency answers 404 TASK_NOT_FOUND', async () => {
      assertError(await createRaw({ parentId: 'task_0_none' }), 404, 'TASK_NOT_FOUND');
      assertError(await createRaw({ dependencies: ['task_0_none'] }), 404, 'TASK_NOT_FOUND');
    });

    it('POST with a parent of another project answers 400 VALIDATION_ERROR', async () => {
      const foreign = (await api.post('/api/tasks', { projectId: otherProject.id, title: 'foreign' })).body;
      assertError(await createRaw({ parentId: foreign.id }), 400, 'VALIDATION_ERROR');
    });

    it('PATCH with an unknown parentId or dependency answers 404 TASK_NOT_FOUND and changes nothing', async () => {
      const t = await createTask();
      assertError(await api.patch(`/api/tasks/${t.id}`, { parentId: 'task_0_none' }), 404, 'TASK_NOT_FOUND');
      assertError(await api.patch(`/api/tasks/${t.id}`, { dependencies: ['task_0_none'] }), 404, 'TASK_NOT_FOUND');
      assertError(await api.patch(`/api/tasks/${t.id}`, { sessionIds: ['sess_0_none'] }), 404, 'SESSION_NOT_FOUND');
      assert.deepEqual(await get(t.id), t);
    });

    it('PATCH making a task its own parent or its descendant\'s child answers 400 VALIDATION_ERROR', async () => {
      const a = await createTask({ title: 'a' });
      const b = await createTask({ title: 'b', parentId: a.id });
      const c = await createTask({ title: 'c', parentId: b.id });
      assertError(await api.patch(`/api/tasks/${a.id}`, { parentId: a.id }), 400, 'VALIDATION_ERROR');
      assertError(await api.patch(`/api/tasks/${a.id}`, { parentId: b.id }), 400, 'VALIDATION_ERROR');
      assertError(await api.patch(`/api/tasks/${a.id}`, { parentId: c.id }), 400, 'VALIDATION_ERROR');
      assert.equal((await get(a.id)).parentId, null);
      const moved = await patch(c.id, { parentId: a.id });
      assert.equal(moved.parentId, a.id);
      const unparented = await patch(c.id, { parentId: null });
      assert.equal(unparented.parentId, null);
    });

    it('PATCH with a parent of another project answers 400 VALIDATION_ERROR', async () => {
      const t = await createTask();
      const foreign = (await api.post('/api/tasks', { projectId: otherProject.id, title: 'foreign' })).body;
      assertError(await api.patch(`/api/tasks/${t.id}`, { parentId: foreign.id }), 400, 'VALIDATION_ERROR');
    });

    it('a dependency of another project, or on itself, answers 400 VALIDATION_ERROR', async () => {
      const t = await createTask();
      const foreign = (await api.post('/api/tasks', { projectId: otherProject.id, title: 'foreign' })).body;
      assertError(await createRaw({ dependencies: [foreign.id] }), 400, 'VALIDATION_ERROR');
      assertError(await api.patch(`/api/tasks/${t.id}`, { dependencies: [foreign.id] }), 400, 'VALIDATION_ERROR');
      assertError(await api.patch(`/api/tasks/${t.id}`, { dependencies: [t.id] }), 400, 'VALIDATION_ERROR');
    });

    it('ids in bodies that are not [A-Za-z0-9_-]{1,128} answer 400 VALIDATION_ERROR', async () => {
      assertError(await api.post('/api/tasks', { projectId: '../etc', title: 'x' }), 400, 'VALIDATION_ERROR');
      assertError(await createRaw({ parentId: 'a/b' }), 400, 'VALIDATION_ERROR');
      assertError(await createRaw({ dependencies: ['x'.repeat(129)] }), 400, 'VALIDATION_ERROR');
    });

    async function createRaw(body: object) {
      return api.post('/api/tasks', { projectId: project.id, title: 'ref', ...body });
    }
  });

  describe('versions, ETag and If-Match', () => {
    it('version grows by exactly 1 per change and the ETag follows it', async () => {
      const t = await createTask();
      const changes: object[] = [
        { title: 'v2' }, { status: 'in_progress' }, { priority: 'high' }, { timeline: [{ message: 'x' }] },
        { description: 'd', initialPrompt: 'p', skillIds: ['s'], agentIds: ['a'] },
      ];
      let version = 1;
      for (const change of changes) {
        const next = await patch(t.id, change);
        version++;
        assert.equal(next.version, version, JSON.stringify(change));
        const res = await api.get(`/api/tasks/${t.id}`);
        assert.equal(res.headers.etag, `"${version}"`);
      }
      const timeline = await api.post(`/api/tasks/${t.id}/timeline`, { message: 'm' });
      assert.equal(timeline.body.version, version + 1);
      assert.equal(timeline.headers.etag, `"${version + 1}"`);
    });

    it('PATCH of {} or of the current values answers 200, keeps version and updatedAt and broadcasts nothing', async () => {
      const t = await createTask({ priority: 'low', skillIds: ['a', 'b'] });
      await sleep(2);
      events.clear();
      for (const body of [{}, { priority: 'low' }, { skillIds: ['a', 'b'], title: t.title, parentId: null }, { timeline: [] }, { nope: 1 }]) {
        const same = await patch(t.id, body);
        assert.deepEqual(same, t, JSON.stringify(body));
      }
      assert.deepEqual(await eventTypes(events), []);
    });

    it('If-Match with the current version passes', async () => {
      const t = await createTask();
      const next = await patch(t.id, { title: 'ok' }, { 'if-match': '"1"' });
      assert.equal(next.version, 2);
      const del = await api.delete(`/api/tasks/${t.id}`, undefined, { headers: { 'if-match': '"2"' } });
      assert.equal(del.status, 200);
    });

    it('If-Match with another version answers 412 VERSION_CONFLICT with the current task and changes nothing', async () => {
      const t = await createTask();
      const current = await patch(t.id, { title: 'moved on' });
      events.clear();
      const res = await api.patch(`/api/tasks/${t.id}`, { title: 'stale' }, { headers: { 'if-match': '"1"' } });
      assertError(res, 412, 'VERSION_CONFLICT');
      assert.deepEqual(res.body.details.current, current);
      const del = await api.delete(`/api/tasks/${t.id}`, undefined, { headers: { 'if-match': '"3"' } });
      assertError(del, 412, 'VERSION_CONFLICT');
      assert.deepEqual(del.body.details.current, current);
      assert.deepEqual(await get(t.id), current);
      assert.deepEqual(await eventTypes(events), []);
    });
  });

  describe('unknown fields', () => {
    it('are ignored on POST and PATCH and never stored (GET and the file on disk)', async () => {
      const res = await api.post('/api/tasks', {
        projectId: project.id, title: 'strict', secret: 'x', id: 'task_mine', version: 9, sessionIds: ['sess_x'],
        timeline: [], createdAt: 1, startedAt: 5, claimedBy: 'sess_x', claimedAt: 5,
      });
      assert.equal(res.status, 201);
      const t = res.body;
      assert.deepEqual(Object.keys(t).sort(), TASK_KEYS);
      assert.notEqual(t.id, 'task_mine');
      assert.equal(t.version, 1);
      assert.deepEqual(t.sessionIds, []);
      assert.equal(t.timeline.length, 1);
      assert.equal(t.startedAt, null);
      assert.deepEqual([t.claimedBy, t.claimedAt], [null, null]);
      const next = await patch(t.id, {
        title: 'strict 2', other: { deep: true }, projectId: otherProject.id, version: 50, createdAt: 2, claimedBy: 'sess_x', claimedAt: 9,
      });
      assert.deepEqual([next.claimedBy, next.claimedAt], [null, null], 'SPEC §10: claim fields change only through the claim routes');
      assert.deepEqual(Object.keys(next).sort(), TASK_KEYS);
      assert.equal(next.projectId, project.id);
      assert.equal(next.version, 2);
      assert.equal(next.createdAt, t.createdAt);
      assert.deepEqual(await get(t.id), next);
      await server.writer.flush();
      const onDisk = JSON.parse(await readFile(join(server.dataDir, 'tasks', project.id, `${t.id}.json`), 'utf8'));
      assert.deepEqual(onDisk, next);
    });

    it('a timeline entry keeps only its known fields', async () => {
      const t = await createTask();
      const next = await patch(t.id, { timeline: [{ type: 'progress', message: 'm', junk: 1 }] });
      const ev = next.timeline.at(-1);
      assert.equal(ev.junk, undefined);
      for (const key of Object.keys(ev)) assert.ok(['id', 'type', 'timestamp', 'message', 'sessionId', 'taskId'].includes(key), key);
    });
  });
});
