/** SPEC §10 ready rules in-process: claim order, the first ready task, cycle checks that stay bounded. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createProject } from '../../src/store/projects.ts';
import { byClaimOrder, checkAcyclic, firstReady, isReady, waitingOn } from '../../src/store/ready.ts';
import { Store } from '../../src/store/store.ts';
import { createTask, updateTask } from '../../src/store/tasks.ts';
import type { Task } from '../../src/types.ts';

const t = (priority: Task['priority'], createdAt: number, id: string) => ({ priority, createdAt, id }) as Task;

describe('ready', () => {
  it('claim order: priority high, medium, low, then oldest, then id', () => {
    const tasks = [t('low', 1, 'a'), t('medium', 2, 'b'), t('high', 3, 'c'), t('medium', 1, 'e'), t('medium', 1, 'd')];
    assert.deepEqual(tasks.sort(byClaimOrder).map((x) => x.id), ['c', 'd', 'e', 'b', 'a']);
    assert.equal(byClaimOrder(t('low', 1, 'a'), t('low', 1, 'a')), 0);
  });

  it('firstReady picks the best ready task in one pass, of one priority if asked', () => {
    const store = new Store();
    const { id: projectId } = createProject(store, { name: 'p' });
    const dep = createTask(store, { projectId, title: 'dep', priority: 'low' });
    const blocked = createTask(store, { projectId, title: 'blocked', priority: 'high', dependencies: [dep.id] });
    const medium = createTask(store, { projectId, title: 'm' });
    assert.equal(firstReady(store, projectId)!.id, medium.id);
    assert.equal(firstReady(store, projectId, 'high'), undefined);
    assert.deepEqual(waitingOn(store, blocked), [dep.id]);
    updateTask(store, dep.id, { status: 'completed' });
    assert.equal(isReady(store, store.get('task', blocked.id)!), true);
    assert.equal(firstReady(store, projectId)!.id, blocked.id);
    assert.equal(firstReady(store, 'proj_none'), undefined);
  });

  it('a cycle check over a chain of 20,000 dependencies is refused without recursion', () => {
    const store = new Store();
    const { id: projectId } = createProject(store, { name: 'p' });
    let previous = createTask(store, { projectId, title: '0' });
    const first = previous;
    for (let i = 1; i < 20_000; i++) previous = createTask(store, { projectId, title: String(i), dependencies: [previous.id] });
    assert.throws(() => checkAcyclic(store, first.id, [previous.id]), /cycle/);
    assert.doesNotThrow(() => checkAcyclic(store, previous.id, [first.id]));
  });
});
