/**
 * SPEC §7/§9 storage rules found missing by the adversarial review (issue 9):
 * case-insensitive duplicate ids (6), new folders made durable (7), a data
 * subfolder that is a file (19).
 */
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { FileSystem } from '../../src/persistence/fs.ts';
import { assertError, client, runToExit, startTestServer, tempDir, useApiServer, type ApiServer } from '../helpers.ts';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await fsp.rm(d, { recursive: true, force: true }); });

describe('§7 ids that differ only in case are one file on macOS and Windows (item 6)', () => {
  let f: ApiServer;
  useApiServer(['cases'], (fixture) => { f = fixture; });

  it('a second session id equal but for case is refused with 400 (field id); the first is untouched', async () => {
    const projectId = f.projects[0].id;
    const first = await f.api.post('/api/sessions', { id: 'Agent-1', projectId, name: 'first' });
    assert.equal(first.status, 201, first.text);
    for (const id of ['agent-1', 'AGENT-1', 'Agent-1']) {
      const res = await f.api.post('/api/sessions', { id, projectId, name: 'second' });
      assertError(res, 400, 'VALIDATION_ERROR');
      assert.equal(res.body.details.field, 'id', res.text);
    }
    assert.equal((await f.api.get('/api/sessions/Agent-1')).body.name, 'first');
    assertError(await f.api.get('/api/sessions/agent-1'), 404, 'SESSION_NOT_FOUND');
    assert.equal((await f.api.delete('/api/sessions/Agent-1')).status, 200);
    assert.equal((await f.api.post('/api/sessions', { id: 'agent-1', projectId })).status, 201, 'free again once deleted');
  });
});

describe('§7 a new folder is made durable: its parent is fsynced (item 7)', () => {
  it('creating the first task of a project fsyncs tasks/ after making tasks/<projectId>/', async () => {
    const events: string[] = [];
    const fs: FileSystem = {
      ...fsp,
      mkdir: (async (path: string, options: object) => {
        const made = await fsp.mkdir(path, options);
        events.push(`mkdir ${path}`);
        return made;
      }) as FileSystem['mkdir'],
      open: (async (path: string, flags?: string, mode?: number) => {
        const handle = await fsp.open(path, flags, mode);
        if (flags !== 'r') return handle;
        const sync = handle.sync.bind(handle);
        return Object.assign(handle, { sync: async () => { await sync(); events.push(`fsync ${path}`); } });
      }) as FileSystem['open'],
    };
    const server = await startTestServer({}, { fs });
    dirs.push(server.dataDir);
    const api = client(server.url);
    const project = (await api.post('/api/projects', { name: 'durable' })).body;
    await api.post('/api/tasks', { projectId: project.id, title: 't' });
    await server.writer.flush();
    const made = events.indexOf(`mkdir ${join(server.dataDir, 'tasks', project.id)}`);
    assert.ok(made >= 0, events.join('\n'));
    assert.ok(events.slice(made).includes(`fsync ${join(server.dataDir, 'tasks')}`), `tasks/ fsynced after the mkdir:\n${events.join('\n')}`);
    await server.cleanup();
  });
});

describe('§9 a data folder that cannot be used is one line and exit 1 (item 19)', () => {
  for (const name of ['tasks', 'projects', 'sessions', 'corrupt']) {
    it(`${name} is a file`, async () => {
      const dir = await tempDir();
      dirs.push(dir);
      await fsp.writeFile(join(dir, name), 'not a folder');
      const result = await runToExit({ DATA_DIR: dir });
      assert.equal(result.code, 1);
      assert.equal(result.stderr, `maestro-server: ${join(dir, name)} must be a folder, but it is a file\n`);
    });
  }

  it('DATA_DIR itself is a file', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const file = join(dir, 'data');
    await fsp.writeFile(file, 'x');
    const result = await runToExit({ DATA_DIR: file });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `maestro-server: ${file} must be a folder, but it is a file\n`);
  });
});
