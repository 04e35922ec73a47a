/**
 * SPEC §15 session queues in-process: the queue's invariants under random
 * sequences of steps (property test, fixed seed), and what each step does to
 * the tasks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ApiError } from '../../src/errors.ts';
import { createProject } from '../../src/store/projects.ts';
import { finishItem, getQueue, pushTask, queueFor, queueStats, startNext } from '../../src/store/queues.ts';
import { createSession, updateSession } from '../../src/store/sessions.ts';
import { Store } from '../../src/store/store.ts';
import { createTask, deleteTask } from '../../src/store/tasks.ts';
import type { StoreEvent } from '../../src/types.ts';

function queueSetup(taskCount: number, queued: number) {
  const store = new Store();
  const events: StoreEvent[] = [];
  store.onEvent((e) => events.push(e));
  const project = createProject(store, { name: 'p' });
  const tasks = Array.from({ length: taskCount }, (_, i) => createTask(store, { projectId: project.id, title: `t${i}` }));
  const session = createSession(store, { projectId: project.id, taskIds: tasks.slice(0, queued).map((t) => t.id), strategy: 'queue' });
  events.length = 0;
  return { store, events, tasks, session };
}

/** A step, or the 400 it answers. */
function attempt(run: () => unknown): 'ok' | 'refused' {
  try {
    run();
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof ApiError && err.status === 400, String(err));
    return 'refused';
  }
}

describe('§15 queues in the store', () => {
  it('queueFor: a queue only for strategy queue, made from taskIds once, kept after', () => {
    assert.equal(queueFor('simple', ['a'], null, 1), null);
    assert.equal(queueFor('tree', ['a'], null, 1), null);
    const made = queueFor('queue', ['a', 'b'], null, 5)!;
    assert.deepEqual(made, {
      items: ['a', 'b'].map((taskId) => ({ taskId, status: 'queued', addedAt: 5, startedAt: null, completedAt: null, failReason: null })),
      currentIndex: -1,
    });
    assert.equal(queueFor('queue', ['c'], made, 9), made);
  });

  it('keeps its invariants under any sequence of steps (seed 7)', () => {
    const step = fc.oneof(
      fc.constant({ op: 'start' as const }),
      fc.constantFrom('completed', 'failed', 'skipped').map((outcome) => ({ op: 'finish' as const, outcome })),
      fc.nat(5).map((task) => ({ op: 'push' as const, task })),
      fc.nat(5).map((task) => ({ op: 'delete' as const, task })),
    );
    fc.assert(fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
      const { store, tasks, session } = queueSetup(6, 2);
      const deleted = new Set<string>();
      for (const s of steps) {
        const before = getQueue(store, session.id).queue;
        const processing = before.items.findIndex((i) => i.status === 'processing');
        const queued = before.items.findIndex((i) => i.status === 'queued');
        if (s.op === 'start') {
          const result = attempt(() => startNext(store, session.id));
          assert.equal(result, processing === -1 ? 'ok' : 'refused');
        } else if (s.op === 'finish') {
          const possible = processing !== -1 || (s.outcome === 'skipped' && queued !== -1);
          const result = attempt(() => finishItem(store, session.id, s.outcome as 'completed', 'why'));
          assert.equal(result, possible ? 'ok' : 'refused');
          if (possible) {
            const index = processing !== -1 ? processing : queued;
            const item = getQueue(store, session.id).queue.items[index];
            assert.equal(item.status, s.outcome);
            const task = store.get('task', item.taskId);
            if (task) assert.equal(task.sessionStatus, s.outcome);
          }
        } else if (s.op === 'push') {
          const task = tasks[s.task];
          if (deleted.has(task.id)) continue;
          const waiting = before.items.some((i) => i.taskId === task.id && (i.status === 'queued' || i.status === 'processing'));
          assert.equal(attempt(() => pushTask(store, session.id, task.id)), waiting ? 'refused' : 'ok');
        } else if (!deleted.has(tasks[s.task].id)) {
          deleteTask(store, tasks[s.task].id);
          deleted.add(tasks[s.task].id);
        }
        const { queue } = getQueue(store, session.id);
        const processingNow = queue.items.flatMap((item, i) => (item.status === 'processing' ? [i] : []));
        assert.ok(processingNow.length <= 1, 'one item at a time');
        assert.equal(queue.currentIndex, processingNow[0] ?? -1);
        const stats = queueStats(queue);
        assert.equal(stats.queued + stats.processing + stats.completed + stats.failed + stats.skipped, stats.total);
        assert.equal(stats.total, queue.items.length);
        for (const item of queue.items) {
          // Completed and failed items were processing first; a skipped one may never have started.
          if (item.status === 'queued') assert.equal(item.startedAt, null);
          else if (item.status !== 'skipped') assert.notEqual(item.startedAt, null);
          assert.equal(item.completedAt === null, item.status === 'queued' || item.status === 'processing');
        }
        const live = store.get('session', session.id)!;
        for (const item of queue.items) if (!deleted.has(item.taskId)) assert.ok(live.taskIds.includes(item.taskId), 'pushed tasks are linked');
      }
    }), { seed: 7, numRuns: 300 });
  });

  it('start moves a todo task to in_progress and reports working; one step is one session:updated and one task:updated', () => {
    const { store, events, tasks, session } = queueSetup(1, 1);
    const item = startNext(store, session.id)!;
    assert.equal(item.taskId, tasks[0].id);
    assert.deepEqual(events.map((e) => e.type), ['session:updated', 'task:updated']);
    const task = store.get('task', tasks[0].id)!;
    assert.deepEqual([task.status, task.sessionStatus, task.startedAt !== null], ['in_progress', 'working', true]);
    assert.equal(task.timeline.at(-1)!.type, 'status_changed');
  });

  it('a session that is not a queue, or has lost it, is refused', () => {
    const { store, session } = queueSetup(1, 1);
    updateSession(store, session.id, { strategy: 'simple' });
    assert.throws(() => startNext(store, session.id), (e: ApiError) => e.status === 400);
    assert.throws(() => getQueue(store, 'sess_missing'), (e: ApiError) => e.status === 404 && e.code === 'SESSION_NOT_FOUND');
  });
});
