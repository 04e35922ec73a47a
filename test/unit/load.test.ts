import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { silentLogger } from '../../src/log.ts';
import { loadData, repairLinks } from '../../src/persistence/load.ts';
import type { Session, Task } from '../../src/types.ts';
import { tempDir } from '../helpers.ts';

const task = (id: string, extra: Partial<Task> = {}): Task => ({
  id, projectId: 'proj_1', parentId: null, title: id, description: '', initialPrompt: '', status: 'todo', sessionStatus: null, priority: 'medium',
  sessionIds: [], skillIds: [], agentIds: [], dependencies: [], claimedBy: null, claimedAt: null, subtasks: [], timeline: [], createdAt: 1, updatedAt: 1,
  startedAt: null, completedAt: null, version: 1, ...extra,
});
const session = (id: string, taskIds: string[]): Session => ({
  id, projectId: 'proj_1', taskIds, name: id, agentId: null, status: 'running', strategy: 'simple', role: null, spawnSource: null,
  spawnedBy: null, model: null, queue: null, env: {}, events: [], timeline: [], metadata: {},
  startedAt: 1, lastActivity: 1, completedAt: null, hostname: 'h', platform: 'linux', version: 1,
});

describe('§7 link repair', () => {
  it('drops ids of missing entities and completes half links on both sides', () => {
    const tasks = [
      task('task_a', { sessionIds: ['sess_1', 'sess_gone'], dependencies: ['task_gone', 'task_b'], parentId: 'task_gone' }),
      task('task_b', { parentId: 'task_a' }),
      task('task_c', { dependencies: ['task_c'], parentId: 'task_c' }),
    ];
    const sessions = [session('sess_1', []), session('sess_2', ['task_b', 'task_gone'])];
    const changed = repairLinks(tasks, sessions);
    assert.deepEqual(tasks[0].sessionIds, ['sess_1']);
    assert.deepEqual(tasks[0].dependencies, ['task_b']);
    assert.equal(tasks[0].parentId, null);
    assert.equal(tasks[1].parentId, 'task_a');
    assert.deepEqual(tasks[1].sessionIds, ['sess_2']);
    assert.deepEqual(tasks[2].dependencies, []);
    assert.equal(tasks[2].parentId, null);
    assert.deepEqual(sessions[0].taskIds, ['task_a']);
    assert.deepEqual(sessions[1].taskIds, ['task_b']);
    assert.deepEqual(changed.map((c) => `${c.kind}:${c.id}`).sort(), ['session:sess_1', 'session:sess_2', 'task:task_a', 'task:task_b', 'task:task_c']);
    assert.equal(changed.find((c) => c.id === 'task_a')!.projectId, 'proj_1');
  });

  it('changes nothing when links agree', () => {
    const tasks = [task('task_a', { sessionIds: ['sess_1'] })];
    assert.deepEqual(repairLinks(tasks, [session('sess_1', ['task_a'])]), []);
  });
});

