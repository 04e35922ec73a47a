/**
 * The original clients' features through a real `bin/maestro-server` process:
 * spawn with its manifest, agent reports, queue and template routes, project
 * deletion; then a restart that keeps templates and manifests of live sessions
 * and removes manifests left without a session.
 */
import assert from 'node:assert/strict';
import { access, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type Api, client, type ServerProcess, startProcess, tempDir, waitFor } from '../helpers.ts';

const exists = (path: string) => access(path).then(() => true, () => false);
const CLI = { headers: { 'content-type': 'application/json' } };

async function ok(call: Promise<{ status: number; text: string; body: any }>, status = 200) {
  const res = await call;
  assert.equal(res.status, status, res.text.slice(0, 300));
  return res.body;
}

describe('§5/§15 the original clients against a server process', () => {
  let proc: ServerProcess | undefined;
  after(() => { proc?.child.kill('SIGKILL'); });

  it('spawn, reports, queue, templates and project deletion work; a restart keeps what belongs and drops orphan manifests', async () => {
    const dir = await tempDir();
    proc = await startProcess({ DATA_DIR: dir });
    let api: Api = client(proc.url, CLI);

    const project = await ok(api.post('/api/projects', { name: 'shop', workingDir: dir }), 201);
    const [a, b, c] = [
      await ok(api.post('/api/tasks', { projectId: project.id, title: 'a', status: 'pending' }), 201),
      await ok(api.post('/api/tasks', { projectId: project.id, title: 'b' }), 201),
      await ok(api.post('/api/tasks', { projectId: project.id, title: 'c' }), 201),
    ];
    assert.equal(a.status, 'todo');
    const spawned = await ok(api.post('/api/sessions/spawn', {
      projectId: project.id, taskIds: [a.id, b.id], strategy: 'queue', spawnSource: 'ui', model: 'opus', context: { reason: 'r' },
    }), 201);
    const sid = spawned.sessionId;
    assert.equal(await exists(spawned.manifestPath), true);

    // worker init and a report
    const reported = await ok(api.patch(`/api/tasks/${a.id}`, { sessionStatus: 'working', updateSource: 'session', sessionId: sid, title: 'x' }));
    assert.deepEqual([reported.sessionStatus, reported.title], ['working', 'a']);
    await ok(api.patch(`/api/tasks/${b.id}`, { sessionStatus: 'blocked' }));

    // the queue, every route
    const q = `/api/sessions/${sid}/queue`;
    assert.equal((await ok(api.get(`${q}/top`))).item.taskId, a.id);
    assert.equal((await ok(api.post(`${q}/start`))).item.taskId, a.id);
    assert.equal((await ok(api.post(`${q}/complete`))).completedItem.taskId, a.id);
    await ok(api.post(`${q}/start`));
    assert.equal((await ok(api.post(`${q}/fail`, { reason: 'no' }))).failedItem.failReason, 'no');
    assert.equal((await ok(api.post(`${q}/push`, { taskId: c.id }))).item.taskId, c.id);
    assert.equal((await ok(api.post(`${q}/skip`))).skippedItem.taskId, c.id);
    const { stats } = await ok(api.get(`${q}/items`));
    assert.deepEqual(stats, { total: 3, queued: 0, processing: 0, completed: 1, failed: 1, skipped: 1 });
    assert.deepEqual((await ok(api.post(`${q}/start`))).empty, true);
    assert.equal((await ok(api.get(q))).queue.sessionId, sid);

    // templates, every route
    const templates = await ok(api.get('/api/templates'));
    assert.equal(templates.length, 2);
    const mine = await ok(api.post('/api/templates', { name: 'mine', role: 'worker', content: 'c' }), 201);
    assert.equal((await ok(api.get(`/api/templates/${mine.id}`))).name, 'mine');
    assert.equal((await ok(api.get('/api/templates/role/worker'))).isDefault, true);
    assert.equal((await ok(api.get('/api/templates/default/orchestrator'))).role, 'orchestrator');
    await ok(api.put(`/api/templates/${mine.id}`, { content: 'd' }));
    await ok(api.patch(`/api/templates/${mine.id}`, { name: 'mine 2' }));
    assert.notEqual((await ok(api.post(`/api/templates/${mine.id}/reset`))).content, 'd');
    await ok(api.delete(`/api/templates/${mine.id}`));
    assert.equal((await api.delete(`/api/templates/${templates[0].id}`)).status, 400);

    // a second project: its ended session and manifest go with it
    const other = await ok(api.post('/api/projects', { name: 'done' }), 201);
    const t = await ok(api.post('/api/tasks', { projectId: other.id, title: 't' }), 201);
    const ended = await ok(api.post('/api/sessions/spawn', { projectId: other.id, taskIds: [t.id] }), 201);
    await ok(api.patch(`/api/sessions/${ended.sessionId}`, { status: 'completed', completedAt: Date.now() }));
    assert.equal((await api.delete(`/api/projects/${other.id}`)).status, 400);
    await ok(api.delete(`/api/tasks/${t.id}`));
    await ok(api.delete(`/api/projects/${other.id}`));
    await waitFor(async () => !(await exists(ended.manifestPath)));

    // Restart with an orphan manifest and a leftover temporary file.
    proc.child.kill('SIGINT');
    assert.equal(await proc.exited, 0);
    const manifests = join(dir, 'manifests');
    await writeFile(join(manifests, 'sess_0_orphan.json'), '{}');
    await writeFile(join(manifests, `${sid}.json.tmp-1-a`), '{');
    proc = await startProcess({ DATA_DIR: dir });
    api = client(proc.url, CLI);
    assert.deepEqual(await readdir(manifests), [`${sid}.json`]);
    assert.deepEqual((await ok(api.get('/api/templates'))).map((x: any) => x.id), templates.map((x: any) => x.id));
    const session = await ok(api.get(`/api/sessions/${sid}`));
    assert.deepEqual([session.strategy, session.model, session.spawnSource, session.queue.items.length], ['queue', 'opus', 'ui', 3]);
    assert.deepEqual((await ok(api.get(`/api/tasks?projectId=${project.id}&status=pending`))).map((x: any) => x.id), [c.id]);
    proc.child.kill('SIGINT');
    assert.equal(await proc.exited, 0);
  });
});
