/**
 * The archive files in-process (SPEC §7 Archive): reading JSON lines backwards,
 * paging with duplicates, durable appends in order, failures that keep the queue,
 * removal of a deleted entity's files, and orphans at start.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ApiError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { Archive, archivePath, linesBackwards, pageOf } from '../../src/persistence/archive.ts';
import { type FileSystem, realFs } from '../../src/persistence/fs.ts';
import type { HistoryEntry } from '../../src/store/store.ts';
import { tempDir } from '../helpers.ts';

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of source) out.push(x);
  return out;
}

async function* entries(...ids: string[]): AsyncGenerator<HistoryEntry> {
  for (const id of ids) yield { id };
}

const entry = (n: number): HistoryEntry => ({ id: `evt_${n}`, type: 'update', timestamp: n, message: `m${n}` });

/** A real file system whose opens for writing fail while `fail` is set, and that counts fsyncs of folders. */
function faultyFs() {
  const state = { fail: false, opens: [] as string[] };
  const fs: FileSystem = {
    ...realFs,
    open: (async (...args: Parameters<FileSystem['open']>) => {
      state.opens.push(`${args[1] ?? 'r'} ${String(args[0])}`);
      if (state.fail && args[1] !== 'r') throw Object.assign(new Error('ENOSPC: injected'), { code: 'ENOSPC' });
      return realFs.open(...args);
    }) as FileSystem['open'],
  };
  return { fs, state };
}

describe('linesBackwards', () => {
  let dir: string;
  beforeEach(async () => { dir = await tempDir(); });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('yields the lines of a file last first, across 64 KiB chunks and multi-byte characters', async () => {
    // Lines of many lengths, with characters of 2, 3 and 4 bytes, so chunk edges fall everywhere.
    const lines = Array.from({ length: 3000 }, (_, i) => `${i}:${'é漢😀x'.repeat(i % 97)}`);
    const path = join(dir, 'a.jsonl');
    await writeFile(path, `${lines.join('\n')}\n`);
    const read = await collect(linesBackwards(realFs, path));
    assert.deepEqual(read, ['', ...[...lines].reverse()]);
  });

  it('a file without a final newline, an empty file and no file', async () => {
    await writeFile(join(dir, 'b'), 'one\ntwo');
    assert.deepEqual(await collect(linesBackwards(realFs, join(dir, 'b'))), ['two', 'one']);
    await writeFile(join(dir, 'c'), '');
    assert.deepEqual(await collect(linesBackwards(realFs, join(dir, 'c'))), []);
    assert.deepEqual(await collect(linesBackwards(realFs, join(dir, 'none'))), []);
  });

  it('a line longer than a chunk comes out whole', async () => {
    const long = 'x'.repeat(200_000);
    await writeFile(join(dir, 'd'), `a\n${long}\nb\n`);
    assert.deepEqual(await collect(linesBackwards(realFs, join(dir, 'd'))), ['', 'b', long, 'a']);
  });

  it('an error other than a missing file is thrown', async () => {
    const failing: FileSystem = { ...realFs, open: (async () => { throw Object.assign(new Error('EIO: injected'), { code: 'EIO' }); }) as FileSystem['open'] };
    await assert.rejects(collect(linesBackwards(failing, join(dir, 'x'))), { code: 'EIO' });
    await mkdir(join(dir, 'folder'));
    await assert.rejects(collect(linesBackwards(realFs, join(dir, 'folder'))), (e: NodeJS.ErrnoException) => e.code === 'EISDIR');
  });
});

describe('pageOf', () => {
  it('takes `limit` distinct entries; next is the last one when more exist, else null', async () => {
    assert.deepEqual(await pageOf(entries('e', 'd', 'c', 'b', 'a'), 2), { items: [{ id: 'e' }, { id: 'd' }], next: 'd' });
    assert.deepEqual(await pageOf(entries('e', 'd', 'c', 'b', 'a'), 2, 'd'), { items: [{ id: 'c' }, { id: 'b' }], next: 'b' });
    assert.deepEqual(await pageOf(entries('e', 'd', 'c', 'b', 'a'), 2, 'b'), { items: [{ id: 'a' }], next: null });
    assert.deepEqual(await pageOf(entries('b', 'a'), 2), { items: [{ id: 'b' }, { id: 'a' }], next: null });
    assert.deepEqual(await pageOf(entries('a'), 5, 'a'), { items: [], next: null });
    assert.deepEqual(await pageOf(entries(), 5), { items: [], next: null });
  });

  it('skips an id seen before: repeats (a crash) never show twice, nor count toward next', async () => {
    assert.deepEqual(await pageOf(entries('c', 'b', 'c', 'b', 'a'), 3), { items: [{ id: 'c' }, { id: 'b' }, { id: 'a' }], next: null });
    assert.deepEqual(await pageOf(entries('c', 'b', 'a', 'b', 'a'), 3), { items: [{ id: 'c' }, { id: 'b' }, { id: 'a' }], next: null });
  });

  it('a `before` that names no entry is 400 VALIDATION_ERROR on field before', async () => {
    await assert.rejects(pageOf(entries('b', 'a'), 2, 'zz'), (e: ApiError) =>
      e.status === 400 && e.code === 'VALIDATION_ERROR' && (e.details as any).fields[0].field === 'before');
  });
});

