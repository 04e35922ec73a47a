/** SPEC §7 and §9 on real `bin/maestro-server` processes: signals, restarts, the lock, bad starts. */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { client, runToExit, type ServerProcess, startProcess, tempDir } from '../helpers.ts';

const dirs: string[] = [];
async function freshDir() {
  const dir = await tempDir('maestro-proc-');
  dirs.push(dir);
  return dir;
}
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

async function seed(url: string) {
  const api = client(url);
  const project = (await api.post('/api/projects', { name: 'p', workingDir: '/w' })).body;
  const task = (await api.post('/api/tasks', { projectId: project.id, title: 't1' })).body;
  const child = (await api.post('/api/tasks', { projectId: project.id, title: 't2', parentId: task.id })).body;
  await api.post(`/api/tasks/${task.id}/subtasks`, { title: 's' });
  const session = (await api.post('/api/sessions', { projectId: project.id, taskIds: [task.id, child.id] })).body;
  await api.patch(`/api/tasks/${child.id}`, { status: 'in_progress' });
  return { project, task, child, session };
}

async function snapshot(url: string) {
  const api = client(url);
  return {
    projects: (await api.get('/api/projects')).body,
    tasks: (await api.get('/api/tasks')).body,
    sessions: (await api.get('/api/sessions')).body,
  };
}

async function stopWith(proc: ServerProcess, signal: NodeJS.Signals) {
  proc.child.kill(signal);
  return proc.exited;
}

