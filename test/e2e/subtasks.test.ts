/**
 * SPEC §1 (Subtask), §2 (subtask rows) and §3 (subtask events): CRUD, order,
 * completed/completedAt, SUBTASK_NOT_FOUND, events each followed by task:updated.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Api, assertError, EventLog, sleep, useApiServer } from '../helpers.ts';

const SUBTASK_KEYS = ['completed', 'completedAt', 'createdAt', 'description', 'id', 'order', 'status', 'taskId', 'title', 'updatedAt'];

describe('§2 subtasks', () => {
  let api: Api;
  let events: EventLog;
  let project: any;
  useApiServer(['subtasks'], (f) => ({ api, events, projects: [project] } = f));

  const newTask = async () => (await api.post('/api/tasks', { projectId: project.id, title: 'parent' })).body;
  const getTask = async (id: string) => (await api.get(`/api/tasks/${id}`)).body;
  const addSubtask = async (taskId: string, body: object) => {
    const res = await api.post(`/api/tasks/${taskId}/subtasks`, body);
    assert.equal(res.status, 201, res.text);
    return res.body;
  };
  const patchSubtask = async (taskId: string, id: string, body: object) => {
    const res = await api.patch(`/api/tasks/${taskId}/subtasks/${id}`, body);
    assert.equal(res.status, 200, res.text);
    return res.body;
  };
  const listSubtasks = async (taskId: string) => {
    const res = await api.get(`/api/tasks/${taskId}/subtasks`);
    assert.equal(res.status, 200, res.text);
    return res.body;
  };

  /** The events since `clear()`, after a tick: a subtask event then the task:updated of the whole task. */
  async function assertSubtaskEvents(type: string, data: object, taskId: string) {
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events.types(), [type, 'task:updated']);
    assert.deepEqual(events.events[0].data, data);
    const task = await getTask(taskId);
    assert.deepEqual(events.events[1].data, task);
    assert.equal(events.events[1].seq, events.events[0].seq! + 1);
  }

  it('POST creates a subtask with defaults and answers 201 with it', async () => {
    const task = await newTask();
    const sub = await addSubtask(task.id, { title: 'step one' });
    assert.deepEqual(Object.keys(sub).sort(), SUBTASK_KEYS);
    assert.match(sub.id, /^sub_\d+_[a-z0-9]+$/);
    assert.equal(sub.taskId, task.id);
    assert.equal(sub.title, 'step one');
    assert.equal(sub.description, '');
    assert.equal(sub.completed, false);
    assert.equal(sub.status, 'todo');
    assert.equal(sub.completedAt, null);
    assert.ok(Number.isInteger(sub.order));
    assert.ok(Number.isInteger(sub.createdAt));
    assert.equal(sub.updatedAt, sub.createdAt);
    const after = await getTask(task.id);
    assert.deepEqual(after.subtasks, [sub]);
    assert.equal(after.version, task.version + 1);
  });

  it('POST broadcasts subtask:created {taskId, subtask} followed by task:updated', async () => {
    const task = await newTask();
    events.clear();
    const sub = await addSubtask(task.id, { title: 'evented', description: 'd' });
    assert.equal(sub.description, 'd');
    await assertSubtaskEvents('subtask:created', { taskId: task.id, subtask: sub }, task.id);
  });

  it('new subtasks go last; GET lists them by order', async () => {
    const task = await newTask();
    const a = await addSubtask(task.id, { title: 'a' });
    const b = await addSubtask(task.id, { title: 'b' });
    const c = await addSubtask(task.id, { title: 'c' });
    assert.ok(a.order < b.order && b.order < c.order);
    assert.deepEqual((await listSubtasks(task.id)).map((s: any) => s.id), [a.id, b.id, c.id]);
    const front = await addSubtask(task.id, { title: 'front', order: -5 });
    assert.equal(front.order, -5);
    const last = await addSubtask(task.id, { title: 'last' });
    assert.ok(last.order > c.order, 'a new subtask goes after the highest order');
    assert.deepEqual((await listSubtasks(task.id)).map((s: any) => s.title), ['front', 'a', 'b', 'c', 'last']);
  });

  it('an explicit order is kept; a higher one makes the next default go after it', async () => {
    const task = await newTask();
    const far = await addSubtask(task.id, { title: 'far', order: 100 });
    assert.equal(far.order, 100);
    const next = await addSubtask(task.id, { title: 'next' });
    assert.ok(next.order > 100);
    const middle = await addSubtask(task.id, { title: 'middle', order: 50 });
    assert.deepEqual((await listSubtasks(task.id)).map((s: any) => s.id), [middle.id, far.id, next.id]);
  });

  it('PATCH of order moves a subtask in the list', async () => {
    const task = await newTask();
    const a = await addSubtask(task.id, { title: 'a' });
    const b = await addSubtask(task.id, { title: 'b' });
    const c = await addSubtask(task.id, { title: 'c' });
    const moved = await patchSubtask(task.id, c.id, { order: a.order - 1 });
    assert.equal(moved.order, a.order - 1);
    assert.deepEqual((await listSubtasks(task.id)).map((s: any) => s.id), [c.id, a.id, b.id]);
  });

  it('PATCH updates title and description and broadcasts subtask:updated then task:updated', async () => {
    const task = await newTask();
    const sub = await addSubtask(task.id, { title: 'old' });
    await sleep(2);
    events.clear();
    const next = await patchSubtask(task.id, sub.id, { title: 'new', description: 'more' });
    assert.deepEqual(next, { ...sub, title: 'new', description: 'more', updatedAt: next.updatedAt });
    assert.ok(next.updatedAt > sub.updatedAt);
    await assertSubtaskEvents('subtask:updated', { taskId: task.id, subtask: next }, task.id);
    assert.deepEqual((await getTask(task.id)).subtasks, [next]);
  });

  it('completed sets completedAt and the derived status; un-completing clears them', async () => {
    const task = await newTask();
    const sub = await addSubtask(task.id, { title: 'do it' });
    const done = await patchSubtask(task.id, sub.id, { completed: true });
    assert.equal(done.completed, true);
    assert.equal(done.status, 'completed');
    assert.ok(Number.isInteger(done.completedAt));
    assert.ok(done.completedAt >= sub.createdAt);
    assert.equal((await getTask(task.id)).subtasks[0].status, 'completed');
    const undone = await patchSubtask(task.id, sub.id, { completed: false });
    assert.equal(undone.completed, false);
    assert.equal(undone.status, 'todo');
    assert.equal(undone.completedAt, null);
  });

  it('status is derived, never set by a client', async () => {
    const task = await newTask();
    const sub = await addSubtask(task.id, { title: 'x', status: 'completed' });
    assert.equal(sub.status, 'todo');
    const same = await patchSubtask(task.id, sub.id, { status: 'completed' });
    assert.deepEqual(same, sub);
  });

  it('each change bumps the task version by exactly 1', async () => {
    const task = await newTask();
    const sub = await addSubtask(task.id, { title: 's' });
    assert.equal((await getTask(task.id)).version, 2);
    await patchSubtask(task.id, sub.id, { completed: true });
    assert.equal((await getTask(task.id)).version, 3);
    assert.equal((await api.delete(`/api/tasks/${task.id}/subtasks/${sub.id}`)).status, 200);
    const res = await api.get(`/api/tasks/${task.id}`);
    assert.equal(res.body.version, 4);
    assert.equal(res.headers.etag, '"4"');
  });

  it('PATCH of {} or of the current values answers 200 with the subtask and broadcasts nothing', async () => {
    const task = await newTask();
    const sub = await addSubtask(task.id, { title: 'same' });
    const taskNow = await getTask(task.id);
    events.clear();
    assert.deepEqual(await patchSubtask(task.id, sub.id, {}), sub);
    assert.deepEqual(await patchSubtask(task.id, sub.id, { title: 'same', completed: false, order: sub.order }), sub);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events.types(), []);
    assert.deepEqual(await getTask(task.id), taskNow);
  });

  it('DELETE answers {success:true,id} and broadcasts subtask:deleted {taskId, subtaskId} then task:updated', async () => {
    const task = await newTask();
    const a = await addSubtask(task.id, { title: 'a' });
    const b = await addSubtask(task.id, { title: 'b' });
    events.clear();
    const res = await api.delete(`/api/tasks/${task.id}/subtasks/${a.id}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { success: true, id: a.id });
    await assertSubtaskEvents('subtask:deleted', { taskId: task.id, subtaskId: a.id }, task.id);
    assert.deepEqual(await listSubtasks(task.id), [b]);
  });

  it('an unknown subtask answers 404 SUBTASK_NOT_FOUND for PATCH and DELETE', async () => {
    const task = await newTask();
    events.clear();
    assertError(await api.patch(`/api/tasks/${task.id}/subtasks/sub_0_none`, { title: 'x' }), 404, 'SUBTASK_NOT_FOUND');
    assertError(await api.delete(`/api/tasks/${task.id}/subtasks/sub_0_none`), 404, 'SUBTASK_NOT_FOUND');
    const other = await newTask();
    const sub = await addSubtask(other.id, { title: 'elsewhere' });
    events.clear();
    assertError(await api.patch(`/api/tasks/${task.id}/subtasks/${sub.id}`, { title: 'x' }), 404, 'SUBTASK_NOT_FOUND');
    assertError(await api.delete(`/api/tasks/${task.id}/subtasks/${sub.id}`), 404, 'SUBTASK_NOT_FOUND');
    assert.deepEqual(events.types(), []);
  });

  it('an unknown task answers 404 TASK_NOT_FOUND on every subtask route', async () => {
    assertError(await api.get('/api/tasks/task_0_none/subtasks'), 404, 'TASK_NOT_FOUND');
    assertError(await api.post('/api/tasks/task_0_none/subtasks', { title: 'x' }), 404, 'TASK_NOT_FOUND');
    assertError(await api.patch('/api/tasks/task_0_none/subtasks/sub_0_x', { title: 'x' }), 404, 'TASK_NOT_FOUND');
    assertError(await api.delete('/api/tasks/task_0_none/subtasks/sub_0_x'), 404, 'TASK_NOT_FOUND');
  });

  it('refuses an empty title, wrong types, a non-integer order or no body with 400 VALIDATION_ERROR', async () => {
    const task = await newTask();
    const sub = await addSubtask(task.id, { title: 'valid' });
    const base = `/api/tasks/${task.id}/subtasks`;
    assertError(await api.post(base, {}), 400, 'VALIDATION_ERROR');
    assertError(await api.post(base, { title: '' }), 400, 'VALIDATION_ERROR');
    assertError(await api.post(base, { title: 1 }), 400, 'VALIDATION_ERROR');
    assertError(await api.post(base, { title: 'x', order: 1.5 }), 400, 'VALIDATION_ERROR');
    assertError(await api.post(base, { title: 'x', order: '1' }), 400, 'VALIDATION_ERROR');
    assertError(await api.post(base), 400, 'VALIDATION_ERROR');
    assertError(await api.patch(`${base}/${sub.id}`, { completed: 'yes' }), 400, 'VALIDATION_ERROR');
    assertError(await api.patch(`${base}/${sub.id}`, { title: '' }), 400, 'VALIDATION_ERROR');
    assertError(await api.patch(`${base}/${sub.id}`), 400, 'VALIDATION_ERROR');
    assert.deepEqual(await listSubtasks(task.id), [sub]);
  });

  it('unknown fields are ignored and never stored', async () => {
    const task = await newTask();
    const sub = await addSubtask(task.id, { title: 'x', id: 'sub_mine', completed: true, taskId: 'task_other', junk: 1 });
    assert.deepEqual(Object.keys(sub).sort(), SUBTASK_KEYS);
    assert.notEqual(sub.id, 'sub_mine');
    assert.equal(sub.taskId, task.id);
    assert.equal(sub.completed, false);
    const next = await patchSubtask(task.id, sub.id, { title: 'y', junk: 2, taskId: 'task_other' });
    assert.deepEqual(Object.keys(next).sort(), SUBTASK_KEYS);
    assert.equal(next.taskId, task.id);
    assert.deepEqual((await getTask(task.id)).subtasks, [next]);
  });
});
