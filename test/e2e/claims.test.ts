/**
 * SPEC §10 over real sockets: the ready queue and its order, dependency cycles,
 * claim / claim-next / release with every error code in the stated order and its
 * details, the automatic releases, heartbeats, the spawn cap, and many agents
 * racing for fewer tasks.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Session, Task } from '../../src/types.ts';
import {
  type Api, assertError, client, entities, EventLog, startTestServer, type TestServer, useApiServer,
} from '../helpers.ts';

const settle = () => new Promise((r) => setImmediate(r));

describe('§10 claims and the ready queue', () => {
  let api: Api;
  let events: EventLog;
  let projectId: string;
  let otherProjectId: string;
  useApiServer(['claims', 'other'], (f) => ({ api, events, projects: [{ id: projectId }, { id: otherProjectId }] } = f));
  beforeEach(() => events.clear());

  const task = (body: object = {}) => entities(api).create('task', { projectId, title: 't', ...body });
  const session = (body: object = {}) => entities(api).create('session', { projectId, taskIds: [], ...body });
  const getTask = (id: string) => entities(api).get('task', id);
  const getSession = (id: string) => entities(api).get('session', id);
  const claim = (taskId: string, sessionId: string) => api.post(`/api/tasks/${taskId}/claim`, { sessionId });
  const release = (taskId: string, body?: object) => api.post(`/api/tasks/${taskId}/release`, body);
  const claimNext = (body: object) => api.post('/api/tasks/claim-next', body);

  /** A fresh project, so the ready queue holds only what a test makes. */
  async function freshProject() {
    projectId = (await entities(api).create('project', { name: 'q' })).id;
    return projectId;
  }

  describe('ready', () => {
    it('lists ready tasks in claim order: priority, then oldest, then id; combinable with filters', async () => {
      await freshProject();
      const low = await task({ priority: 'low' });
      const med1 = await task();
      const high = await task({ priority: 'high' });
      const med2 = await task();
      await task({ status: 'in_progress' });
      await task({ status: 'completed' });
      await task({ status: 'blocked' });
      // Two made in one millisecond are ordered by id.
      const mediums = [med1, med2].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1)).map((t) => t.id);
      const list = await entities(api).list('task', `?ready=true&projectId=${projectId}`);
      assert.deepEqual(list.map((t) => t.id), [high.id, ...mediums, low.id]);
      const filtered = await entities(api).list('task', `?projectId=${projectId}&ready=true&status=todo&parentId=null`);
      assert.deepEqual(filtered.map((t) => t.id), [high.id, ...mediums, low.id]);
      assert.deepEqual(await entities(api).list('task', `?projectId=${projectId}&ready=true&status=in_progress`), []);
    });

    it('a dependency not completed (cancelled included) or an open child keeps a task out; claimed ones are out', async () => {
      await freshProject();
      const dep = await task();
      const waiting = await task({ dependencies: [dep.id] });
      const cancelledDep = await task({ status: 'cancelled' });
      const waitsOnCancelled = await task({ dependencies: [cancelledDep.id] });
      const parent = await task();
      const child = await task({ parentId: parent.id });
      const ready = async () => (await entities(api).list('task', `?ready=true&projectId=${projectId}`)).map((t) => t.id);
      assert.deepEqual(await ready(), [dep.id, child.id]);
      await entities(api).update('task', dep.id, { status: 'completed' });
      await entities(api).update('task', child.id, { status: 'cancelled' });
      assert.deepEqual(await ready(), [waiting.id, parent.id]);
      await entities(api).update('task', waitsOnCancelled.id, { dependencies: [] });
      assert.deepEqual(await ready(), [waiting.id, waitsOnCancelled.id, parent.id]);
      const s = await session();
      assert.equal((await claim(waiting.id, s.id)).status, 200);
      assert.deepEqual(await ready(), [waitsOnCancelled.id, parent.id]);
    });
  });

  describe('dependencies stay acyclic', () => {
    it('refuses a cycle of one, two and three tasks with 400 naming dependencies, and changes nothing', async () => {
      const a = await task();
      const b = await task({ dependencies: [a.id] });
      const c = await task({ dependencies: [b.id] });
      for (const [id, deps] of [[a.id, [a.id]], [a.id, [b.id]], [a.id, [c.id]], [b.id, [c.id, a.id]]] as const) {
        const res = await api.patch(`/api/tasks/${id}`, { dependencies: deps });
        assertError(res, 400, 'VALIDATION_ERROR');
        assert.equal(res.body.details.field, 'dependencies');
      }
      assert.deepEqual((await getTask(a.id)).dependencies, []);
      assert.equal((await getTask(a.id)).version, a.version);
      // Not a cycle: a diamond.
      const d = await task({ dependencies: [b.id, c.id] });
      assert.deepEqual((await entities(api).update('task', d.id, { dependencies: [a.id, b.id, c.id] })).dependencies, [a.id, b.id, c.id]);
    });
  });

  describe('claim', () => {
    it('claims in one step: claimedBy/claimedAt, in_progress with startedAt, a claimed event, the link and its events', async () => {
      const t = await task();
      const s = await session();
      events.clear();
      const res = await claim(t.id, s.id);
      assert.equal(res.status, 200, res.text);
      const claimed: Task = res.body;
      assert.equal(res.headers.etag, `"${claimed.version}"`);
      assert.equal(claimed.claimedBy, s.id);
      assert.equal(typeof claimed.claimedAt, 'number');
      assert.equal(claimed.status, 'in_progress');
      assert.equal(claimed.startedAt, claimed.claimedAt);
      assert.deepEqual(claimed.sessionIds, [s.id]);
      const last = claimed.timeline.at(-1)!;
      assert.deepEqual([last.type, last.sessionId], ['claimed', s.id]);
      assert.deepEqual(claimed.timeline.map((e) => e.type), ['created', 'session_started', 'status_changed', 'claimed']);
      await settle();
      assert.deepEqual(events.types(), ['session:task_added', 'task:session_added', 'task:updated', 'session:updated', 'task:updated']);
      assert.deepEqual(events.events.at(-1)!.data, claimed);
      assert.deepEqual((await getSession(s.id)).taskIds, [t.id]);
    });

    it('claiming a task the session holds is a no-op: 200, same version, no event', async () => {
      const t = await task();
      const s = await session({ taskIds: [t.id] });
      const first = (await claim(t.id, s.id)).body;
      events.clear();
      const again = await claim(t.id, s.id);
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, first);
      await settle();
      assert.deepEqual(events.types(), []);
    });

    it('a blocked task with its dependencies met is unblocked; an unclaimed in_progress task keeps its status; a parent can be claimed by name', async () => {
      const s = await session();
      const blocked = await task({ status: 'blocked' });
      assert.equal((await claim(blocked.id, s.id)).body.status, 'in_progress');
      const started = await task({ status: 'in_progress' });
      const claimed = (await claim(started.id, s.id)).body;
      assert.equal(claimed.status, 'in_progress');
      assert.equal(claimed.startedAt, started.startedAt);
      assert.ok(!claimed.timeline.some((e: { type: string }) => e.type === 'status_changed'));
      const parent = await task();
      await task({ parentId: parent.id });
      assert.equal((await claim(parent.id, s.id)).body.claimedBy, s.id);
    });

    it('checks in order: task, session, project, session ended, task closed, claimed by another, dependencies', async () => {
      const s = await session();
      const ended = await session({ status: 'completed' });
      const foreign = await entities(api).create('session', { projectId: otherProjectId, taskIds: [] });
      const dep = await task();
      const closed = await task({ status: 'completed', dependencies: [dep.id] });
      const holder = await session();
      const held = await task({ dependencies: [] });
      await claim(held.id, holder.id);
      const waiting = await task({ dependencies: [dep.id] });

      assertError(await claim('task_missing', 'sess_missing'), 404, 'TASK_NOT_FOUND');
      assertError(await api.post('/api/tasks/task_missing/claim', {}), 404, 'TASK_NOT_FOUND');
      const noSession = await claim(closed.id, 'sess_missing');
      assertError(noSession, 404, 'SESSION_NOT_FOUND');
      assert.deepEqual(noSession.body.details, { id: 'sess_missing' });
      const otherProject = await claim(closed.id, foreign.id);
      assertError(otherProject, 400, 'VALIDATION_ERROR');
      assert.equal(otherProject.body.details.field, 'sessionId');
      const endedRes = await claim(closed.id, ended.id);
      assertError(endedRes, 409, 'SESSION_ENDED');
      assert.deepEqual(endedRes.body.details, { sessionId: ended.id, status: 'completed' });
      const closedRes = await claim(closed.id, s.id);
      assertError(closedRes, 409, 'TASK_CLOSED');
      assert.deepEqual(closedRes.body.details, { status: 'completed' });
      const cancelled = await task({ status: 'cancelled' });
      assertError(await claim(cancelled.id, s.id), 409, 'TASK_CLOSED');
      const claimedRes = await claim(held.id, s.id);
      assertError(claimedRes, 409, 'TASK_CLAIMED');
      assert.deepEqual(claimedRes.body.details, { claimedBy: holder.id });
      const notReady = await claim(waiting.id, s.id);
      assertError(notReady, 409, 'TASK_NOT_READY');
      assert.deepEqual(notReady.body.details, { waitingOn: [dep.id] });
      assert.equal((await getTask(waiting.id)).version, waiting.version, 'a refused claim changes nothing');
      assertError(await api.post(`/api/tasks/${waiting.id}/claim`, {}), 400, 'VALIDATION_ERROR');
    });

    it('claimedBy and claimedAt in a PATCH body are ignored', async () => {
      const t = await task();
      const res = await api.patch(`/api/tasks/${t.id}`, { claimedBy: 'sess_x', claimedAt: 1 });
      assert.equal(res.status, 200);
      assert.deepEqual([res.body.claimedBy, res.body.claimedAt, res.body.version], [null, null, t.version]);
    });
  });

  describe('claim-next', () => {
    it('claims the first ready task in claim order, of one priority if asked', async () => {
      const pid = await freshProject();
      const s = await session();
      const low = await task({ priority: 'low' });
      const med = await task();
      const high = await task({ priority: 'high' });
      const parent = await task({ priority: 'high' });
      await task({ parentId: parent.id, priority: 'low' });
      const first = await claimNext({ projectId: pid, sessionId: s.id });
      assert.equal(first.status, 200, first.text);
      assert.equal(first.body.id, high.id);
      assert.equal(first.body.claimedBy, s.id);
      assert.equal((await claimNext({ projectId: pid, sessionId: s.id, priority: 'low' })).body.id, low.id);
      assert.equal((await claimNext({ projectId: pid, sessionId: s.id })).body.id, med.id);
      const none = await claimNext({ projectId: pid, sessionId: s.id, priority: 'high' });
      assertError(none, 404, 'NO_READY_TASK');
      assert.deepEqual(none.body.details, { projectId: pid, priority: 'high' });
    });

    it('checks in order: project, session, session in the project, session ended, then no ready task', async () => {
      const pid = await freshProject();
      const s = await session();
      const ended = await session({ status: 'failed' });
      const foreign = await entities(api).create('session', { projectId: otherProjectId, taskIds: [] });
      assertError(await claimNext({ projectId: 'proj_missing', sessionId: 'sess_missing' }), 404, 'PROJECT_NOT_FOUND');
      assertError(await claimNext({ projectId: pid, sessionId: 'sess_missing' }), 404, 'SESSION_NOT_FOUND');
      assertError(await claimNext({ projectId: pid, sessionId: foreign.id }), 400, 'VALIDATION_ERROR');
      assertError(await claimNext({ projectId: pid, sessionId: ended.id }), 409, 'SESSION_ENDED');
      const none = await claimNext({ projectId: pid, sessionId: s.id });
      assertError(none, 404, 'NO_READY_TASK');
      assert.deepEqual(none.body.details, { projectId: pid });
      assertError(await claimNext({ projectId: pid }), 400, 'VALIDATION_ERROR');
      assertError(await claimNext({ projectId: pid, sessionId: s.id, priority: 'urgent' }), 400, 'VALIDATION_ERROR');
    });
  });

  describe('release', () => {
    it('by the holder: claim cleared, back to todo, a claim_released event saying why; the link stays', async () => {
      const t = await task();
      const s = await session();
      await claim(t.id, s.id);
      events.clear();
      const res = await release(t.id, { sessionId: s.id });
      assert.equal(res.status, 200, res.text);
      const released: Task = res.body;
      assert.deepEqual([released.claimedBy, released.claimedAt, released.status], [null, null, 'todo']);
      const last = released.timeline.at(-1)!;
      assert.deepEqual([last.type, last.sessionId, last.message], ['claim_released', s.id, 'released']);
      assert.deepEqual(released.sessionIds, [s.id]);
      await settle();
      assert.deepEqual(events.types(), ['task:updated']);
    });

    it('forced by a person: message "forced"; an unclaimed task answers 200 and changes nothing', async () => {
      const t = await task();
      const s = await session();
      await claim(t.id, s.id);
      const forced = (await release(t.id, { force: true })).body;
      assert.equal(forced.claimedBy, null);
      assert.equal(forced.timeline.at(-1).message, 'forced');
      events.clear();
      const again = await release(t.id, { sessionId: s.id });
      assert.equal(again.status, 200);
      assert.equal(again.body.version, forced.version);
      await settle();
      assert.deepEqual(events.types(), []);
    });

    it('errors: unknown task 404 before the body, neither sessionId nor force 400, not the holder 409 TASK_CLAIMED', async () => {
      const t = await task();
      const s = await session();
      const other = await session();
      await claim(t.id, s.id);
      assertError(await release('task_missing', {}), 404, 'TASK_NOT_FOUND');
      assertError(await release('task_missing'), 404, 'TASK_NOT_FOUND');
      assertError(await release(t.id, {}), 400, 'VALIDATION_ERROR');
      assertError(await release(t.id), 400, 'VALIDATION_ERROR');
      assertError(await release(t.id, { force: false }), 400, 'VALIDATION_ERROR');
      for (const sessionId of [other.id, 'sess_not_there']) {
        const res = await release(t.id, { sessionId });
        assertError(res, 409, 'TASK_CLAIMED');
        assert.deepEqual(res.body.details, { claimedBy: s.id });
      }
      assert.equal((await getTask(t.id)).claimedBy, s.id);
    });
  });

  describe('automatic releases', () => {
    async function claimedPair() {
      const t = await task();
      const s = await session();
      await claim(t.id, s.id);
      return { t, s };
    }
    const lastEvent = async (taskId: string) => (await getTask(taskId)).timeline.at(-1)!;

    it('completing or cancelling the task releases it and the status stays', async () => {
      for (const status of ['completed', 'cancelled'] as const) {
        const { t, s } = await claimedPair();
        const done = await entities(api).update('task', t.id, { status });
        assert.deepEqual([done.status, done.claimedBy, done.claimedAt], [status, null, null]);
        const last = done.timeline.at(-1)!;
        assert.deepEqual([last.type, last.sessionId, last.message], ['claim_released', s.id, `task ${status}`]);
      }
    });

    it('the holder deleted, unlinked, ended or stale releases it', async () => {
      const deleted = await claimedPair();
      await entities(api).remove('session', deleted.s.id);
      assert.deepEqual([(await getTask(deleted.t.id)).claimedBy, (await lastEvent(deleted.t.id)).message], [null, 'session deleted']);

      const unlinked = await claimedPair();
      assert.equal((await api.delete(`/api/sessions/${unlinked.s.id}/tasks/${unlinked.t.id}`)).status, 200);
      const afterUnlink = await getTask(unlinked.t.id);
      assert.deepEqual([afterUnlink.claimedBy, afterUnlink.status, afterUnlink.sessionIds], [null, 'todo', []]);
      assert.equal((await lastEvent(unlinked.t.id)).message, 'session unlinked');

      const viaTask = await claimedPair();
      await entities(api).update('task', viaTask.t.id, { sessionIds: [] });
      assert.equal((await getTask(viaTask.t.id)).claimedBy, null);

      for (const status of ['completed', 'failed', 'stopped', 'stale'] as const) {
        const { t, s } = await claimedPair();
        await entities(api).update('session', s.id, { status });
        const after = await getTask(t.id);
        assert.deepEqual([after.claimedBy, after.status, after.sessionIds], [null, 'todo', [s.id]]);
        assert.equal((await lastEvent(t.id)).message, status === 'stale' ? 'session stale' : 'session ended');
      }
    });
  });

  describe('heartbeat', () => {
    it('answers {sessionId, status, leaseExpiresAt} and changes nothing: no version, no event', async () => {
      const s = await session();
      events.clear();
      const before = Date.now();
      const res = await api.post(`/api/sessions/${s.id}/heartbeat`, { ignored: true });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(Object.keys(res.body).sort(), ['leaseExpiresAt', 'sessionId', 'status']);
      assert.equal(res.body.sessionId, s.id);
      assert.equal(res.body.status, 'running');
      assert.ok(res.body.leaseExpiresAt >= before + 60_000 && res.body.leaseExpiresAt <= Date.now() + 60_000);
      assert.equal((await api.post(`/api/sessions/${s.id}/heartbeat`, undefined, { raw: 'not json' })).status, 200);
      await settle();
      assert.deepEqual(events.types(), []);
      assert.equal((await getSession(s.id)).version, s.version);
    });

    it('404 for a missing session, 409 SESSION_ENDED for an ended one; a stale one comes back to running', async () => {
      assertError(await api.post('/api/sessions/sess_missing/heartbeat'), 404, 'SESSION_NOT_FOUND');
      const ended = await session({ status: 'stopped' });
      const res = await api.post(`/api/sessions/${ended.id}/heartbeat`);
      assertError(res, 409, 'SESSION_ENDED');
      assert.deepEqual(res.body.details, { sessionId: ended.id, status: 'stopped' });
      const stale = await session({ status: 'stale' });
      events.clear();
      const revived = await api.post(`/api/sessions/${stale.id}/heartbeat`);
      assert.equal(revived.body.status, 'running');
      assert.equal((await getSession(stale.id)).status, 'running');
      await settle();
      assert.deepEqual(events.types(), ['session:updated']);
    });

    it('a claim revives a stale session to running', async () => {
      const s = await session({ status: 'stale' });
      const t = await task();
      assert.equal((await claim(t.id, s.id)).status, 200);
      assert.equal((await getSession(s.id)).status, 'running');
    });
  });

  it('stale is neither active nor ended: active=true leaves it out, completedAt stays null', async () => {
    const s = await session();
    const stale = await entities(api).update('session', s.id, { status: 'stale' });
    assert.equal(stale.completedAt, null);
    const active = await entities(api).list('session', `?projectId=${projectId}&active=true`);
    assert.ok(!active.some((x: Session) => x.id === s.id));
  });
});