describe('Archive', () => {
  let dir: string;
  beforeEach(async () => { dir = await tempDir(); });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const lines = async (path: string) => (await readFile(path, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l));

  it('persist appends what was queued, oldest first, one JSON a line; new folders and the new file are fsynced', async () => {
    const { fs, state } = faultyFs();
    const archive = new Archive({ dataDir: dir, logger: silentLogger, fs });
    archive.add({ kind: 'task', id: 'task_1', field: 'timeline', entries: [entry(1), entry(2)] });
    archive.add({ kind: 'task', id: 'task_1', field: 'timeline', entries: [entry(3)] });
    await archive.persist('task', 'task_1');
    const path = archivePath(dir, 'task', 'task_1', 'timeline');
    assert.equal(path, join(dir, 'archive', 'tasks', 'task_1.timeline.jsonl'));
    assert.equal(await readFile(path, 'utf8'), `${[1, 2, 3].map((n) => JSON.stringify(entry(n))).join('\n')}\n`);
    // The data folder (for archive/), archive/ (for tasks/) and tasks/ (for the new file).
    const folderSyncs = state.opens.filter((o) => o.startsWith('r ')).map((o) => o.slice(2));
    assert.deepEqual(folderSyncs, [dir, join(dir, 'archive'), join(dir, 'archive', 'tasks')]);
    archive.add({ kind: 'task', id: 'task_1', field: 'timeline', entries: [entry(4)] });
    state.opens.length = 0;
    await archive.persist('task', 'task_1');
    assert.deepEqual(state.opens, [`a+ ${path}`], 'an existing file in a known folder: one open, no folder fsync');
    assert.deepEqual((await lines(path)).map((e) => e.id), ['evt_1', 'evt_2', 'evt_3', 'evt_4']);
    await archive.persist('project', 'proj_1');
    await archive.persist('session', 'nothing_queued');
  });

  it('a failed append keeps its entries queued, ahead of newer ones, and still served; the retry writes them all in order', async () => {
    const { fs, state } = faultyFs();
    const archive = new Archive({ dataDir: dir, logger: silentLogger, fs });
    archive.add({ kind: 'session', id: 's', field: 'events', entries: [entry(1)] });
    state.fail = true;
    await assert.rejects(archive.persist('session', 's'), /ENOSPC/);
    archive.add({ kind: 'session', id: 's', field: 'events', entries: [entry(2)] });
    const page = await archive.page('session', 's', 'events', [entry(3)], 10);
    assert.deepEqual(page.items.map((e) => e.id), ['evt_3', 'evt_2', 'evt_1']);
    state.fail = false;
    await archive.persist('session', 's');
    assert.deepEqual((await lines(archivePath(dir, 'session', 's', 'events'))).map((e) => e.id), ['evt_1', 'evt_2']);
    assert.deepEqual((await archive.page('session', 's', 'events', [entry(3)], 10)).items.map((e) => e.id), ['evt_3', 'evt_2', 'evt_1']);
  });

  it('a file whose last line is torn gets a newline first, so the torn line stays apart', async () => {
    const archive = new Archive({ dataDir: dir, logger: silentLogger });
    const path = archivePath(dir, 'task', 't', 'timeline');
    await mkdir(join(dir, 'archive', 'tasks'), { recursive: true });
    await writeFile(path, `${JSON.stringify(entry(1))}\n{"id":"evt_2","ty`);
    archive.add({ kind: 'task', id: 't', field: 'timeline', entries: [entry(3)] });
    await archive.persist('task', 't');
    assert.equal((await readFile(path, 'utf8')).split('\n')[2], JSON.stringify(entry(3)));
    assert.deepEqual((await archive.page('task', 't', 'timeline', [], 10)).items.map((e) => e.id), ['evt_3', 'evt_1']);
  });

  it('drop forgets queued entries and removes the files after an append in progress; a new entity of that id starts empty', async () => {
    const archive = new Archive({ dataDir: dir, logger: silentLogger });
    archive.add({ kind: 'session', id: 's', field: 'timeline', entries: [entry(1)] });
    archive.add({ kind: 'session', id: 's', field: 'events', entries: [entry(2)] });
    const writing = archive.persist('session', 's');
    archive.add({ kind: 'session', id: 's', field: 'events', entries: [entry(3)] });
    archive.drop('session', 's');
    archive.drop('project', 'p');
    await writing;
    assert.deepEqual((await archive.page('session', 's', 'events', [], 10)).items, []);
    assert.deepEqual((await archive.page('session', 's', 'timeline', [], 10)).items, []);
    archive.add({ kind: 'session', id: 's', field: 'events', entries: [entry(4)] });
    await archive.persist('session', 's');
    assert.deepEqual((await lines(archivePath(dir, 'session', 's', 'events'))).map((e) => e.id), ['evt_4']);
  });

  it('removeOrphans removes the archives of entities that do not exist, and nothing else', async () => {
    const archive = new Archive({ dataDir: dir, logger: silentLogger });
    await archive.removeOrphans(() => false);
    for (const [kind, id, field] of [['task', 'kept', 'timeline'], ['task', 'gone', 'timeline'], ['session', 'gone', 'events']] as const) {
      archive.add({ kind, id, field, entries: [entry(1)] });
      await archive.persist(kind, id);
    }
    await writeFile(join(dir, 'archive', 'tasks', 'notes.txt'), 'mine');
    await archive.removeOrphans((kind, id) => kind === 'task' && id === 'kept');
    assert.equal((await lines(archivePath(dir, 'task', 'kept', 'timeline'))).length, 1);
    assert.equal((await lines(archivePath(dir, 'task', 'gone', 'timeline'))).length, 0);
    assert.equal((await lines(archivePath(dir, 'session', 'gone', 'events'))).length, 0);
    assert.equal(await readFile(join(dir, 'archive', 'tasks', 'notes.txt'), 'utf8'), 'mine');
  });
});
