/**
 * SPEC §7 Archive: timelines and session events keep the newest TIMELINE_KEEP entries;
 * older ones move, oldest first, to append-only archive files; paged GET routes serve
 * the whole history newest first; deleting an entity deletes its archive.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FileSystem } from '../../src/persistence/fs.ts';
import { realFs } from '../../src/persistence/fs.ts';
import type { Project } from '../../src/types.ts';
import {
  type Api, assertError, client, entities, EventLog, startProcess, startTestServer, tempDir, type TestServer, waitFor,
} from '../helpers.ts';

const KEEP = 5;

const archiveFile = (dataDir: string, kind: 'tasks' | 'sessions', id: string, field: 'timeline' | 'events') =>
  join(dataDir, 'archive', kind, `${id}.${field}.jsonl`);

async function archiveLines(path: string): Promise<any[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

/** An entity file as it is on disk now; `undefined` while it has not been written yet. */
async function readEntityFile(path: string): Promise<any> {
  return JSON.parse(await readFile(path, 'utf8').catch(() => 'null')) ?? undefined;
}

/** The archive file's entries once it holds `count` lines. */
async function waitForLines(path: string, count: number): Promise<any[]> {
  let lines: any[] = [];
  await waitFor(async () => (lines = await archiveLines(path)).length === count);
  return lines;
}

/** Every page of a history route, following `next`; checks each page's shape. */
async function wholeHistory(api: Api, path: string, limit: number): Promise<any[]> {
  const items: any[] = [];
  let before: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const res = await api.get(`${path}?limit=${limit}${before ? `&before=${before}` : ''}`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), ['items', 'next']);
    assert.ok(res.body.items.length <= limit);
    items.push(...res.body.items);
    if (res.body.next === null) return items;
    assert.equal(res.body.next, res.body.items.at(-1).id);
    before = res.body.next;
  }
  throw new Error('history never ended');
}

