/**
 * The spawn manifest built from the store's data (SPEC §5 step 3, COMPAT §2.2):
 * field by field, the fallbacks, and the key order the original wrote.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildManifest, type ManifestInput } from '../../src/store/spawn-manifest.ts';
import type { Project, Subtask, Task } from '../../src/types.ts';

const project: Project = { id: 'proj_1', name: 'p', workingDir: '', description: '', createdAt: 1, updatedAt: 1, version: 1 };
const subtask = (title: string, order: number): Subtask => ({
  id: `sub_${order}`, taskId: 'task_1', title, description: '', completed: false, status: 'todo', order, createdAt: 1, updatedAt: 1, completedAt: null,
});
const task = (id: string, extra: Partial<Task> = {}): Task => ({
  id, projectId: 'proj_1', parentId: null, title: id, description: 'd', initialPrompt: '', status: 'in_progress', sessionStatus: 'working', claimedBy: null, claimedAt: null,
  priority: 'low', sessionIds: ['sess_x'], skillIds: [], agentIds: [], dependencies: [], subtasks: [], timeline: [],
  createdAt: Date.UTC(2026, 0, 1), updatedAt: 1, startedAt: null, completedAt: null, version: 1, ...extra,
});
const input = (extra: Partial<ManifestInput> = {}): ManifestInput =>
  ({ role: 'worker', strategy: 'simple', project, tasks: [task('task_1')], skills: [], reason: null, ...extra });

describe('§5 spawn manifest', () => {
  it('writes the keys in the original order, the task fields the schema knows and nothing else', () => {
    const m = buildManifest(input({ templateId: 'tmpl_1' }));
    assert.deepEqual(Object.keys(m), ['manifestVersion', 'role', 'tasks', 'session', 'context', 'skills', 'strategy', 'templateId']);
    assert.deepEqual(m.tasks[0], {
      id: 'task_1', title: 'task_1', description: 'd', acceptanceCriteria: ['Task completion as described'], projectId: 'proj_1',
      createdAt: '2026-01-01T00:00:00.000Z', parentId: null, dependencies: [], priority: 'low', status: 'in_progress',
    });
  });

  it('acceptance criteria are the subtask titles in order', () => {
    const m = buildManifest(input({ tasks: [task('task_1', { subtasks: [subtask('second', 2), subtask('first', 1)] })] }));
    assert.deepEqual(m.tasks[0].acceptanceCriteria, ['first', 'second']);
  });

  it('model and permissionMode from the request only when the schema allows them', () => {
    assert.deepEqual(buildManifest(input({ model: 'haiku', permissionMode: 'readOnly' })).session,
      { model: 'haiku', permissionMode: 'readOnly', thinkingMode: 'auto' });
    assert.deepEqual(buildManifest(input({ model: 'claude-3', permissionMode: 'bypass' })).session,
      { model: 'sonnet', permissionMode: 'acceptEdits', thinkingMode: 'auto' });
  });

  it('workingDirectory only when the project has one; templateId only when there is one', () => {
    const m = buildManifest(input({ project: { ...project, workingDir: '/w' } }));
    assert.equal(m.session.workingDirectory, '/w');
    assert.ok(!('templateId' in m));
  });

  it('context.custom holds the task ids, the reason and the non-empty initial prompts', () => {
    const tasks = [task('task_1', { initialPrompt: 'start here' }), task('task_2')];
    assert.deepEqual(buildManifest(input({ tasks, reason: 'why' })).context,
      { custom: { taskIds: ['task_1', 'task_2'], reason: 'why', initialPrompts: { task_1: 'start here' } } });
  });
});
