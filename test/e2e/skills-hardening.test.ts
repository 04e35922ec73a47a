/**
 * SPEC §8 skills rules found broken by the adversarial review (issue 9): a FIFO as
 * a skill file stalled every disk write and shutdown (4); a deep dependency chain
 * overflowed the stack, symlinked skill folders were skipped (17).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as fsp from 'node:fs/promises';
import type { FileSystem } from '../../src/persistence/fs.ts';
import { client, sleep, startProcess, startTestServer, tempDir, waitFor } from '../helpers.ts';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

async function skill(root: string, id: string, manifest: object = {}, instructions = `Do ${id}.`) {
  await mkdir(join(root, id), { recursive: true });
  await writeFile(join(root, id, 'manifest.json'), JSON.stringify({ name: id, version: '1.0.0', type: 'role', ...manifest }));
  await writeFile(join(root, id, 'skill.md'), instructions);
}

/** Rejects instead of hanging when the server never answers. */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  return Promise.race([p, sleep(ms).then(() => { throw new Error(`${what}: no answer within ${ms} ms`); })]);
}

describe('§8 skill reads never hold up writes (item 4)', () => {
  it('FIFOs as skill.md and manifest.json: skills answer without them, writes reach disk, SIGTERM exits 0', async () => {
    const dir = await tempDir('maestro-fifo-');
    dirs.push(dir);
    const skills = join(dir, 'skills');
    await skill(skills, 'good');
    await mkdir(join(skills, 'fifo-md'), { recursive: true });
    await writeFile(join(skills, 'fifo-md', 'manifest.json'), JSON.stringify({ name: 'f', version: '1', type: 'role' }));
    execFileSync('mkfifo', [join(skills, 'fifo-md', 'skill.md')]);
    await mkdir(join(skills, 'fifo-manifest'), { recursive: true });
    execFileSync('mkfifo', [join(skills, 'fifo-manifest', 'manifest.json')]);
    await writeFile(join(skills, 'fifo-manifest', 'skill.md'), 'x');
    const data = join(dir, 'data');
    const proc = await startProcess({ DATA_DIR: data, SKILLS_DIR: skills });
    try {
      const api = client(proc.url);
      const lists = await within(5000, 'four GET /api/skills', Promise.all([1, 2, 3, 4].map(() => api.get('/api/skills'))));
      for (const res of lists) assert.deepEqual(res.body.map((s: any) => s.id), ['good']);
      const created = await within(3000, 'POST a project', api.post('/api/projects', { name: 'still written' }));
      const file = join(data, 'projects', `${created.body.id}.json`);
      await waitFor(() => existsSync(file), 3000);
      assert.equal((await api.get('/health')).body.status, 'ok');
      assert.match(proc.stderr(), /fifo-md.*not a regular file/);
      proc.child.kill('SIGTERM');
      assert.equal(await within(6000, 'exit after SIGTERM', proc.exited), 0);
    } finally {
      proc.child.kill('SIGKILL');
    }
  });
});

describe('§9 health reports a writer that makes no progress (item 4)', () => {
  it('a disk that stops answering makes /health degraded within seconds, and ok again once it answers', async () => {
    let answer!: () => void;
    const disk = new Promise<void>((r) => { answer = r; });
    const fs: FileSystem = {
      ...fsp,
      open: (async (path: string, flags?: string, mode?: number) => {
        if (String(path).includes('.tmp-')) await disk;
        return fsp.open(path, flags, mode);
      }) as FileSystem['open'],
    };
    const server = await startTestServer({}, { fs });
    dirs.push(server.dataDir);
    const api = client(server.url);
    assert.equal((await api.post('/api/projects', { name: 'stuck' })).status, 201);
    const degraded = await waitFor(async () => {
      const health = (await api.get('/health')).body;
      return health.status === 'degraded' ? health : undefined;
    }, 9000, 200);
    assert.match(degraded.reason, /^no write has finished for \d+ s: the disk does not answer$/);
    assert.equal(server.ioStuck(), true, 'the forced exit would not wait for it');
    answer();
    await waitFor(async () => (await api.get('/health')).body.status === 'ok', 3000);
    assert.equal(server.ioStuck(), false);
    await server.cleanup();
  });
});

describe('§8 skill dependencies at any depth, symlinked skill folders (item 17)', () => {
  it('a chain of 6,000 dependencies gives a prompt, deepest first', async () => {
    const dir = await tempDir('maestro-chain-');
    dirs.push(dir);
    const skills = join(dir, 'skills');
    const n = 6000;
    for (let i = 0; i < n; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, k) =>
        skill(skills, `s${i + k}`, { dependencies: i + k + 1 < n ? [`s${i + k + 1}`] : [] })));
    }
    const proc = await startProcess({ DATA_DIR: join(dir, 'data'), SKILLS_DIR: skills });
    const res = await client(proc.url).get('/api/skills/prompt?skills=s0');
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.equal(res.body.skills.length, n);
    assert.equal(res.body.skills[0], `s${n - 1}`);
    assert.equal(res.body.skills[n - 1], 's0');
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);
  });

  it('a symlinked skill folder is served; a link loop and a link to the skills folder itself are skipped with a warning', async () => {
    const dir = await tempDir('maestro-links-');
    dirs.push(dir);
    const skills = join(dir, 'skills');
    await skill(skills, 'plain');
    await skill(skills, 'prompt', { description: 'named like the static route' });
    await skill(join(dir, 'repo'), 'from-repo', { description: 'lives in a repo' });
    await symlink(join(dir, 'repo', 'from-repo'), join(skills, 'linked'));
    await symlink(join(skills, 'loop'), join(skills, 'loop'));
    await symlink(skills, join(skills, 'itself'));
    const proc = await startProcess({ DATA_DIR: join(dir, 'data'), SKILLS_DIR: skills });
    const api = client(proc.url);
    const list = await within(3000, 'GET /api/skills', api.get('/api/skills'));
    assert.deepEqual(list.body.map((s: any) => s.id), ['linked', 'plain', 'prompt']);
    const named = await api.get('/api/skills/%70rompt');
    assert.equal(named.status, 200, named.text);
    assert.equal(named.body.description, 'named like the static route', 'a skill named prompt is reachable, percent-encoded');
    const linked = await api.get('/api/skills/linked');
    assert.equal(linked.body.description, 'lives in a repo');
    assert.equal(linked.body.instructions, 'Do from-repo.');
    assert.match(proc.stderr(), /skipping skill folder .*loop/);
    assert.match(proc.stderr(), /skipping skill folder .*itself/);
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);
  });
});
