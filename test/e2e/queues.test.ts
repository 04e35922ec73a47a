/**
 * SPEC §15 session queues: every route under /api/sessions/:id/queue with the
 * answer shapes the original CLI reads, exact codes, events and task effects.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { Project, Session, Task } from '../../src/types.ts';
import { type Api, assertError, entities, EventLog, useApiServer } from '../helpers.ts';

const ITEM_KEYS = ['addedAt', 'completedAt', 'failReason', 'startedAt', 'status', 'taskId'];
/** The CLI sends this on every request, body or not. */
const CLI = { headers: { 'content-type': 'application/json' } };

describe('§15 session queues', () => {
  let api: Api;
  let events: EventLog;
  let project: Project;
  let other: Project;
  useApiServer(['queues', 'other'], (f) => ({ api, events, projects: [project, other] } = f));
  beforeEach(() => events.clear());

  const task = (title: string, projectId = project.id) => entities(api).create('task', { projectId, title });
  const getTask = (id: string) => entities(api).get('task', id);
  async function queueSession(tasks: Task[]): Promise<Session> {
    const res = await api.post('/api/sessions/spawn', { projectId: project.id, taskIds: tasks.map((t) => t.id), strategy: 'queue' });
    assert.equal(res.status, 201, res.text);
    events.clear();
    return res.body.session;
  }
  const q = (id: string, step = '') => `/api/sessions/${id}/queue${step}`;

  it('a queue session starts with its tasks queued in order, all six item keys present', async () => {
    const [a, b] = [await task('a'), await task('b')];
    const s = await queueSession([a, b]);
    const res = await api.get(q(s.id), undefined, CLI);
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body).sort(), ['queue', 'stats']);
    assert.deepEqual(res.body.queue, {
      sessionId: s.id, strategy: 'queue', ...s.queue, createdAt: s.startedAt, updatedAt: s.lastActivity,
    });
    assert.equal(res.body.queue.currentIndex, -1);
    for (const item of res.body.queue.items) {
      assert.deepEqual(Object.keys(item).sort(), ITEM_KEYS);
      assert.deepEqual([item.status, item.startedAt, item.completedAt, item.failReason], ['queued', null, null, null]);
    }
    assert.deepEqual(res.body.queue.items.map((i: any) => i.taskId), [a.id, b.id]);
    assert.deepEqual(res.body.stats, { total: 2, queued: 2, processing: 0, completed: 0, failed: 0, skipped: 0 });
    const items = await api.get(q(s.id, '/items'));
    assert.deepEqual(items.body, { items: res.body.queue.items, stats: res.body.stats });
  });

  it('top → {hasMore, item}: the next queued item, without changing anything', async () => {
    const [a, b] = [await task('a'), await task('b')];
    const s = await queueSession([a, b]);
    const res = await api.get(q(s.id, '/top'));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { hasMore: true, item: s.queue!.items[0] });
    assert.deepEqual(await events.settled(), []);
  });

  it('start → {success, item, message}: processing, currentIndex, the task working and in_progress, broadcast', async () => {
    const [a, b] = [await task('a'), await task('b')];
    const s = await queueSession([a, b]);
    const res = await api.post(q(s.id, '/start'), undefined, CLI);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), ['item', 'message', 'success']);
    assert.equal(res.body.success, true);
    assert.equal(res.body.item.taskId, a.id);
    assert.equal(res.body.item.status, 'processing');
    assert.ok(Number.isInteger(res.body.item.startedAt));
    const session = await entities(api).get('session', s.id);
    assert.equal(session.queue!.currentIndex, 0);
    assert.deepEqual(session.queue!.items[0], res.body.item);
    assert.equal(session.version, s.version + 1);
    const t = await getTask(a.id);
    assert.deepEqual([t.sessionStatus, t.status], ['working', 'in_progress']);
    const seen = await events.settled();
    assert.deepEqual(seen.map((e) => e.type), ['session:updated', 'task:updated']);
    assert.deepEqual(seen[0].data, session);
    assert.deepEqual(seen[1].data, t);
  });

  it('start while an item is processing → 400 and nothing changes', async () => {
    const s = await queueSession([await task('a'), await task('b')]);
    await api.post(q(s.id, '/start'));
    events.clear();
    assertError(await api.post(q(s.id, '/start')), 400, 'VALIDATION_ERROR');
    assert.deepEqual(await events.settled(), []);
  });

  it('start leaves a task that is not todo in its status', async () => {
    const a = await task('a');
    await entities(api).update('task', a.id, { status: 'blocked' });
    const s = await queueSession([a]);
    await api.post(q(s.id, '/start'));
    const t = await getTask(a.id);
    assert.deepEqual([t.sessionStatus, t.status], ['working', 'blocked']);
  });

  it('complete → {success, completedItem, nextItem, hasMore, message}; the task completed', async () => {
    const [a, b] = [await task('a'), await task('b')];
    const s = await queueSession([a, b]);
    await api.post(q(s.id, '/start'));
    events.clear();
    const res = await api.post(q(s.id, '/complete'), undefined, CLI);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), ['completedItem', 'hasMore', 'message', 'nextItem', 'success']);
    assert.equal(res.body.completedItem.taskId, a.id);
    assert.equal(res.body.completedItem.status, 'completed');
    assert.ok(Number.isInteger(res.body.completedItem.completedAt));
    assert.equal(res.body.nextItem.taskId, b.id);
    assert.equal(res.body.hasMore, true);
    assert.equal((await getTask(a.id)).sessionStatus, 'completed');
    assert.equal((await entities(api).get('session', s.id)).queue!.currentIndex, -1);
    assert.deepEqual((await events.settled()).map((e) => e.type), ['session:updated', 'task:updated']);
  });

  it('complete, fail and skip with nothing processing → 400 (skip of a queued item aside)', async () => {
    const s = await queueSession([await task('a')]);
    assertError(await api.post(q(s.id, '/complete')), 400, 'VALIDATION_ERROR');
    assertError(await api.post(q(s.id, '/fail'), { reason: 'x' }), 400, 'VALIDATION_ERROR');
    assert.deepEqual(await events.settled(), []);
  });

  it('fail {reason?} → {success, failedItem, nextItem, hasMore, message}; the task failed', async () => {
    const [a, b] = [await task('a'), await task('b')];
    const s = await queueSession([a, b]);
    await api.post(q(s.id, '/start'));
    const res = await api.post(q(s.id, '/fail'), { reason: 'tests do not pass' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), ['failedItem', 'hasMore', 'message', 'nextItem', 'success']);
    assert.deepEqual([res.body.failedItem.status, res.body.failedItem.failReason], ['failed', 'tests do not pass']);
    assert.equal((await getTask(a.id)).sessionStatus, 'failed');
    await api.post(q(s.id, '/start'));
    const bare = await api.post(q(s.id, '/fail'), undefined, CLI);
    assert.equal(bare.status, 200);
    assert.deepEqual([bare.body.failedItem.taskId, bare.body.failedItem.failReason, bare.body.nextItem, bare.body.hasMore], [b.id, null, null, false]);
    assertError(await api.post(q(s.id, '/fail'), { reason: 3 }), 400, 'VALIDATION_ERROR');
  });

  it('skip → {success, skippedItem, nextItem, hasMore, message}: the processing item, else the next queued one', async () => {
    const [a, b, c] = [await task('a'), await task('b'), await task('c')];
    const s = await queueSession([a, b, c]);
    const queued = await api.post(q(s.id, '/skip'), undefined, CLI);
    assert.equal(queued.status, 200, queued.text);
    assert.deepEqual(Object.keys(queued.body).sort(), ['hasMore', 'message', 'nextItem', 'skippedItem', 'success']);
    assert.deepEqual([queued.body.skippedItem.taskId, queued.body.skippedItem.status, queued.body.nextItem.taskId], [a.id, 'skipped', b.id]);
    assert.equal((await getTask(a.id)).sessionStatus, 'skipped');
    await api.post(q(s.id, '/start'));
    const processing = await api.post(q(s.id, '/skip'));
    assert.deepEqual([processing.body.skippedItem.taskId, processing.body.nextItem.taskId], [b.id, c.id]);
    await api.post(q(s.id, '/skip'));
    assertError(await api.post(q(s.id, '/skip')), 400, 'VALIDATION_ERROR');
  });

  it('with nothing left: start → 200 {success, item: null, empty: true, message}; top → {hasMore: false, item: null, message}', async () => {
    const s = await queueSession([await task('a')]);
    await api.post(q(s.id, '/start'));
    await api.post(q(s.id, '/complete'));
    events.clear();
    const start = await api.post(q(s.id, '/start'));
    assert.equal(start.status, 200);
    assert.deepEqual({ ...start.body, message: undefined }, { success: true, item: null, empty: true, message: undefined });
    assert.equal(typeof start.body.message, 'string');
    const top = await api.get(q(s.id, '/top'));
    assert.deepEqual({ ...top.body, message: undefined }, { hasMore: false, item: null, message: undefined });
    assert.equal(typeof top.body.message, 'string');
    assert.deepEqual(await events.settled(), []);
    const stats = (await api.get(q(s.id))).body.stats;
    assert.deepEqual(stats, { total: 1, queued: 0, processing: 0, completed: 1, failed: 0, skipped: 0 });
  });

  it('push {taskId} → {success, item}: appended queued, the task linked (§4)', async () => {
    const [a, b] = [await task('a'), await task('b')];
    const s = await queueSession([a]);
    const res = await api.post(q(s.id, '/push'), { taskId: b.id });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), ['item', 'success']);
    assert.deepEqual([res.body.item.taskId, res.body.item.status], [b.id, 'queued']);
    assert.deepEqual(Object.keys(res.body.item).sort(), ITEM_KEYS);
    const session = await entities(api).get('session', s.id);
    assert.deepEqual(session.taskIds, [a.id, b.id]);
    assert.deepEqual(session.queue!.items.map((i) => i.taskId), [a.id, b.id]);
    assert.deepEqual((await getTask(b.id)).sessionIds, [s.id]);
    assert.deepEqual((await events.settled()).map((e) => e.type), [
      'session:task_added', 'task:session_added', 'task:updated', 'session:updated', 'session:updated',
    ]);
  });

  it('push: unknown task → 404, a task of another project or already waiting → 400, no body → 400', async () => {
    const a = await task('a');
    const s = await queueSession([a]);
    assertError(await api.post(q(s.id, '/push'), { taskId: 'task_0_missing' }), 404, 'TASK_NOT_FOUND');
    assertError(await api.post(q(s.id, '/push'), { taskId: (await task('x', other.id)).id }), 400, 'VALIDATION_ERROR');
    assertError(await api.post(q(s.id, '/push'), { taskId: a.id }), 400, 'VALIDATION_ERROR');
    assertError(await api.post(q(s.id, '/push'), {}), 400, 'VALIDATION_ERROR');
    assertError(await api.post(q(s.id, '/push')), 400, 'VALIDATION_ERROR');
  });

  it('every route on a session that is not a queue → 400; on a missing session → 404', async () => {
    const simple = (await api.post('/api/sessions/spawn', { projectId: project.id, taskIds: [(await task('s')).id] })).body.session;
    assert.equal(simple.queue, null);
    const routes: ['get' | 'post', string, object?][] = [
      ['get', ''], ['get', '/items'], ['get', '/top'], ['post', '/start'], ['post', '/complete'], ['post', '/fail'], ['post', '/skip'],
      ['post', '/push', { taskId: (await task('p')).id }],
    ];
    for (const [method, step, body] of routes) {
      assertError(await api[method](q(simple.id, step), body), 400, 'VALIDATION_ERROR');
      assertError(await api[method](q('sess_0_missing', step), body), 404, 'SESSION_NOT_FOUND');
    }
  });

  it('a session made or patched with strategy queue gets a queue; leaving queue drops it', async () => {
    const a = await task('a');
    const created = await entities(api).create('session', { projectId: project.id, taskIds: [a.id], strategy: 'queue' });
    assert.deepEqual(created.queue!.items.map((i) => i.taskId), [a.id]);
    const plain = await entities(api).create('session', { projectId: project.id, taskIds: [a.id] });
    const patched = await entities(api).update('session', plain.id, { strategy: 'queue' });
    assert.deepEqual(patched.queue!.items.map((i) => [i.taskId, i.status]), [[a.id, 'queued']]);
    const back = await entities(api).update('session', plain.id, { strategy: 'simple' });
    assert.equal(back.queue, null);
    assertError(await api.patch(`/api/sessions/${plain.id}`, { strategy: 'fifo' }), 400, 'VALIDATION_ERROR');
  });
});