describe('§7 load', () => {
  let dir: string;
  beforeEach(async () => { dir = await tempDir(); });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('creates the layout in an empty folder', async () => {
    const data = await loadData(dir, silentLogger);
    assert.deepEqual([data.projects, data.tasks, data.sessions, data.quarantined], [[], [], [], []]);
    assert.deepEqual((await readdir(dir)).sort(), ['corrupt', 'projects', 'sessions', 'tasks', 'templates']);
  });

  it('loads valid files, fills defaults for fields older files lack, quarantines the rest', async () => {
    await loadData(dir, silentLogger);
    await mkdir(join(dir, 'tasks', 'proj_1'));
    const old = { ...task('task_old') } as Partial<Task>;
    delete old.agentIds;
    delete old.initialPrompt;
    await writeFile(join(dir, 'tasks', 'proj_1', 'task_old.json'), JSON.stringify(old));
    await writeFile(join(dir, 'tasks', 'proj_1', 'task_wrong.json'), JSON.stringify(task('task_other')));
    await writeFile(join(dir, 'tasks', 'proj_1', 'task_status.json'), JSON.stringify(task('task_status', { status: 'nope' as never })));
    await writeFile(join(dir, 'sessions', 'sess_1.json'), '');
    await writeFile(join(dir, 'projects', 'notes.txt'), 'ignored');
    await mkdir(join(dir, 'tasks', 'proj_2'));
    await writeFile(join(dir, 'tasks', 'proj_2', 'task_moved.json'), JSON.stringify(task('task_moved')));
    const data = await loadData(dir, silentLogger);
    assert.deepEqual(data.tasks.map((t) => t.id), ['task_old']);
    assert.deepEqual(data.tasks[0].agentIds, []);
    assert.equal(data.tasks[0].initialPrompt, '');
    assert.equal(data.quarantined.length, 4);
    const corrupt = (await readdir(join(dir, 'corrupt'))).sort();
    assert.deepEqual(corrupt.map((n) => n.replace(/-\d+$/, '')), [
      'session-sess_1.json', 'task-proj_1-task_status.json', 'task-proj_1-task_wrong.json', 'task-proj_2-task_moved.json',
    ]);
    assert.equal(await readFile(join(dir, 'projects', 'notes.txt'), 'utf8'), 'ignored');
  });

  it('loads files written before todo, sessionStatus, subtask status, session strategy and queues (SPEC §1)', async () => {
    await loadData(dir, silentLogger);
    await mkdir(join(dir, 'tasks', 'proj_1'));
    const { sessionStatus: _s, ...oldTask } = task('task_old', {
      subtasks: [{ id: 'sub_1', taskId: 'task_old', title: 'a', description: '', completed: true, order: 0, createdAt: 1, updatedAt: 1, completedAt: 1 }] as never,
    });
    await writeFile(join(dir, 'tasks', 'proj_1', 'task_old.json'), JSON.stringify({ ...oldTask, status: 'pending' }));
    const { strategy: _a, role: _b, spawnSource: _c, spawnedBy: _d, model: _e, queue: _f, ...oldSession } = session('sess_old', ['task_old']);
    await writeFile(join(dir, 'sessions', 'sess_old.json'), JSON.stringify({ ...oldSession, status: 'working' }));
    const data = await loadData(dir, silentLogger);
    assert.deepEqual(data.quarantined, []);
    assert.equal(data.tasks[0].status, 'todo');
    assert.equal(data.tasks[0].sessionStatus, null);
    assert.equal(data.tasks[0].subtasks[0].status, 'completed');
    const s = data.sessions[0];
    assert.deepEqual([s.status, s.strategy, s.role, s.spawnSource, s.spawnedBy, s.model, s.queue], ['working', 'simple', null, null, null, null, null]);
  });
});

describe('§7 load with a reader thread', () => {
  let dir: string;
  beforeEach(async () => { dir = await tempDir(); });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('reads the same entities with a worker thread as without', async () => {
    await loadData(dir, silentLogger);
    await mkdir(join(dir, 'tasks', 'proj_1'));
    for (let i = 0; i < 600; i++) {
      await writeFile(join(dir, 'tasks', 'proj_1', `task_${i}.json`), JSON.stringify(task(`task_${i}`, { createdAt: i })));
    }
    await writeFile(join(dir, 'tasks', 'proj_1', 'task_torn.json'), '{"id":');
    const threaded = await loadData(dir, silentLogger, 1);
    assert.equal(threaded.tasks.length, 600);
    assert.deepEqual(new Set(threaded.tasks.map((t) => t.id)), new Set(Array.from({ length: 600 }, (_, i) => `task_${i}`)));
    assert.equal(threaded.quarantined.length, 1);
    const plain = await loadData(dir, silentLogger);
    assert.deepEqual(plain.tasks.sort((a, b) => a.createdAt - b.createdAt), threaded.tasks.sort((a, b) => a.createdAt - b.createdAt));
  });
});