describe('§10 many agents at once', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ MAX_ACTIVE_SESSIONS: '0' }); });
  after(() => server.cleanup());

  it('40 agents calling claim-next together on 12 ready tasks get 12 distinct tasks, the rest NO_READY_TASK', async () => {
    const api = client(server.url);
    const { id: projectId } = await entities(api).create('project', { name: 'race' });
    const tasks = await Promise.all(Array.from({ length: 12 }, (_, i) => entities(api).create('task', { projectId, title: `t${i}` })));
    const sessions = await Promise.all(Array.from({ length: 40 }, () => entities(api).create('session', { projectId, taskIds: [] })));
    const answers = await Promise.all(sessions.map((s) => api.post('/api/tasks/claim-next', { projectId, sessionId: s.id })));
    const won = answers.filter((r) => r.status === 200);
    assert.equal(won.length, 12);
    assert.equal(new Set(won.map((r) => r.body.id)).size, 12);
    for (const r of answers.filter((a) => a.status !== 200)) assertError(r, 404, 'NO_READY_TASK');
    for (const t of tasks) {
      const now = await entities(api).get('task', t.id);
      const winner = won.find((r) => r.body.id === t.id)!;
      assert.equal(now.claimedBy, winner.body.claimedBy);
      assert.deepEqual(now.sessionIds, [now.claimedBy]);
    }
  });

  it('40 agents claiming one task together: exactly one wins, the rest TASK_CLAIMED naming the winner', async () => {
    const api = client(server.url);
    const { id: projectId } = await entities(api).create('project', { name: 'race-one' });
    const t = await entities(api).create('task', { projectId, title: 'only' });
    const sessions = await Promise.all(Array.from({ length: 40 }, () => entities(api).create('session', { projectId, taskIds: [] })));
    const answers = await Promise.all(sessions.map((s) => api.post(`/api/tasks/${t.id}/claim`, { sessionId: s.id })));
    const won = answers.filter((r) => r.status === 200);
    assert.equal(won.length, 1);
    for (const r of answers.filter((a) => a.status !== 200)) {
      assertError(r, 409, 'TASK_CLAIMED');
      assert.deepEqual(r.body.details, { claimedBy: won[0].body.claimedBy });
    }
  });
});

