/**
 * The quick load check must never accept what the valibot file schemas refuse,
 * and what it accepts must already be in the schema's output form (no default
 * left to fill). Property-based, fixed seed: valid entities with one field
 * removed, replaced by a random value, or an extra key added, plus random JSON.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import * as v from 'valibot';
import { isCurrentProject, isCurrentSession, isCurrentTask, isCurrentTemplate } from '../../src/persistence/quick-check.ts';
import { ProjectFile, SessionFile, TaskFile, TemplateFile } from '../../src/persistence/schemas.ts';
import type { Project, Session, Task, Template } from '../../src/types.ts';

const SEED = 42;
const RUNS = 1500;

const project: Project = { id: 'proj_a1', name: 'p', workingDir: '/w', description: '', createdAt: 1, updatedAt: 2, version: 1 };
const task: Task = {
  id: 'task_a1', projectId: 'proj_a1', parentId: null, title: 't', description: '', initialPrompt: '', status: 'todo',
  sessionStatus: 'working', priority: 'medium', sessionIds: ['sess_a1'], skillIds: [], agentIds: [], dependencies: [], claimedBy: null, claimedAt: null,
  subtasks: [{ id: 'sub_1', taskId: 'task_a1', title: 's', description: '', completed: false, status: 'todo', order: 0, createdAt: 1, updatedAt: 1, completedAt: null }],
  timeline: [{ id: 'evt_1', type: 'created', timestamp: 1, message: 'm' }],
  createdAt: 1, updatedAt: 1, startedAt: null, completedAt: null, version: 3,
};
const session: Session = {
  id: 'sess_a1', projectId: 'proj_a1', taskIds: ['task_a1'], name: 's', agentId: null, status: 'running', strategy: 'queue',
  role: 'worker', spawnSource: 'ui', spawnedBy: null, model: 'sonnet',
  queue: { items: [{ taskId: 'task_a1', status: 'processing', addedAt: 1, startedAt: 2, completedAt: null, failReason: null }], currentIndex: 0 },
  env: { A: 'b' },
  events: [{ id: 'evt_2', timestamp: 1, type: 'x', data: { n: 1 } }], timeline: [{ id: 'evt_3', type: 'progress', timestamp: 1 }],
  metadata: { k: [1] }, startedAt: 1, lastActivity: 1, completedAt: null, hostname: 'h', platform: 'linux', version: 1,
};

const template: Template = {
  id: 'tmpl_a1', name: 'Default Worker Template', role: 'worker', content: '# ${TASK_TITLE}', isDefault: true, createdAt: 1, updatedAt: 1,
  version: 1,
};

const cases = [
  { kind: 'project', base: project, isCurrent: isCurrentProject, schema: ProjectFile },
  { kind: 'task', base: task, isCurrent: isCurrentTask, schema: TaskFile },
  { kind: 'session', base: session, isCurrent: isCurrentSession, schema: SessionFile },
  { kind: 'template', base: template, isCurrent: isCurrentTemplate, schema: TemplateFile },
] as const;

/** A value near `base`: at the top level or one level down, a key removed, replaced or added. */
function nearby(base: Record<string, unknown>): fc.Arbitrary<unknown> {
  const keys = Object.keys(base);
  const value = fc.oneof(fc.jsonValue(), fc.constantFrom(null, undefined, -1, 1.5, '', 'proj_a1', 'bad id', [], {}, 'running', 'low'));
  const edit = (target: Record<string, unknown>, nestedKeys: string[]) => fc.oneof(
    fc.constantFrom(...nestedKeys).map((k) => { const out = { ...target }; delete out[k]; return out; }),
    fc.tuple(fc.constantFrom(...nestedKeys), value).map(([k, x]) => ({ ...target, [k]: x })),
    fc.tuple(fc.string(), value).map(([k, x]) => ({ ...target, [k]: x })),
  );
  const nested = keys.filter((k) => Array.isArray(base[k]) && typeof (base[k] as unknown[])[0] === 'object');
  const deep = nested.length === 0 ? edit(base, keys) : fc.constantFrom(...nested).chain((k) => {
    const item = (base[k] as Record<string, unknown>[])[0];
    return edit(item, Object.keys(item)).map((changed) => ({ ...base, [k]: [changed] }));
  });
  return fc.oneof(edit(base, keys), deep, fc.jsonValue());
}

describe('quick load check vs the file schemas', () => {
  for (const { kind, base, isCurrent, schema } of cases) {
    it(`accepts a current ${kind} file`, () => {
      assert.equal(isCurrent(JSON.parse(JSON.stringify(base))), true);
    });

    it(`never accepts a ${kind} the schema refuses, nor one the schema would change (seed ${SEED})`, () => {
      let accepted = 0;
      fc.assert(fc.property(nearby(base as unknown as Record<string, unknown>), (raw) => {
        if (!isCurrent(raw)) return;
        accepted++;
        const result = v.safeParse(schema, raw);
        assert.equal(result.success, true, JSON.stringify(result.issues));
        assert.deepEqual(result.output, raw);
      }), { seed: SEED, numRuns: RUNS });
      assert.ok(accepted > 0, 'some generated values must pass the quick check, or the property proves nothing');
    });
  }

  it('refuses a missing field, an unknown key and a wrong type', () => {
    const { version: _version, ...noVersion } = project;
    assert.equal(isCurrentProject(noVersion), false);
    assert.equal(isCurrentProject({ ...project, extra: 1 }), false);
    assert.equal(isCurrentTask({ ...task, status: 'pending' }), false);
    assert.equal(isCurrentTask({ ...task, subtasks: [{ ...task.subtasks[0], status: 'completed' }] }), false);
    assert.equal(isCurrentSession({ ...session, env: { A: 1 } }), false);
    assert.equal(isCurrentSession([]), false);
  });
});
