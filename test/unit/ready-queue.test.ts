/** The to-do queue behind claim-next: always the to-do, unclaimed tasks of a project in claim order. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createProject } from '../../src/store/projects.ts';
import { ReadyQueue } from '../../src/store/ready-queue.ts';
import { byClaimOrder, TODO_STATUS } from '../../src/store/ready.ts';
import { Store } from '../../src/store/store.ts';
import { createTask, deleteTask } from '../../src/store/tasks.ts';
import { PRIORITIES, type Priority, type Task, TASK_STATUSES } from '../../src/types.ts';

const isCandidate = (t: Task) => t.status === TODO_STATUS && t.claimedBy === null;

describe('ReadyQueue', () => {
  it('agrees with filtering and sorting every task, under random creates, updates, claims and deletes', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('create' as const), p: fc.nat(1), priority: fc.constantFrom(...PRIORITIES) }),
      fc.record({ kind: fc.constant('status' as const), i: fc.nat(40), status: fc.constantFrom(...TASK_STATUSES) }),
      fc.record({ kind: fc.constant('priority' as const), i: fc.nat(40), priority: fc.constantFrom<Priority>(...PRIORITIES) }),
      fc.record({ kind: fc.constant('claim' as const), i: fc.nat(40), by: fc.option(fc.constant('sess_x')) }),
      fc.record({ kind: fc.constant('delete' as const), i: fc.nat(40) }),
    );
    fc.assert(fc.property(fc.nat(5), fc.array(step, { maxLength: 120 }), (early, steps) => {
      const store = new Store();
      const projects = [createProject(store, { name: 'a' }).id, createProject(store, { name: 'b' }).id];
      // Some tasks exist before the queue is made, the rest after.
      for (let i = 0; i < early; i++) createTask(store, { projectId: projects[i % 2], title: 'early' });
      const queue = new ReadyQueue(isCandidate, store);
      const ids = () => [...store.ids('task')];
      for (const s of steps) {
        const id = ids()[('i' in s ? s.i : 0) % Math.max(1, ids().length)];
        const task = id ? store.get('task', id)! : undefined;
        if (s.kind === 'create') createTask(store, { projectId: projects[s.p], title: 't', priority: s.priority });
        else if (task && s.kind === 'status') store.update('task', task, { status: s.status });
        else if (task && s.kind === 'priority') store.update('task', task, { priority: s.priority });
        else if (task && s.kind === 'claim') store.update('task', task, { claimedBy: s.by, claimedAt: s.by ? 1 : null });
        else if (task && s.kind === 'delete') deleteTask(store, task.id);
        for (const projectId of projects) {
          const expected = [...store.all('task')].filter((t) => t.projectId === projectId && isCandidate(t)).sort(byClaimOrder);
          assert.deepEqual([...queue.candidates(projectId)], expected.map((t) => t.id));
          assert.deepEqual([...queue.candidates(projectId, 'low')], expected.filter((t) => t.priority === 'low').map((t) => t.id));
        }
      }
    }), { numRuns: 200, seed: 3 });
  });
});