describe('§10 spawn cap (MAX_ACTIVE_SESSIONS)', () => {
  let server: TestServer;
  let api: Api;
  before(async () => {
    server = await startTestServer({ MAX_ACTIVE_SESSIONS: '2' });
    api = client(server.url);
  });
  after(() => server.cleanup());

  it('429 SESSION_LIMIT with {active, limit} once the project has that many active sessions; other routes are not capped', async () => {
    const { id: projectId } = await entities(api).create('project', { name: 'cap' });
    const other = await entities(api).create('project', { name: 'cap-other' });
    const t = await entities(api).create('task', { projectId, title: 't' });
    const spawn = (pid = projectId, taskIds = [t.id]) => api.post('/api/sessions/spawn', { projectId: pid, taskIds });
    assert.equal((await spawn()).status, 201);
    await entities(api).create('session', { projectId, taskIds: [], status: 'needs_input' });
    await entities(api).create('session', { projectId, taskIds: [], status: 'stale' });
    await entities(api).create('session', { projectId, taskIds: [], status: 'completed' });
    const refused = await spawn();
    assertError(refused, 429, 'SESSION_LIMIT');
    assert.deepEqual(refused.body.details, { active: 2, limit: 2 });
    assertError(await spawn(projectId, ['task_missing']), 404, 'TASK_NOT_FOUND');
    const otherTask = await entities(api).create('task', { projectId: other.id, title: 'o' });
    assert.equal((await spawn(other.id, [otherTask.id])).status, 201, 'the cap is per project');
    assert.equal((await api.post('/api/sessions', { projectId, taskIds: [] })).status, 201, 'registering is never capped');
    const sessions = await entities(api).list('session', `?projectId=${projectId}&active=true`);
    for (const s of sessions) await entities(api).update('session', s.id, { status: 'stopped' });
    assert.equal((await spawn()).status, 201);
  });

  it('concurrent spawns never pass the cap together', async () => {
    const { id: projectId } = await entities(api).create('project', { name: 'cap-race' });
    const t = await entities(api).create('task', { projectId, title: 't' });
    const answers = await Promise.all(Array.from({ length: 10 }, () => api.post('/api/sessions/spawn', { projectId, taskIds: [t.id] })));
    assert.equal(answers.filter((r) => r.status === 201).length, 2);
    for (const r of answers.filter((a) => a.status !== 201)) assertError(r, 429, 'SESSION_LIMIT');
  });
});