describe('§9 process', () => {
  it('prints one start line with the URL and the data folder', async () => {
    const dir = await freshDir();
    const proc = await startProcess({ DATA_DIR: dir });
    assert.match(proc.stdout(), new RegExp(`^maestro-server listening on http://127\\.0\\.0\\.1:\\d+ \\(data: ${dir}\\)\\n$`));
    assert.equal(await stopWith(proc, 'SIGINT'), 0);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} flushes every pending write, removes the lock and exits 0`, async () => {
      const dir = await freshDir();
      const proc = await startProcess({ DATA_DIR: dir, WRITE_DEBOUNCE_MS: '600000' });
      const { project, task, session } = await seed(proc.url);
      const health = await client(proc.url).get('/health');
      assert.ok(health.body.pendingWrites > 0, 'writes are still pending before the signal');
      assert.equal(await stopWith(proc, signal), 0);
      const onDisk = JSON.parse(await readFile(join(dir, 'tasks', project.id, `${task.id}.json`), 'utf8'));
      assert.deepEqual(onDisk.sessionIds, [session.id]);
      assert.equal(onDisk.subtasks.length, 1);
      assert.deepEqual((await readdir(dir)).sort(), ['corrupt', 'journal', 'projects', 'sessions', 'tasks', 'templates']);
    });
  }

  it('restarts with exactly the data it had', async () => {
    const dir = await freshDir();
    const first = await startProcess({ DATA_DIR: dir });
    await seed(first.url);
    const before = await snapshot(first.url);
    assert.equal(await stopWith(first, 'SIGINT'), 0);
    const second = await startProcess({ DATA_DIR: dir });
    assert.deepEqual(await snapshot(second.url), before);
    assert.equal(await stopWith(second, 'SIGINT'), 0);
  });

  it('a port already in use: one line, exit 1', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = String((blocker.address() as { port: number }).port);
    const result = await runToExit({ DATA_DIR: await freshDir(), PORT: port });
    blocker.close();
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `maestro-server: port ${port} on 127.0.0.1 is already in use\n`);
  });

  it('a second server on the same folder is refused; a stale lock is taken over', async () => {
    const dir = await freshDir();
    const first = await startProcess({ DATA_DIR: dir });
    assert.equal(await readFile(join(dir, '.lock'), 'utf8'), `${first.child.pid}\n`);
    const second = await runToExit({ DATA_DIR: dir });
    assert.equal(second.code, 1);
    assert.equal(second.stderr, `maestro-server: data folder ${dir} is locked by pid ${first.child.pid}, which is running but may not `
      + `be a maestro-server; if no server uses this folder, delete ${join(dir, '.lock')}\n`);
    first.child.kill('SIGKILL');
    await first.exited;
    const third = await startProcess({ DATA_DIR: dir });
    assert.equal(await readFile(join(dir, '.lock'), 'utf8'), `${third.child.pid}\n`);
    assert.equal(await stopWith(third, 'SIGINT'), 0);
  });

  it('bad configuration: one line, exit 1', async () => {
    const dir = await freshDir();
    assert.deepEqual(await runToExit({ DATA_DIR: dir, PORT: 'abc' }), { code: 1, stdout: '', stderr: 'maestro-server: PORT must be an integer >= 0, got "abc"\n' });
    assert.deepEqual(await runToExit({ DATA_DIR: dir }, ['--bogus']), {
      code: 1, stdout: '', stderr: 'maestro-server: unknown option: --bogus (use --port, --host, --data-dir)\n',
    });
  });

  it('flags override the environment', async () => {
    const dir = await freshDir();
    const other = await freshDir();
    const proc = await startProcess({ DATA_DIR: other }, ['--data-dir', dir, '--host=127.0.0.1', '--port', '0']);
    assert.match(proc.stdout(), new RegExp(`\\(data: ${dir}\\)`));
    assert.equal(await stopWith(proc, 'SIGINT'), 0);
  });
});

describe('§7 storage on real processes', () => {
  it('quarantines corrupt files into corrupt/ and serves the rest', async () => {
    const dir = await freshDir();
    const first = await startProcess({ DATA_DIR: dir });
    const { project, task, child } = await seed(first.url);
    assert.equal(await stopWith(first, 'SIGINT'), 0);
    const taskDir = join(dir, 'tasks', project.id);
    await writeFile(join(taskDir, `${child.id}.json`), '{"id": "torn');
    await writeFile(join(taskDir, 'task_bogus.json'), JSON.stringify({ id: 'task_bogus', title: 42 }));
    await writeFile(join(taskDir, `${task.id}.json.tmp-0123abcd`), '{"half":');
    const second = await startProcess({ DATA_DIR: dir });
    const tasks = (await client(second.url).get('/api/tasks')).body;
    assert.deepEqual(tasks.map((t: { id: string }) => t.id), [task.id]);
    const corrupt = (await readdir(join(dir, 'corrupt'))).sort();
    assert.equal(corrupt.length, 2);
    assert.ok(corrupt.some((n) => n.startsWith(`task-${project.id}-${child.id}.json-`)));
    assert.ok(corrupt.some((n) => n.startsWith(`task-${project.id}-task_bogus.json-`)));
    assert.equal((await readdir(taskDir)).filter((n) => n.includes('.tmp-')).length, 0, 'temp files removed at start');
    assert.match(second.stderr(), /is not valid JSON; moved to/);
    assert.equal(await stopWith(second, 'SIGINT'), 0);
  });

  it('repairs half links and dangling ids on load', async () => {
    const dir = await freshDir();
    const first = await startProcess({ DATA_DIR: dir });
    const { project, task, child, session } = await seed(first.url);
    assert.equal(await stopWith(first, 'SIGINT'), 0);
    // A crash between the two writes of a link: only the task names the session.
    const sessionPath = join(dir, 'sessions', `${session.id}.json`);
    const onDisk = JSON.parse(await readFile(sessionPath, 'utf8'));
    await writeFile(sessionPath, JSON.stringify({ ...onDisk, taskIds: [task.id, 'task_gone'] }));
    const childPath = join(dir, 'tasks', project.id, `${child.id}.json`);
    const childOnDisk = JSON.parse(await readFile(childPath, 'utf8'));
    await writeFile(childPath, JSON.stringify({ ...childOnDisk, sessionIds: [session.id, 'sess_gone'], dependencies: ['task_gone'] }));
    const second = await startProcess({ DATA_DIR: dir });
    const api = client(second.url);
    assert.deepEqual((await api.get(`/api/sessions/${session.id}`)).body.taskIds, [task.id, child.id]);
    const repairedChild = (await api.get(`/api/tasks/${child.id}`)).body;
    assert.deepEqual(repairedChild.sessionIds, [session.id]);
    assert.deepEqual(repairedChild.dependencies, []);
    assert.equal(await stopWith(second, 'SIGINT'), 0);
    assert.deepEqual(JSON.parse(await readFile(sessionPath, 'utf8')).taskIds, [task.id, child.id], 'the repair is written back');
  });
});

describe('§7 faults on a real process', () => {
  it('a failing folder shows in /health as degraded, and recovers', async () => {
    const dir = await freshDir();
    const proc = await startProcess({ DATA_DIR: dir, LOG_LEVEL: 'error' });
    const api = client(proc.url);
    // A file where the folder should be: every project write fails, even for root.
    await rm(join(dir, 'projects'), { recursive: true });
    await writeFile(join(dir, 'projects'), 'not a folder');
    const created = await api.post('/api/projects', { name: 'kept in memory' });
    assert.equal(created.status, 201);
    const degraded = await waitForHealth(proc.url, (h) => h.status === 'degraded');
    assert.match(degraded.reason, /projects.*ENOTDIR|ENOTDIR|EEXIST/);
    assert.equal(degraded.pendingWrites, 1);
    assert.match(proc.stderr(), new RegExp(`write failed for ${join(dir, 'projects')}`));
    assert.equal((await api.get(`/api/projects/${created.body.id}`)).status, 200);
    await rm(join(dir, 'projects'));
    await mkdir(join(dir, 'projects'));
    const healthy = await waitForHealth(proc.url, (h) => h.status === 'ok' && h.pendingWrites === 0, 15_000);
    assert.equal(healthy.reason, undefined);
    assert.equal(JSON.parse(await readFile(join(dir, 'projects', `${created.body.id}.json`), 'utf8')).name, 'kept in memory');
    assert.equal(await stopWith(proc, 'SIGINT'), 0);
  });

  it('shutdown on a failing disk exits 1 within 5 s and names what was not saved; a second SIGINT exits at once', async () => {
    const dir = await freshDir();
    const proc = await startProcess({ DATA_DIR: dir, LOG_LEVEL: 'error' });
    await rm(join(dir, 'projects'), { recursive: true });
    await writeFile(join(dir, 'projects'), 'not a folder');
    const created = (await client(proc.url).post('/api/projects', { name: 'x' })).body;
    const started = Date.now();
    assert.equal(await stopWith(proc, 'SIGINT'), 1);
    assert.ok(Date.now() - started < 5500);
    assert.match(proc.stderr(), new RegExp(`could not save 1 change\\(s\\): ${join(dir, 'projects', `${created.id}.json`)}`));

    const again = await startProcess({ DATA_DIR: await freshDir(), LOG_LEVEL: 'error' });
    await rm(join(dirs.at(-1)!, 'projects'), { recursive: true });
    await writeFile(join(dirs.at(-1)!, 'projects'), 'not a folder');
    await client(again.url).post('/api/projects', { name: 'y' });
    again.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    again.child.kill('SIGINT');
    assert.equal(await again.exited, 1);
    assert.match(again.stderr(), /second SIGINT during shutdown: exiting now/);
  });
});

async function waitForHealth(url: string, test: (h: any) => boolean, timeoutMs = 5000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const h = (await client(url).get('/health')).body;
    if (test(h)) return h;
    if (Date.now() > until) throw new Error(`health never matched: ${JSON.stringify(h)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
