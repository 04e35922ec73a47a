/**
 * SPEC §16 through real processes: an answered change survives kill -9 even when no
 * entity file was written yet (long WRITE_DEBOUNCE_MS and CHECKPOINT_MS), a torn journal
 * tail starts cleanly with exactly the answered state, an entity file torn before its
 * checkpoint is recovered from the journal, and a journal that cannot be written
 * answers 503 and changes nothing.
 */
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type FileSystem, realFs } from '../../src/persistence/fs.ts';
import { JOURNAL_FOLDER } from '../../src/persistence/journal.ts';
import { assertError, client, EventLog, startProcess, startTestServer, tempDir, waitFor } from '../helpers.ts';

const KILLS = 6;
/** Nothing reaches an entity file on its own during the test: every answer rests on the journal alone. */
const SLOW = { WRITE_DEBOUNCE_MS: '600000', CHECKPOINT_MS: '600000', LOG_LEVEL: 'error' };

function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

/** What the server answered: each entity's highest answered version, and the answered deletions. */
const answered = { versions: new Map<string, number>(), deleted: new Set<string>(), tasks: [] as string[], sessions: [] as string[] };
/** Deletions sent: one the kill cut off before its answer may have been made durable (or not). */
const deleting = new Set<string>();
const saw = (res: { status: number; body: any }) => {
  if (res.status < 300 && res.body?.id && res.body.version) {
    answered.versions.set(res.body.id, Math.max(res.body.version, answered.versions.get(res.body.id) ?? 0));
  }
  return res;
};

/** Creates, patches, deletions, links and unlinks from four clients until `stop()`. */
function load(url: string, projectId: string, random: () => number) {
  const api = client(url);
  let running = true;
  const live = (ids: string[]) => ids.filter((id) => !answered.deleted.has(id));
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const op = async () => {
    const tasks = live(answered.tasks);
    const sessions = live(answered.sessions);
    const r = random();
    if (r < 0.25 || tasks.length < 4) {
      const res = saw(await api.post('/api/tasks', { projectId, title: `t${random()}` }));
      if (res.status === 201) answered.tasks.push(res.body.id);
    } else if (r < 0.55) {
      saw(await api.patch(`/api/tasks/${pick(tasks)}`, { description: `d${random()}`, priority: pick(['low', 'high']) }));
    } else if (r < 0.62) {
      const id = pick(tasks);
      deleting.add(id);
      if ((await api.delete(`/api/tasks/${id}`)).status === 200) answered.deleted.add(id);
    } else if (r < 0.72 || sessions.length === 0) {
      const res = saw(await api.post('/api/sessions', { projectId, taskIds: [pick(tasks)] }));
      if (res.status === 201) answered.sessions.push(res.body.id);
    } else if (r < 0.92) {
      const verb = random() < 0.6 ? api.post : api.delete;
      saw(await verb(`/api/sessions/${pick(sessions)}/tasks/${pick(tasks)}`));
    } else {
      const id = pick(sessions);
      deleting.add(id);
      if ((await api.delete(`/api/sessions/${id}`)).status === 200) answered.deleted.add(id);
    }
  };
  const worker = async () => {
    while (running) await op().catch(() => { /* the kill cuts requests short */ });
  };
  const done = Promise.all([worker(), worker(), worker(), worker()]);
  return () => { running = false; return done; };
}

async function checkNothingAnsweredLost(url: string, kill: number) {
  const api = client(url);
  const all = [...(await api.get('/api/projects')).body, ...(await api.get('/api/tasks')).body, ...(await api.get('/api/sessions')).body];
  const byId = new Map(all.map((e: any) => [e.id, e]));
  for (const id of answered.deleted) assert.ok(!byId.has(id), `kill ${kill}: ${id}, deleted with an answer, came back`);
  for (const [id, version] of answered.versions) {
    if (answered.deleted.has(id)) continue;
    if (!byId.has(id) && deleting.has(id)) {
      answered.deleted.add(id); // its deletion was made durable, its answer cut off by the kill
      continue;
    }
    assert.ok(byId.has(id), `kill ${kill}: ${id} (answered at version ${version}) is lost`);
    assert.ok(byId.get(id).version >= version, `kill ${kill}: ${id} is at version ${byId.get(id).version}, answered ${version}`);
  }
  const tasks = all.filter((e: any) => 'title' in e);
  const sessions = all.filter((e: any) => 'taskIds' in e);
  for (const t of tasks) for (const s of t.sessionIds) assert.ok(byId.get(s)?.taskIds.includes(t.id), `kill ${kill}: half link ${t.id}→${s}`);
  for (const s of sessions) for (const t of s.taskIds) assert.ok(byId.get(t)?.sessionIds.includes(s.id), `kill ${kill}: half link ${s.id}→${t}`);
}

/** Everything a client can read, for exact comparisons. */
async function state(url: string) {
  const api = client(url);
  return {
    projects: (await api.get('/api/projects')).body,
    tasks: (await api.get('/api/tasks')).body,
    sessions: (await api.get('/api/sessions')).body,
  };
}

