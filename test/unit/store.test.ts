/**
 * The store in-process, no sockets: the one write path (SPEC §3 versions and
 * no-ops), the events each mutation emits and their order (SPEC §4), the
 * task↔session link invariant under random operations, and the list cache.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ArchivedEntries, EntityChange } from '../../src/store/store.ts';
import { Store } from '../../src/store/store.ts';
import { link, unlink } from '../../src/store/links.ts';
import { createProject, updateProject } from '../../src/store/projects.ts';
import { addSessionEvent, addSessionTimeline, createSession, deleteSession, updateSession } from '../../src/store/sessions.ts';
import { createSubtask } from '../../src/store/subtasks.ts';
import { addTaskTimeline, createTask, deleteTask, updateTask } from '../../src/store/tasks.ts';
import type { StoreEvent } from '../../src/types.ts';

function recordingStore() {
  const store = new Store();
  const events: StoreEvent[] = [];
  const changes: EntityChange[] = [];
  store.onEvent((e) => events.push(e));
  store.onChange((c) => changes.push(c));
  const types = () => events.map((e) => e.type);
  const clear = () => { events.length = 0; changes.length = 0; };
  return { store, events, changes, types, clear };
}

function linkedPair() {
  const rec = recordingStore();
  const project = createProject(rec.store, { name: 'p' });
  const task = createTask(rec.store, { projectId: project.id, title: 't' });
  const session = createSession(rec.store, { projectId: project.id, taskIds: [] });
  rec.clear();
  return { ...rec, project, task, session };
}

describe('Store write path', () => {
  it('update bumps the version once, stamps the time, stores, marks for writing and emits <kind>:updated', () => {
    const { store, events, changes, clear } = recordingStore();
    const project = createProject(store, { name: 'a' });
    clear();
    const next = store.update('project', project, { name: 'b' }, 1234);
    assert.deepEqual(next, { ...project, name: 'b', updatedAt: 1234, version: 2 });
    assert.equal(store.get('project', project.id), next);
    assert.deepEqual(events, [{ type: 'project:updated', data: next }]);
    assert.deepEqual(changes, [{ kind: 'project', id: project.id, entity: next }]);
    assert.notEqual(project.name, 'b', 'entities are replaced, never mutated');
  });

  it('a session is stamped in lastActivity, a task in updatedAt', () => {
    const { store, project } = linkedPair();
    const session = store.get('session', [...store.sessionIdsOfProject(project.id)][0])!;
    const next = store.update('session', session, { name: 'renamed' }, 99);
    assert.equal(next.lastActivity, 99);
    assert.equal(next.startedAt, session.startedAt);
    assert.equal(next.version, session.version + 1);
  });

  it('a change to nothing new is a no-op: same object, same version, no event, no write', () => {
    const { store, events, changes, clear } = recordingStore();
    const project = createProject(store, { name: 'a', description: 'd' });
    clear();
    assert.equal(store.update('project', project, { name: 'a', description: undefined }), project);
    assert.equal(updateProject(store, project.id, { name: 'a', description: 'd' }), project);
    assert.deepEqual([events, changes], [[], []]);
  });

  it('emits the given events just before <kind>:updated (subtasks)', () => {
    const { store, task, types } = linkedPair();
    createSubtask(store, task.id, { title: 's' });
    assert.deepEqual(types(), ['subtask:created', 'task:updated']);
    assert.equal(store.get('task', task.id)!.version, task.version + 1);
  });

  it('remove drops the entity and its index entries, marks the delete and emits <kind>:deleted', () => {
    const { store, project, changes, events, clear } = linkedPair();
    const parent = createTask(store, { projectId: project.id, title: 'parent' });
    const child = createTask(store, { projectId: project.id, title: 'child', parentId: parent.id });
    assert.deepEqual([...store.childIdsOf(parent.id)], [child.id]);
    clear();
    store.remove('task', child.id);
    assert.equal(store.get('task', child.id), undefined);
    assert.deepEqual([...store.childIdsOf(parent.id)], []);
    assert.ok(!store.taskIdsOfProject(project.id).has(child.id));
    assert.deepEqual(changes, [{ kind: 'task', id: child.id, projectId: project.id, entity: null }]);
    assert.deepEqual(events, [{ type: 'task:deleted', data: { id: child.id } }]);
  });

  it('moving a task to another parent moves it in the children index', () => {
    const { store, project } = linkedPair();
    const a = createTask(store, { projectId: project.id, title: 'a' });
    const b = createTask(store, { projectId: project.id, title: 'b' });
    const c = createTask(store, { projectId: project.id, title: 'c', parentId: a.id });
    updateTask(store, c.id, { parentId: b.id });
    assert.deepEqual([[...store.childIdsOf(a.id)], [...store.childIdsOf(b.id)]], [[], [c.id]]);
    updateTask(store, c.id, { parentId: null });
    assert.deepEqual([...store.childIdsOf(b.id)], []);
  });
});

describe('Store link changes (SPEC §4 event order)', () => {
  it('link: session:task_added, task:session_added, task:updated, session:updated', () => {
    const { store, task, session, types, events } = linkedPair();
    link(store, session.id, task.id);
    assert.deepEqual(types(), ['session:task_added', 'task:session_added', 'task:updated', 'session:updated']);
    assert.deepEqual(events[0].data, { sessionId: session.id, taskId: task.id });
    const stored = store.get('task', task.id)!;
    assert.deepEqual(stored.sessionIds, [session.id]);
    assert.equal(stored.timeline.at(-1)!.type, 'session_started');
    assert.equal(store.get('session', session.id)!.version, session.version + 1);
  });

  it('linking twice or unlinking an unlinked pair changes nothing', () => {
    const { store, task, session, types, clear } = linkedPair();
    link(store, session.id, task.id);
    clear();
    const linked = store.get('session', session.id);
    assert.equal(link(store, session.id, task.id), linked);
    unlink(store, session.id, task.id);
    clear();
    unlink(store, session.id, task.id);
    assert.deepEqual(types(), []);
  });

  it('unlink: session:task_removed, task:session_removed, task:updated, session:updated', () => {
    const { store, task, session, types, clear } = linkedPair();
    link(store, session.id, task.id);
    clear();
    unlink(store, session.id, task.id);
    assert.deepEqual(types(), ['session:task_removed', 'task:session_removed', 'task:updated', 'session:updated']);
    assert.equal(store.get('task', task.id)!.timeline.at(-1)!.type, 'session_ended');
  });

  it('createSession with tasks: session:created, then per task the link events and task:updated', () => {
    const { store, project, task, types } = linkedPair();
    createSession(store, { projectId: project.id, taskIds: [task.id] });
    assert.deepEqual(types(), ['session:created', 'session:task_added', 'task:session_added', 'task:updated']);
  });

  it('deleteSession: per task the unlink events and task:updated, then session:deleted', () => {
    const { store, task, session, types, clear } = linkedPair();
    link(store, session.id, task.id);
    clear();
    deleteSession(store, session.id);
    assert.deepEqual(types(), ['session:task_removed', 'task:session_removed', 'task:updated', 'session:deleted']);
    assert.deepEqual(store.get('task', task.id)!.sessionIds, []);
  });

  it('deleteTask: per session the unlink events and session:updated, then task:deleted', () => {
    const { store, task, session, types, clear } = linkedPair();
    link(store, session.id, task.id);
    clear();
    deleteTask(store, task.id);
    assert.deepEqual(types(), ['session:task_removed', 'task:session_removed', 'session:updated', 'task:deleted']);
    assert.deepEqual(store.get('session', session.id)!.taskIds, []);
  });
});

describe('Store link invariant under random operations (seed 42)', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('link' as const), s: fc.nat(3), t: fc.nat(3) }),
    fc.record({ kind: fc.constant('unlink' as const), s: fc.nat(3), t: fc.nat(3) }),
    fc.record({ kind: fc.constant('setTaskSessions' as const), t: fc.nat(3), s: fc.uniqueArray(fc.nat(3), { maxLength: 4 }) }),
    fc.record({ kind: fc.constant('setSessionTasks' as const), s: fc.nat(3), t: fc.uniqueArray(fc.nat(3), { maxLength: 4 }) }),
    fc.record({ kind: fc.constant('deleteTask' as const), t: fc.nat(3) }),
    fc.record({ kind: fc.constant('deleteSession' as const), s: fc.nat(3) }),
    fc.record({ kind: fc.constant('createSession' as const), t: fc.uniqueArray(fc.nat(3), { maxLength: 3 }) }),
    fc.record({ kind: fc.constant('createTask' as const) }),
  );

  it('task.sessionIds has s iff session.taskIds has t, versions only grow, one updated event per version', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
      const { store, events } = recordingStore();
      const project = createProject(store, { name: 'p' });
      const tasks = [0, 1, 2, 3].map((i) => createTask(store, { projectId: project.id, title: `t${i}` }).id);
      const sessions = [0, 1, 2, 3].map(() => createSession(store, { projectId: project.id, taskIds: [] }).id);
      const live = (ids: string[], kind: 'task' | 'session') => ids.filter((id) => store.has(kind, id));
      for (const o of ops) {
        const s = live(sessions, 'session');
        const t = live(tasks, 'task');
        const pick = (ids: string[], i: number) => ids[i % Math.max(ids.length, 1)];
        if (o.kind === 'createTask') tasks.push(createTask(store, { projectId: project.id, title: 'n' }).id);
        else if (o.kind === 'createSession') {
          sessions.push(createSession(store, { projectId: project.id, taskIds: o.t.map((i) => pick(t, i)).filter(Boolean) }).id);
        } else if (o.kind === 'deleteTask') { if (t.length) deleteTask(store, pick(t, o.t)); }
        else if (o.kind === 'deleteSession') { if (s.length) deleteSession(store, pick(s, o.s)); }
        else if (o.kind === 'setTaskSessions') { if (t.length) updateTask(store, pick(t, o.t), { sessionIds: o.s.map((i) => pick(s, i)).filter(Boolean) }); }
        else if (o.kind === 'setSessionTasks') { if (s.length) updateSession(store, pick(s, o.s), { taskIds: o.t.map((i) => pick(t, i)).filter(Boolean) }); }
        else if (s.length && t.length) (o.kind === 'link' ? link : unlink)(store, pick(s, o.s), pick(t, o.t));
      }
      for (const task of store.all('task')) {
        for (const sid of task.sessionIds) assert.ok(store.get('session', sid)?.taskIds.includes(task.id), `${task.id} → ${sid}`);
      }
      for (const session of store.all('session')) {
        for (const tid of session.taskIds) assert.ok(store.get('task', tid)?.sessionIds.includes(session.id), `${session.id} → ${tid}`);
      }
      for (const kind of ['task', 'session'] as const) {
        for (const entity of store.all(kind)) {
          const updates = events.filter((e) => e.type === `${kind}:updated` && (e.data as { id: string }).id === entity.id);
          assert.equal(updates.length, entity.version - 1, `${entity.id}: one ${kind}:updated per version step`);
          assert.deepEqual(updates.map((e) => (e.data as { version: number }).version), updates.map((_, i) => i + 2));
        }
      }
    }), { seed: 42, numRuns: 300 });
  });
});

describe('Store bounded lists (SPEC §7 Archive)', () => {
  function boundedStore(historyKeep: number) {
    const store = new Store({ historyKeep });
    const archived: ArchivedEntries[] = [];
    const order: string[] = [];
    store.onArchive((a) => { archived.push(a); order.push('archive'); });
    store.onChange(() => order.push('change'));
    const project = createProject(store, { name: 'p' });
    return { store, archived, order, project };
  }

  it('keeps the newest entries; the cut ones go to the archive listeners oldest first, before the change is marked', () => {
    const { store, archived, order, project } = boundedStore(3);
    const task = createTask(store, { projectId: project.id, title: 't' });
    for (let i = 0; i < 3; i++) addTaskTimeline(store, task.id, { type: 'update', message: `m${i}` });
    const kept = store.get('task', task.id)!;
    assert.deepEqual(kept.timeline.map((e) => e.message), ['m0', 'm1', 'm2']);
    assert.deepEqual(archived.map((a) => [a.kind, a.id, a.field, a.entries.map((e) => e.message)]), [['task', task.id, 'timeline', ['Task created']]]);
    assert.deepEqual(order.slice(-2), ['archive', 'change']);
    const next = updateTask(store, task.id, { timeline: [{ type: 'update', message: 'a' }, { type: 'update', message: 'b' }] });
    assert.deepEqual(next.timeline.map((e) => e.message), ['m2', 'a', 'b']);
    assert.deepEqual(archived.at(-1)!.entries.map((e) => e.message), ['m0', 'm1']);
    assert.equal(next.version, kept.version + 1);
  });

  it('bounds session events and timeline apart, and a task timeline written through a session', () => {
    const { store, archived, project } = boundedStore(2);
    const task = createTask(store, { projectId: project.id, title: 't' });
    const session = createSession(store, { projectId: project.id, taskIds: [] });
    for (let i = 0; i < 3; i++) addSessionEvent(store, session.id, { type: `e${i}` });
    for (let i = 0; i < 4; i++) addSessionTimeline(store, session.id, { type: 'progress', message: `p${i}`, taskId: task.id });
    const s = store.get('session', session.id)!;
    assert.deepEqual(s.events.map((e) => e.type), ['e1', 'e2']);
    assert.deepEqual(s.timeline.map((e) => e.message), ['p2', 'p3']);
    assert.deepEqual(store.get('task', task.id)!.timeline.map((e) => e.message), ['p2', 'p3']);
    const fields = (kind: string, field: string) => archived.filter((a) => a.kind === kind && a.field === field).flatMap((a) => a.entries);
    assert.deepEqual(fields('session', 'events').map((e) => e.type), ['e0']);
    assert.deepEqual(fields('session', 'timeline').map((e) => e.message), ['p0', 'p1']);
    assert.deepEqual(fields('task', 'timeline').map((e) => e.message), ['Task created', 'p0', 'p1']);
  });

  it('load cuts lists longer than the bound and returns those entities to be written back', () => {
    const { store: source, project } = boundedStore(100);
    const task = createTask(source, { projectId: project.id, title: 't' });
    for (let i = 0; i < 5; i++) addTaskTimeline(source, task.id, { type: 'update', message: `m${i}` });
    const short = createTask(source, { projectId: project.id, title: 'short' });
    const { store, archived } = boundedStore(3);
    const trimmed = store.load([], [source.get('task', task.id)!, source.get('task', short.id)!], []);
    assert.deepEqual(trimmed.map((c) => [c.kind, c.id, c.projectId]), [['task', task.id, project.id]]);
    assert.equal(trimmed[0].entity, store.get('task', task.id));
    assert.deepEqual(store.get('task', task.id)!.timeline.map((e) => e.message), ['m2', 'm3', 'm4']);
    assert.deepEqual(archived.flatMap((a) => a.entries.map((e) => e.message)), ['Task created', 'm0', 'm1']);
    assert.equal(store.get('task', short.id), source.get('task', short.id), 'a short list is kept as loaded');
  });
});

describe('Store.cachedList', () => {
  it('builds a list once per generation and filter, and again after a change', () => {
    const store = new Store();
    let builds = 0;
    const build = () => `[${++builds}]`;
    assert.equal(store.cachedList('a', build).toString(), '[1]');
    assert.equal(store.cachedList('a', build).toString(), '[1]');
    assert.equal(store.cachedList('b', build).toString(), '[2]');
    createProject(store, { name: 'a change' });
    assert.equal(store.cachedList('a', build).toString(), '[3]');
  });

  it('keeps many distinct small filters (the bound is in bytes, see list-cache.test.ts)', () => {
    const store = new Store();
    let builds = 0;
    const build = () => `[${++builds}]`;
    for (let i = 0; i < 100; i++) store.cachedList(`filter-${i}`, build);
    assert.equal(store.cachedList('filter-0', build).toString(), '[1]');
    assert.equal(builds, 100);
  });
});
