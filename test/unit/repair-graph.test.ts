import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { breakDependencyCycles, breakParentLoops } from '../../src/persistence/repair-graph.ts';
import type { Task } from '../../src/types.ts';

const task = (id: string, extra: Partial<Task> = {}): Task => ({
  id, projectId: 'proj_1', parentId: null, title: id, description: '', initialPrompt: '', status: 'todo', priority: 'medium', sessionStatus: null, claimedBy: null, claimedAt: null,
  sessionIds: [], skillIds: [], agentIds: [], dependencies: [], subtasks: [], timeline: [], createdAt: 1, updatedAt: 1,
  startedAt: null, completedAt: null, version: 1, ...extra,
});

describe('§7 parent loops broken at load', () => {
  it('breaks each loop once, at its most recently updated task, and leaves chains into it alone', () => {
    const tasks = [
      task('a', { parentId: 'c', updatedAt: 5 }), task('b', { parentId: 'a', updatedAt: 9 }), task('c', { parentId: 'b', updatedAt: 7 }),
      task('tail', { parentId: 'a', updatedAt: 99 }),
      task('x', { parentId: 'y', updatedAt: 3 }), task('y', { parentId: 'x', updatedAt: 3 }),
      task('root'), task('kid', { parentId: 'root' }),
    ];
    const repairs = breakParentLoops(tasks);
    assert.deepEqual(repairs.map((r) => r.task.id), ['b', 'y']);
    assert.match(repairs[0].message, /parentId of b set to null/);
    const parent = Object.fromEntries(tasks.map((t) => [t.id, t.parentId]));
    assert.deepEqual(parent, { a: 'c', b: null, c: 'b', tail: 'a', x: 'y', y: null, root: null, kid: 'root' });
    assert.deepEqual(breakParentLoops(tasks), [], 'nothing left to repair');
  });

  it('walks a chain of 100,000 without recursion', () => {
    const tasks = Array.from({ length: 100_000 }, (_, i) => task(`t${i}`, { parentId: i ? `t${i - 1}` : 't99999' }));
    assert.equal(breakParentLoops(tasks).length, 1);
  });
});

describe('§7 dependency cycles broken at load', () => {
  it('removes the edge out of the most recently updated task of each cycle', () => {
    const tasks = [
      task('a', { dependencies: ['b'], updatedAt: 1 }), task('b', { dependencies: ['c', 'z'], updatedAt: 8 }),
      task('c', { dependencies: ['a'], updatedAt: 2 }), task('z'),
      task('self', { dependencies: ['self'] }),
      task('p', { dependencies: ['q', 'missing'], updatedAt: 2 }), task('q', { dependencies: ['p'], updatedAt: 1 }),
    ];
    const repairs = breakDependencyCycles(tasks);
    assert.deepEqual(repairs.map((r) => r.task.id).sort(), ['b', 'p', 'self']);
    const deps = Object.fromEntries(tasks.map((t) => [t.id, t.dependencies]));
    assert.deepEqual(deps, { a: ['b'], b: ['z'], c: ['a'], z: [], self: [], p: ['missing'], q: ['p'] });
    assert.match(repairs.find((r) => r.task.id === 'b')!.message, /b no longer depends on c/);
  });

  it('handles a chain of 100,000 without recursion', () => {
    const tasks = Array.from({ length: 100_000 }, (_, i) => task(`t${i}`, { dependencies: [`t${(i + 1) % 100_000}`], updatedAt: i }));
    const repairs = breakDependencyCycles(tasks);
    assert.deepEqual(repairs.map((r) => r.task.id), ['t99999']);
  });
});