describe('§16 the journal', () => {
  const dirs: string[] = [];
  after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true, maxRetries: 5 }); });
  const dataDir = async () => {
    const dir = await tempDir('maestro-journal-');
    dirs.push(dir);
    return dir;
  };
  const journalFiles = (dir: string) => readdirSync(join(dir, JOURNAL_FOLDER)).filter((f) => f.endsWith('.log')).sort();

  it(`${KILLS} kill -9 right after answers lose nothing answered (creates, patches, deletions, links), with no entity file written`, async () => {
    const dir = await dataDir();
    const random = rng(20261129);
    const env = { DATA_DIR: dir, ...SLOW };
    let proc = await startProcess(env);
    const projectId = saw(await client(proc.url).post('/api/projects', { name: 'journal' })).body.id;
    for (let kill = 0; kill < KILLS; kill++) {
      const stop = load(proc.url, projectId, random);
      await new Promise((r) => setTimeout(r, 200 + random() * 300));
      proc.child.kill('SIGKILL');
      await proc.exited;
      await stop();
      proc = await startProcess(env);
      await checkNothingAnsweredLost(proc.url, kill);
    }
    proc.child.kill('SIGINT');
    assert.equal(await proc.exited, 0);
    assert.ok(answered.versions.size > KILLS * 3, `enough work was done (${answered.versions.size} entities)`);
    assert.ok(answered.deleted.size > 0, 'deletions were answered');
    assert.deepEqual(journalFiles(dir), [], 'a clean shutdown checkpoints and empties the journal');
  });

  it('a torn journal tail (a record cut mid-way, garbage after it) starts cleanly with exactly the answered state', async () => {
    const dir = await dataDir();
    const env = { DATA_DIR: dir, ...SLOW };
    let proc = await startProcess(env);
    const api = client(proc.url);
    const project = (await api.post('/api/projects', { name: 'torn' })).body;
    const task = (await api.post('/api/tasks', { projectId: project.id, title: 'a' })).body;
    const gone = (await api.post('/api/tasks', { projectId: project.id, title: 'b' })).body;
    const session = (await api.post('/api/sessions', { projectId: project.id, taskIds: [task.id] })).body;
    await api.patch(`/api/tasks/${task.id}`, { status: 'in_progress', dependencies: [] });
    await api.delete(`/api/tasks/${gone.id}`);
    await api.post(`/api/sessions/${session.id}/tasks/${task.id}`);
    const expected = await state(proc.url);
    proc.child.kill('SIGKILL');
    await proc.exited;
    const [file] = journalFiles(dir);
    const lines = readFileSync(join(dir, JOURNAL_FOLDER, file), 'utf8').split('\n');
    // An append the kill cut short: half a record, then bytes that were never a record.
    appendFileSync(join(dir, JOURNAL_FOLDER, file), `${lines[1].slice(0, lines[1].length >> 1)}\u0000\u0000garbage{"s":`);
    proc = await startProcess(env);
    assert.deepEqual(await state(proc.url), expected);
    assert.deepEqual(readdirSync(join(dir, 'corrupt')), []);
    // Started cleanly: the replayed state was checkpointed, and the server takes changes.
    assert.equal((await client(proc.url).patch(`/api/projects/${project.id}`, { name: 'after' })).status, 200);
    proc.child.kill('SIGKILL');
    await proc.exited;
    proc = await startProcess(env);
    assert.equal((await client(proc.url).get(`/api/projects/${project.id}`)).body.name, 'after');
    proc.child.kill('SIGINT');
    assert.equal(await proc.exited, 0);
  });

  it('an entity file emptied or torn before its checkpoint is recovered from the journal, not quarantined', async () => {
    const dir = await dataDir();
    // Files are written at once but not fsynced: a power loss could leave them empty.
    const env = { DATA_DIR: dir, WRITE_DEBOUNCE_MS: '0', CHECKPOINT_MS: '600000', LOG_LEVEL: 'warn' };
    let proc = await startProcess(env);
    const api = client(proc.url);
    const project = (await api.post('/api/projects', { name: 'files' })).body;
    const task = (await api.post('/api/tasks', { projectId: project.id, title: 'torn', description: 'x'.repeat(500) })).body;
    await api.patch(`/api/tasks/${task.id}`, { description: 'y'.repeat(500) });
    const expected = await state(proc.url);
    const taskFile = join(dir, 'tasks', project.id, `${task.id}.json`);
    const projectFile = join(dir, 'projects', `${project.id}.json`);
    const fileHolds = (text: string) => { try { return readFileSync(taskFile, 'utf8').includes(text); } catch { return false; } };
    await waitFor(() => fileHolds('yyy'));
    proc.child.kill('SIGKILL');
    await proc.exited;
    writeFileSync(projectFile, '');
    truncateSync(taskFile, 100);
    proc = await startProcess(env);
    assert.deepEqual(await state(proc.url), expected);
    assert.deepEqual(readdirSync(join(dir, 'corrupt')), [], 'nothing quarantined');
    assert.match(proc.stderr(), /recovered from the journal/);
    await waitFor(() => fileHolds(`"description": "${'y'.repeat(500)}"`)); // written back by the start-up checkpoint
    proc.child.kill('SIGINT');
    assert.equal(await proc.exited, 0);
    // Torn with no journal to recover it from: quarantined as before (SPEC §7).
    writeFileSync(projectFile, '{"id":');
    proc = await startProcess(env);
    assert.equal((await client(proc.url).get('/api/projects')).body.length, 0);
    assert.equal(readdirSync(join(dir, 'corrupt')).length, 1);
    proc.child.kill('SIGINT');
    await proc.exited;
  });

  it('a journal that cannot be written answers 503 BUSY, applies and broadcasts nothing, reports it, and recovers', async () => {
    const state0 = { fail: undefined as string | undefined };
    const fs: FileSystem = {
      ...realFs,
      open: (async (...args: Parameters<FileSystem['open']>) => {
        const handle = await realFs.open(...args);
        if (!String(args[0]).includes(`/${JOURNAL_FOLDER}/`)) return handle;
        const datasync = handle.datasync.bind(handle);
        handle.datasync = async () => {
          if (state0.fail) throw Object.assign(new Error(`${state0.fail}: injected`), { code: state0.fail });
          return datasync();
        };
        return handle;
      }) as FileSystem['open'],
    };
    const server = await startTestServer({ CHECKPOINT_MS: '600000' }, { fs });
    dirs.push(server.dataDir);
    after(() => server.stop());
    const api = client(server.url);
    const project = (await api.post('/api/projects', { name: 'kept' })).body;
    const task = (await api.post('/api/tasks', { projectId: project.id, title: 'kept' })).body;
    const before = await state(server.url);
    const events = await EventLog.connect(server.url);
    state0.fail = 'EIO';
    const refused = [
      await api.post('/api/projects', { name: 'lost' }),
      await api.patch(`/api/tasks/${task.id}`, { title: 'lost' }),
      await api.delete(`/api/tasks/${task.id}`),
      await api.post('/api/sessions', { projectId: project.id, taskIds: [task.id] }),
      // Many at once: one failed group, every writer refused.
      ...await Promise.all(Array.from({ length: 8 }, (_, i) => api.post('/api/tasks', { projectId: project.id, title: `lost ${i}` }))),
    ];
    for (const res of refused) {
      assertError(res, 503, 'BUSY');
      assert.equal(res.headers['retry-after'], '1');
    }
    assert.deepEqual(await state(server.url), before, 'nothing applied');
    const health = (await api.get('/health')).body;
    assert.equal(health.status, 'degraded');
    assert.match(health.reason, /journal append failed for .*journal.*\.log: EIO/);
    state0.fail = undefined;
    const created = await api.post('/api/projects', { name: 'after' });
    assert.equal(created.status, 201);
    assert.equal((await api.get('/health')).body.status, 'ok');
    await events.next((m) => m.type === 'project:created');
    assert.deepEqual(events.types(), ['project:created'], 'no event for a refused change');
    assert.equal((events.events[0].data as any).name, 'after');
    events.close();
    await server.stop();
    const again = await startTestServer({ DATA_DIR: server.dataDir });
    assert.deepEqual((await client(again.url).get('/api/projects')).body.map((p: any) => p.name).sort(), ['after', 'kept']);
    assert.equal((await client(again.url).get(`/api/tasks/${task.id}`)).body.title, 'kept');
    await again.cleanup();
  });

  it('the journal\'s own thread stuck in the kernel (its file a FIFO nobody reads) makes ioStuck true; once it fails, 503 and nothing applied', async () => {
    const { execFileSync } = await import('node:child_process');
    const { constants, closeSync, openSync } = await import('node:fs');
    const server = await startTestServer({ CHECKPOINT_MS: '600000' }); // no seam: the real file threads
    dirs.push(server.dataDir);
    after(() => server.stop());
    const api = client(server.url);
    assert.equal((await api.post('/api/projects', { name: 'kept' })).status, 201);
    await server.journal.checkpoint(); // (start-up's, if still running)
    await server.journal.checkpoint(); // the next append opens a new journal file: make it a FIFO
    const next = (server.journal as unknown as { file: number }).file;
    const fifo = join(server.dataDir, JOURNAL_FOLDER, `${String(next).padStart(8, '0')}.log`);
    execFileSync('mkfifo', [fifo]);
    assert.equal(server.ioStuck(), false);
    const waiting = api.post('/api/projects', { name: 'lost' });
    let reader: number | undefined;
    try {
      await waitFor(async () => server.ioStuck(), 4000, 100);
    } finally {
      reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK); // the open goes through; fdatasync of a FIFO fails
    }
    assertError(await waiting, 503, 'BUSY');
    closeSync(reader);
    assert.equal(server.ioStuck(), false);
    assert.deepEqual((await api.get('/api/projects')).body.map((p: any) => p.name), ['kept']);
  });
});
