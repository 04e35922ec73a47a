/**
 * SPEC §7: load repairs what a crash between two renames leaves besides half links
 * (issue 9 item 2): a parent loop and a dependency cycle, logged and written back,
 * so no request can loop afterwards.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { client, sleep, startProcess, tempDir } from '../helpers.ts';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

/** Rejects instead of hanging when the server never answers. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  return Promise.race([p, sleep(ms).then(() => { throw new Error(`${what}: no answer within ${ms} ms`); })]);
}

describe('§7 load repairs parent loops and dependency cycles (item 2)', () => {
  it('breaks A⇄B at the newer task and C⇄D at the newer edge; children can be created under A again', async () => {
    const dir = await tempDir('maestro-repair-');
    dirs.push(dir);
    const env = { DATA_DIR: dir, LOG_LEVEL: 'warn' };
    let proc = await startProcess(env);
    let api = client(proc.url);
    const project = (await api.post('/api/projects', { name: 'loops' })).body;
    const ids: string[] = [];
    for (const title of ['A', 'B', 'C', 'D']) ids.push((await api.post('/api/tasks', { projectId: project.id, title })).body.id);
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);

    // What a SIGKILL between two renames of one flush can leave: each file's change alone.
    const file = (id: string) => join(dir, 'tasks', project.id, `${id}.json`);
    const edit = (id: string, change: object) => {
      writeFileSync(file(id), JSON.stringify({ ...JSON.parse(readFileSync(file(id), 'utf8')), ...change }, null, 2));
    };
    const [a, b, c, d] = ids;
    edit(a, { parentId: b, updatedAt: 2000 });
    edit(b, { parentId: a, updatedAt: 3000 });
    edit(c, { dependencies: [d], updatedAt: 5000 });
    edit(d, { dependencies: [c], updatedAt: 4000 });

    proc = await startProcess(env);
    api = client(proc.url);
    const child = await within(3000, 'POST a child under A', api.post('/api/tasks', { projectId: project.id, title: 'child', parentId: a }));
    assert.equal(child.status, 201, child.text);
    const under = await within(3000, 'PATCH B under the child', api.patch(`/api/tasks/${b}`, { parentId: child.body.id }));
    assert.equal(under.status, 400, 'B is an ancestor of the child: still refused');

    const byId = new Map((await api.get('/api/tasks')).body.map((t: any) => [t.id, t]));
    assert.equal((byId.get(b) as any).parentId, null, 'B, the more recently updated, lost its parent');
    assert.equal((byId.get(a) as any).parentId, b);
    assert.deepEqual((byId.get(c) as any).dependencies, [], 'C, the more recently updated, lost its edge');
    assert.deepEqual((byId.get(d) as any).dependencies, [c]);
    assert.match(proc.stderr(), new RegExp(`parent loop.*${b}`));
    assert.match(proc.stderr(), new RegExp(`dependency cycle.*${c}`));
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);
    assert.equal(JSON.parse(readFileSync(file(b), 'utf8')).parentId, null, 'the repair was written back');
    assert.deepEqual(JSON.parse(readFileSync(file(c), 'utf8')).dependencies, []);
  });
});
