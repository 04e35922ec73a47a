import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type Logger, silentLogger } from '../../src/log.ts';
import { type FileSystem, realFs } from '../../src/persistence/fs.ts';
import { DiskWriter, type WriterOptions } from '../../src/persistence/writer.ts';
import type { EntityChange } from '../../src/store/store.ts';
import { sleep, tempDir } from '../helpers.ts';

/** A real file system that fails every open while `fail` holds an error code. */
function faultyFs() {
  const state = { fail: undefined as string | undefined, opens: 0 };
  const fs: FileSystem = {
    ...realFs,
    open: (async (...args: Parameters<FileSystem['open']>) => {
      state.opens++;
      if (state.fail) throw Object.assign(new Error(`${state.fail}: injected`), { code: state.fail });
      return realFs.open(...args);
    }) as FileSystem['open'],
  };
  return { fs, state };
}

function recordingLogger() {
  const lines: string[] = [];
  const logger: Logger = { ...silentLogger, error: (m) => lines.push(m), info: (m) => lines.push(m) };
  return { logger, lines };
}

const project = (id: string, name = id): EntityChange => ({
  kind: 'project', id, entity: { id, name, workingDir: '', description: '', createdAt: 1, updatedAt: 1, version: 1 },
});

describe('DiskWriter (SPEC §7)', () => {
  let dir: string;
  const writers: DiskWriter[] = [];
  const make = (o: Partial<WriterOptions> = {}) => {
    const w = new DiskWriter({ dataDir: dir, debounceMs: 20, maxPending: 100, logger: silentLogger, ...o });
    writers.push(w);
    return w;
  };
  const readProject = async (id: string) => JSON.parse(await readFile(join(dir, 'projects', `${id}.json`), 'utf8'));

  beforeEach(async () => { dir = await tempDir(); });
  afterEach(async () => {
    for (const w of writers.splice(0)) await w.close(Date.now() + 1000);
    await rm(dir, { recursive: true, force: true });
  });

  it('coalesces many changes to one entity into one write, pretty-printed', async () => {
    const { fs, state } = faultyFs();
    const w = make({ fs });
    for (let i = 0; i < 10; i++) w.mark(project('proj_a', `name ${i}`));
    assert.equal(w.pending, 1);
    await w.flush();
    assert.equal(w.pending, 0);
    assert.equal((await readProject('proj_a')).name, 'name 9');
    assert.match(await readFile(join(dir, 'projects', 'proj_a.json'), 'utf8'), /^\{\n {2}"id": "proj_a",/);
    // the temp file, the new folder's parent (projects/ was made just now), the folder fsync
    assert.equal(state.opens, 3);
    w.mark(project('proj_a', 'again'));
    await w.flush();
    assert.equal(state.opens, 5, 'a known folder: the temp file and the folder fsync only');
  });

  it('writes after the debounce window without being asked', async () => {
    const w = make({ debounceMs: 10 });
    w.mark(project('proj_b'));
    await sleep(200);
    assert.equal((await readProject('proj_b')).id, 'proj_b');
    assert.equal(w.pending, 0);
  });

  it('a deletion removes the file; deleting a missing file is fine', async () => {
    const w = make();
    w.mark(project('proj_c'));
    await w.flush();
    w.mark({ kind: 'project', id: 'proj_c', entity: null });
    w.mark({ kind: 'project', id: 'proj_never', entity: null });
    await w.flush();
    assert.deepEqual(await readdir(join(dir, 'projects')), []);
  });

  it('leaves no temporary files behind', async () => {
    const w = make();
    for (let i = 0; i < 50; i++) w.mark(project(`proj_${i}`));
    await w.flush();
    const names = await readdir(join(dir, 'projects'));
    assert.equal(names.length, 50);
    assert.ok(names.every((n) => /^proj_\d+\.json$/.test(n)));
  });

  it('keeps a failed write dirty, reports it, and retries until it succeeds', async () => {
    const { fs, state } = faultyFs();
    const { logger, lines } = recordingLogger();
    const w = make({ fs, logger, retryMinMs: 10, retryMaxMs: 20 });
    state.fail = 'ENOSPC';
    w.mark(project('proj_d'));
    await w.flush();
    assert.equal(w.pending, 1);
    assert.match(w.failing!, /proj_d\.json: ENOSPC/);
    assert.ok(lines.some((l) => l.includes(join(dir, 'projects', 'proj_d.json')) && l.includes('ENOSPC')));
    state.fail = undefined;
    await sleep(150);
    assert.equal(w.pending, 0);
    assert.equal(w.failing, undefined);
    assert.equal((await readProject('proj_d')).id, 'proj_d');
  });

  it('a newer change made while a write failed is the one that is kept', async () => {
    const { fs, state } = faultyFs();
    const w = make({ fs, retryMinMs: 10 });
    state.fail = 'EACCES';
    w.mark(project('proj_e', 'old'));
    const flushing = w.flush();
    w.mark(project('proj_e', 'new'));
    await flushing;
    state.fail = undefined;
    await w.flush();
    assert.equal((await readProject('proj_e')).name, 'new');
  });

  it('at the bound, flushes at once and makes writers wait for room', async () => {
    const w = make({ debounceMs: 60_000, maxPending: 5 });
    for (let i = 0; i < 5; i++) w.mark(project(`proj_${i}`));
    assert.equal(w.pending, 5);
    await w.waitForRoom();
    assert.ok(w.pending < 5);
    await w.flush();
    assert.equal((await readdir(join(dir, 'projects'))).length, 5);
  });

  it('answers 503 BUSY with Retry-After when the disk never makes room', async () => {
    const { fs, state } = faultyFs();
    const w = make({ fs, maxPending: 2, busyTimeoutMs: 50, retryMinMs: 5_000 });
    state.fail = 'ENOSPC';
    w.mark(project('proj_1'));
    w.mark(project('proj_2'));
    await assert.rejects(w.waitForRoom(), (e: { status: number; code: string; headers: Record<string, string> }) =>
      e.status === 503 && e.code === 'BUSY' && e.headers['Retry-After'] === '1');
    state.fail = undefined;
  });

  it('close() flushes everything, and names what it could not save', async () => {
    const { fs, state } = faultyFs();
    const w = make({ fs, debounceMs: 60_000, retryMinMs: 10 });
    w.mark(project('proj_ok'));
    assert.deepEqual(await w.close(Date.now() + 1000), []);
    assert.equal((await readProject('proj_ok')).id, 'proj_ok');

    const w2 = make({ fs, debounceMs: 60_000, retryMinMs: 10 });
    state.fail = 'EROFS';
    w2.mark(project('proj_lost'));
    assert.deepEqual(await w2.close(Date.now() + 100), [join(dir, 'projects', 'proj_lost.json')]);
  });

  it('awaits beforeWrite before an entity file is written; a rejection keeps the entity dirty and unwritten', async () => {
    let refuse = true;
    const seen: string[] = [];
    const w = make({
      beforeWrite: async (change) => {
        seen.push(change.id);
        if (refuse) throw new Error('archive append failed');
      },
    });
    w.mark(project('proj_b'));
    w.mark({ kind: 'project', id: 'proj_gone', entity: null });
    await w.flush();
    assert.deepEqual(seen, ['proj_b'], 'not called for a deletion');
    assert.equal(w.pending, 1);
    assert.equal(w.failing, `write failed for ${join(dir, 'projects', 'proj_b.json')}: archive append failed`);
    await assert.rejects(readFile(join(dir, 'projects', 'proj_b.json')), { code: 'ENOENT' });
    refuse = false;
    await w.flush();
    assert.equal((await readProject('proj_b')).id, 'proj_b');
    assert.equal(w.failing, undefined);
  });

  it('tasks go to tasks/<projectId>/<id>.json', async () => {
    const w = make();
    w.mark({ kind: 'task', id: 'task_1', projectId: 'proj_x', entity: { id: 'task_1' } as never });
    await w.flush();
    assert.deepEqual(await readdir(join(dir, 'tasks', 'proj_x')), ['task_1.json']);
    w.mark({ kind: 'task', id: 'task_1', projectId: 'proj_x', entity: null });
    await w.flush();
    assert.deepEqual(await readdir(join(dir, 'tasks', 'proj_x')), []);
  });

  describe('journal mode: writeShare paces flushes by what the last one cost', () => {
    /** Every open takes `ms` more, as a busy disk would. */
    const slowFs = (ms: number): FileSystem => ({ ...realFs, open: (async (...args: Parameters<FileSystem['open']>) => { await sleep(ms); return realFs.open(...args); }) as FileSystem['open'] });
    const exists = async (id: string) => readProject(id).then(() => true, () => false);

    it('after a flush that took t, the next debounced flush waits t × (1/share − 1)', async () => {
      const w = make({ fs: slowFs(40), needCheckpoint: () => {}, writeShare: 0.1 });
      w.mark(project('proj_first'));
      const started = Date.now();
      await sleep(20);
      await w.flush();
      const pause = 9 * (Date.now() - started); // at least 9 × 40 ms
      w.mark(project('proj_second'));
      await sleep(200); // a debounce (20 ms) and one slow open (40 ms) would have written it
      assert.equal(await exists('proj_second'), false, 'written before the pause its predecessor earned');
      await sleep(pause - 200 + 400);
      assert.equal(await exists('proj_second'), true);
    });

    it('without writeShare the next flush comes one debounce later', async () => {
      const w = make({ fs: slowFs(40), needCheckpoint: () => {} });
      w.mark(project('proj_first'));
      await w.flush();
      w.mark(project('proj_second'));
      await sleep(150);
      assert.equal(await exists('proj_second'), true);
    });

    it('pending counts each entity not yet in a checkpoint once, however often it was rewritten', async () => {
      const w = make({ needCheckpoint: () => {}, debounceMs: 60_000 });
      w.mark(project('proj_a'));
      assert.equal(w.pending, 1);
      await w.flush(); // written, not yet fsynced: still pending
      assert.equal(w.pending, 1);
      w.mark(project('proj_a', 'renamed')); // dirty again and written-but-unsynced: one entity
      w.mark(project('proj_b'));
      assert.equal(w.pending, 2);
      assert.equal(await w.syncWritten(), true); // a's fsynced file is the old one: a stays pending
      assert.deepEqual(w.pending, 2);
      await w.flush();
      assert.equal(await w.syncWritten(), true);
      assert.equal(w.pending, 0);
      assert.equal((await readProject('proj_a')).name, 'renamed');
    });

    it('an entity whose folder fsync failed stays pending until a checkpoint succeeds', async () => {
      const state = { failFolder: false };
      const fs: FileSystem = { ...realFs, open: (async (...args: Parameters<FileSystem['open']>) => {
        const handle = await realFs.open(...args);
        if (state.failFolder && String(args[0]).endsWith('/projects')) handle.sync = async () => { throw Object.assign(new Error('EIO: injected'), { code: 'EIO' }); };
        return handle;
      }) as FileSystem['open'] };
      const w = make({ fs, needCheckpoint: () => {}, debounceMs: 60_000 });
      w.mark(project('proj_a'));
      await w.flush();
      state.failFolder = true;
      assert.equal(await w.syncWritten(), false);
      assert.equal(w.pending, 1);
      state.failFolder = false;
      assert.equal(await w.syncWritten(), true);
      assert.equal(w.pending, 0);
    });

    it('at three quarters of the bound a checkpoint is asked for and a flush starts, before any writer waits', async () => {
      let asked = 0;
      const w = make({ needCheckpoint: () => { asked++; }, writeShare: 0.01, debounceMs: 60_000, maxPending: 8 });
      for (const id of ['proj_a', 'proj_b', 'proj_c', 'proj_d', 'proj_e']) w.mark(project(id));
      assert.equal(asked, 0);
      w.mark(project('proj_f'));
      assert.equal(asked, 1);
      await w.waitForRoom(); // 6 of 8: no wait
      await sleep(100);
      assert.equal(await exists('proj_f'), true, 'flushed at once, not after the debounce');
    });

    it('the pending bound still flushes at once', async () => {
      const w = make({ fs: slowFs(40), needCheckpoint: () => {}, writeShare: 0.01, maxPending: 3 });
      w.mark(project('proj_first'));
      await w.flush();
      await w.syncWritten();
      for (const id of ['proj_a', 'proj_b', 'proj_c']) w.mark(project(id));
      await sleep(400);
      assert.equal(await exists('proj_c'), true, 'a full bound waited for the pace');
    });
  });

  it('a flush that finishes nothing for stallMs is reported stalled, in health terms, until it moves again', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const fs: FileSystem = { ...realFs, open: (async (...args: Parameters<FileSystem['open']>) => { await gate; return realFs.open(...args); }) as FileSystem['open'] };
    const w = make({ fs, stallMs: 50 });
    w.mark(project('proj_stuck'));
    const flushing = w.flush();
    await sleep(120);
    assert.equal(w.stalled, true);
    assert.match(w.failing ?? '', /^no write has finished for \d+ s: the disk does not answer$/);
    release();
    await flushing;
    assert.equal(w.stalled, false);
    assert.equal(w.failing, undefined);
  });
});