describe('§7 archive: bounded timelines and events, paged history', () => {
  let server: TestServer;
  let api: Api;
  let events: EventLog;
  let project: Project;
  before(async () => {
    server = await startTestServer({ TIMELINE_KEEP: String(KEEP), WRITE_DEBOUNCE_MS: '10' });
    api = client(server.url);
    events = await EventLog.connect(server.url);
    project = await entities(api).create('project', { name: 'archive' });
  });
  after(async () => {
    events.close();
    await server.cleanup();
  });

  const newTask = () => entities(api).create('task', { projectId: project.id, title: 'long work' });

  it('a task keeps its newest TIMELINE_KEEP entries; older ones are in its archive file, oldest first', async () => {
    const task = await newTask();
    let last: any;
    for (let i = 0; i < 12; i++) {
      const res = await api.post(`/api/tasks/${task.id}/timeline`, { message: `m${i}` });
      assert.equal(res.status, 201);
      last = res.body;
    }
    assert.deepEqual(last.timeline.map((e: any) => e.message), ['m7', 'm8', 'm9', 'm10', 'm11']);
    assert.deepEqual(await entities(api).get('task', task.id), last);
    const updated = await events.next((m) => m.type === 'task:updated' && m.data.version === last.version);
    assert.deepEqual(updated.data, last, 'events carry the bounded entity');
    const path = archiveFile(server.dataDir, 'tasks', task.id, 'timeline');
    const lines = await waitForLines(path, 8);
    assert.deepEqual(lines.map((e) => e.message), ['Task created', 'm0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    assert.deepEqual(lines[0], task.timeline[0]);
    const onDisk = await waitFor(async () => {
      const file = await readEntityFile(join(server.dataDir, 'tasks', project.id, `${task.id}.json`));
      return file?.version === last.version && file;
    });
    assert.deepEqual(onDisk.timeline, last.timeline);
  });

  it('GET /api/tasks/:id/timeline pages through the whole history, newest first', async () => {
    const task = await newTask();
    for (let i = 0; i < 12; i++) await api.post(`/api/tasks/${task.id}/timeline`, { message: `m${i}` });
    const all = ['m11', 'm10', 'm9', 'm8', 'm7', 'm6', 'm5', 'm4', 'm3', 'm2', 'm1', 'm0', 'Task created'];
    const first = await api.get(`/api/tasks/${task.id}/timeline`);
    assert.equal(first.status, 200);
    assert.deepEqual(first.body.items.map((e: any) => e.message), all, 'default limit 100 takes everything');
    assert.equal(first.body.next, null);
    for (const limit of [1, 3, 5, 6, 13, 500]) {
      assert.deepEqual((await wholeHistory(api, `/api/tasks/${task.id}/timeline`, limit)).map((e) => e.message), all, `limit ${limit}`);
    }
    const page = await api.get(`/api/tasks/${task.id}/timeline?limit=2&before=${first.body.items[3].id}`);
    assert.deepEqual(page.body.items, first.body.items.slice(4, 6));
    assert.equal(page.body.next, first.body.items[5].id);
    const oldest = await api.get(`/api/tasks/${task.id}/timeline?before=${first.body.items[12].id}`);
    assert.deepEqual(oldest.body, { items: [], next: null });
  });

  it('session timeline and events are bounded and paged the same way', async () => {
    const task = await newTask();
    const s = await entities(api).create('session', { projectId: project.id, taskIds: [task.id] });
    for (let i = 0; i < 9; i++) {
      assert.equal((await api.post(`/api/sessions/${s.id}/events`, { type: 'tool', data: { i } })).status, 201);
      assert.equal((await api.post(`/api/sessions/${s.id}/timeline`, { message: `p${i}`, taskId: task.id })).status, 201);
    }
    const patched = await entities(api).update('session', s.id, { events: [{ type: 'tool', data: { i: 9 } }, { type: 'tool', data: { i: 10 } }] });
    assert.deepEqual(patched.events.map((e) => (e.data as any).i), [6, 7, 8, 9, 10]);
    assert.deepEqual(patched.timeline.map((e) => e.message), ['p4', 'p5', 'p6', 'p7', 'p8']);
    const allEvents = await wholeHistory(api, `/api/sessions/${s.id}/events`, 4);
    assert.deepEqual(allEvents.map((e) => e.data.i), [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    const allTimeline = await wholeHistory(api, `/api/sessions/${s.id}/timeline`, 2);
    assert.deepEqual(allTimeline.map((e) => e.message), ['p8', 'p7', 'p6', 'p5', 'p4', 'p3', 'p2', 'p1', 'p0']);
    const taskTimeline = await wholeHistory(api, `/api/tasks/${task.id}/timeline`, 100);
    assert.deepEqual(taskTimeline.map((e) => e.message).slice(0, 3), ['p8', 'p7', 'p6']);
    assert.equal(taskTimeline.length, 11, 'created, session_started, p0..p8');
    const lines = await waitForLines(archiveFile(server.dataDir, 'sessions', s.id, 'events'), 6);
    assert.deepEqual(lines.map((e) => e.data.i), [0, 1, 2, 3, 4, 5]);
  });

  it('one PATCH appending more than TIMELINE_KEEP entries archives the overflow at once', async () => {
    const task = await newTask();
    const timeline = Array.from({ length: 3 * KEEP }, (_, i) => ({ message: `bulk${i}` }));
    const t = await entities(api).update('task', task.id, { timeline, status: 'in_progress' });
    assert.equal(t.timeline.length, KEEP);
    assert.equal(t.version, 2);
    const all = await wholeHistory(api, `/api/tasks/${task.id}/timeline`, 7);
    assert.equal(all.length, 3 * KEEP + 2);
    assert.deepEqual(all.map((e) => e.type).slice(-2), ['status_changed', 'created']);
  });

  it('bad paging parameters are 400 VALIDATION_ERROR; a missing entity is 404', async () => {
    const task = await newTask();
    const s = await entities(api).create('session', { projectId: project.id, taskIds: [] });
    for (const path of [`/api/tasks/${task.id}/timeline`, `/api/sessions/${s.id}/timeline`, `/api/sessions/${s.id}/events`]) {
      for (const query of ['limit=0', 'limit=501', 'limit=abc', 'limit=1.5', 'limit=-1', 'limit=', 'before=evt_nope', 'before=', `before=${task.id}`]) {
        const res = await api.get(`${path}?${query}`);
        assertError(res, 400, 'VALIDATION_ERROR');
        const field = query.split('=')[0];
        assert.equal(res.body.details.fields[0].field, field, `${path}?${query}`);
      }
      assert.equal((await api.get(`${path}?limit=500`)).status, 200);
      assert.equal((await api.get(`${path}?limit=1`)).status, 200);
    }
    assertError(await api.get('/api/tasks/task_nope/timeline'), 404, 'TASK_NOT_FOUND');
    assertError(await api.get('/api/sessions/sess_nope/timeline'), 404, 'SESSION_NOT_FOUND');
    assertError(await api.get('/api/sessions/sess_nope/events'), 404, 'SESSION_NOT_FOUND');
  });

  it('deleting the entity deletes its archive; a session made again with the same id starts a new history', async () => {
    const task = await newTask();
    const s = await entities(api).create('session', { projectId: project.id, id: 'archived-agent', taskIds: [] });
    for (let i = 0; i < 8; i++) {
      await api.post(`/api/tasks/${task.id}/timeline`, { message: `m${i}` });
      await api.post(`/api/sessions/${s.id}/events`, { type: 'tool' });
    }
    const taskArchive = archiveFile(server.dataDir, 'tasks', task.id, 'timeline');
    const sessionArchive = archiveFile(server.dataDir, 'sessions', s.id, 'events');
    await waitFor(() => existsSync(taskArchive) && existsSync(sessionArchive));
    await entities(api).remove('task', task.id);
    await entities(api).remove('session', s.id);
    const again = await entities(api).create('session', { projectId: project.id, id: 'archived-agent', taskIds: [] });
    await api.post(`/api/sessions/${again.id}/events`, { type: 'fresh' });
    assert.deepEqual((await wholeHistory(api, `/api/sessions/${again.id}/events`, 100)).map((e) => e.type), ['fresh']);
    await waitFor(() => !existsSync(taskArchive) && !existsSync(sessionArchive));
    assertError(await api.get(`/api/tasks/${task.id}/timeline`), 404, 'TASK_NOT_FOUND');
  });
});

describe('§7 archive across restarts and crashes', () => {
  it('the history is the same after a restart; an entity file with more than TIMELINE_KEEP entries is trimmed at start', async () => {
    let server = await startTestServer({ TIMELINE_KEEP: String(KEEP) });
    const { dataDir } = server;
    try {
      let api = client(server.url);
      const project = await entities(api).create('project', { name: 'restart' });
      const task = await entities(api).create('task', { projectId: project.id, title: 't' });
      for (let i = 0; i < 9; i++) await api.post(`/api/tasks/${task.id}/timeline`, { message: `m${i}` });
      const before = await wholeHistory(api, `/api/tasks/${task.id}/timeline`, 3);
      await server.stop();

      // A session written by an older server or with a larger TIMELINE_KEEP, and an
      // archive left by a deleted session whose file removal a crash interrupted.
      const events = Array.from({ length: 12 }, (_, i) => ({ id: `evt_old_${i}`, timestamp: 1000 + i, type: 'old', data: { i } }));
      const session = {
        id: 'sess_old', projectId: project.id, taskIds: [], name: 'old', agentId: null, status: 'running', env: {}, events,
        timeline: [], metadata: {}, startedAt: 1000, lastActivity: 2000, completedAt: null, hostname: '', platform: '', version: 3,
      };
      await writeFile(join(dataDir, 'sessions', 'sess_old.json'), JSON.stringify(session));
      await mkdir(join(dataDir, 'archive', 'sessions'), { recursive: true });
      await writeFile(archiveFile(dataDir, 'sessions', 'sess_gone', 'events'), `${JSON.stringify(events[0])}\n`);

      server = await startTestServer({ DATA_DIR: dataDir, TIMELINE_KEEP: String(KEEP) });
      api = client(server.url);
      assert.deepEqual(await wholeHistory(api, `/api/tasks/${task.id}/timeline`, 4), before);
      assert.equal((await entities(api).get('task', task.id)).timeline.length, KEEP);
      const loaded = await entities(api).get('session', 'sess_old');
      assert.deepEqual(loaded.events, events.slice(-KEEP), 'trimmed at start');
      assert.deepEqual(await wholeHistory(api, '/api/sessions/sess_old/events', 5), [...events].reverse());
      const lines = await waitForLines(archiveFile(dataDir, 'sessions', 'sess_old', 'events'), 7);
      assert.deepEqual(lines, events.slice(0, 7));
      await waitFor(async () => JSON.parse(await readFile(join(dataDir, 'sessions', 'sess_old.json'), 'utf8')).events.length === KEEP);
      assert.equal(existsSync(archiveFile(dataDir, 'sessions', 'sess_gone', 'events')), false, 'an orphan archive is removed at start');
    } finally {
      await server.cleanup();
    }
  });

  it('lines repeated by a crash and a torn last line are ignored when read', async () => {
    let server = await startTestServer({ TIMELINE_KEEP: String(KEEP) });
    const { dataDir } = server;
    try {
      let api = client(server.url);
      const project = await entities(api).create('project', { name: 'crash' });
      const task = await entities(api).create('task', { projectId: project.id, title: 't' });
      for (let i = 0; i < 8; i++) await api.post(`/api/tasks/${task.id}/timeline`, { message: `m${i}` });
      const before = await wholeHistory(api, `/api/tasks/${task.id}/timeline`, 100);
      await server.stop();
      // As a crash after the archive append but before the entity file's rename leaves it:
      // the entity's oldest entries are in the archive too, then a torn line.
      const path = archiveFile(dataDir, 'tasks', task.id, 'timeline');
      const current = JSON.parse(await readFile(join(dataDir, 'tasks', project.id, `${task.id}.json`), 'utf8')).timeline;
      await appendFile(path, `${current.slice(0, 2).map((e: any) => JSON.stringify(e)).join('\n')}\n{"id":"evt_torn","ty`);

      server = await startTestServer({ DATA_DIR: dataDir, TIMELINE_KEEP: String(KEEP) });
      api = client(server.url);
      assert.deepEqual(await wholeHistory(api, `/api/tasks/${task.id}/timeline`, 3), before);
      for (let i = 8; i < 12; i++) await api.post(`/api/tasks/${task.id}/timeline`, { message: `m${i}` });
      const after = await wholeHistory(api, `/api/tasks/${task.id}/timeline`, 4);
      assert.deepEqual(after.map((e) => e.message), ['m11', 'm10', 'm9', 'm8', ...before.map((e) => e.message)]);
      const lines = (await readFile(path, 'utf8')).split('\n');
      assert.ok(lines.includes('{"id":"evt_torn","ty'), 'the torn line stays a line of its own');
    } finally {
      await server.cleanup();
    }
  });

  it('archive lines are durable before the entity file that drops them: a failing archive write keeps the old entity file', async () => {
    const state = { fail: false };
    const fs: FileSystem = {
      ...realFs,
      open: (async (...args: Parameters<FileSystem['open']>) => {
        if (state.fail && String(args[0]).endsWith('.jsonl') && args[1] !== 'r') throw Object.assign(new Error('ENOSPC: injected'), { code: 'ENOSPC' });
        return realFs.open(...args);
      }) as FileSystem['open'],
    };
    const server = await startTestServer({ TIMELINE_KEEP: String(KEEP), WRITE_DEBOUNCE_MS: '10' }, { fs });
    try {
      const api = client(server.url);
      const project = await entities(api).create('project', { name: 'durable' });
      const task = await entities(api).create('task', { projectId: project.id, title: 't' });
      for (let i = 0; i < 4; i++) await api.post(`/api/tasks/${task.id}/timeline`, { message: `m${i}` });
      const file = join(server.dataDir, 'tasks', project.id, `${task.id}.json`);
      await waitFor(async () => (await readEntityFile(file))?.timeline.length === KEEP);
      state.fail = true;
      await api.post(`/api/tasks/${task.id}/timeline`, { message: 'm4' });
      await waitFor(async () => (await api.get('/health')).body.status === 'degraded');
      assert.deepEqual(JSON.parse(await readFile(file, 'utf8')).timeline.map((e: any) => e.message).at(-1), 'm3', 'entity file not written');
      assert.deepEqual((await wholeHistory(api, `/api/tasks/${task.id}/timeline`, 2)).map((e) => e.message),
        ['m4', 'm3', 'm2', 'm1', 'm0', 'Task created'], 'history served from memory meanwhile');
      state.fail = false;
      await waitFor(async () => (await api.get('/health')).body.status === 'ok', 10_000);
      assert.deepEqual((await archiveLines(archiveFile(server.dataDir, 'tasks', task.id, 'timeline'))).map((e) => e.message), ['Task created']);
      assert.equal(JSON.parse(await readFile(file, 'utf8')).timeline.at(-1).message, 'm4');
    } finally {
      await server.cleanup();
    }
  });

  it('SIGKILL during appends: after each restart every acknowledged entry is in the history once, in order', async () => {
    const dataDir = await tempDir();
    const env = { DATA_DIR: dataDir, TIMELINE_KEEP: '3', WRITE_DEBOUNCE_MS: '5', SKILLS_DIR: join(dataDir, 'none') };
    let proc = await startProcess(env);
    let api = client(proc.url);
    const project = await entities(api).create('project', { name: 'kill' });
    const task = await entities(api).create('task', { projectId: project.id, title: 't' });
    const s = await entities(api).create('session', { projectId: project.id, taskIds: [] });
    // Per worker, so each list is in the order the server took its requests.
    const acked = Array.from({ length: 3 }, () => ({ task: [] as number[], session: [] as number[] }));
    let n = 0;
    const inOrder = (numbers: number[], kind: 'task' | 'session') => {
      const all = acked.flatMap((w) => w[kind]);
      assert.deepEqual([...numbers].sort((a, b) => a - b), [...all].sort((a, b) => a - b), `every acknowledged ${kind} entry, once`);
      for (const w of acked) {
        const mine = new Set(w[kind]);
        assert.deepEqual(numbers.filter((x) => mine.has(x)), [...w[kind]].reverse(), `${kind} entries newest first`);
      }
    };
    try {
      for (let kill = 0; kill < 5; kill++) {
        const until = Date.now() + 150 + 60 * kill;
        const worker = async (w: number) => {
          while (Date.now() < until) {
            const i = n++;
            const [res, list] = i % 2
              ? [await api.post(`/api/tasks/${task.id}/timeline`, { message: String(i) }), acked[w].task]
              : [await api.post(`/api/sessions/${s.id}/events`, { type: 'n', data: i }), acked[w].session];
            assert.equal(res.status, 201);
            list.push(i);
          }
        };
        await Promise.all([worker(0), worker(1), worker(2)]);
        // Every answered change is on disk once none waits for the disk; then kill in the middle of more appends.
        await waitFor(async () => (await api.get('/health')).body.pendingWrites === 0);
        const more = Array.from({ length: 6 }, (_, j) => api.post(`/api/sessions/${s.id}/events`, { type: 'late', data: -j }).catch(() => null));
        proc.child.kill('SIGKILL');
        await proc.exited;
        await Promise.all(more);
        proc = await startProcess(env);
        api = client(proc.url);
        const taskHistory = await wholeHistory(api, `/api/tasks/${task.id}/timeline`, 7);
        const sessionHistory = await wholeHistory(api, `/api/sessions/${s.id}/events`, 7);
        for (const history of [taskHistory, sessionHistory]) {
          assert.equal(new Set(history.map((e) => e.id)).size, history.length, 'no entry twice');
        }
        inOrder(taskHistory.map((e) => Number(e.message)).filter((x) => !Number.isNaN(x)), 'task');
        inOrder(sessionHistory.filter((e) => e.type === 'n').map((e) => e.data), 'session');
      }
    } finally {
      proc.child.kill('SIGKILL');
      await proc.exited;
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
