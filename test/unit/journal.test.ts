import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { silentLogger } from '../../src/log.ts';
import { type FileSystem, realFs } from '../../src/persistence/fs.ts';
import { Journal, JOURNAL_FOLDER, type JournalOptions, journalLine, parseJournal, readJournal } from '../../src/persistence/journal.ts';
import { DiskWriter } from '../../src/persistence/writer.ts';
import type { EntityChange } from '../../src/store/store.ts';
import type { Project, StoreEvent } from '../../src/types.ts';
import { sleep, tempDir } from '../helpers.ts';

const project = (id: string, name = id, version = 1): Project =>
  ({ id, name, workingDir: '', description: '', createdAt: 1, updatedAt: 1, version });
const change = (p: Project | null, id = p!.id): EntityChange => ({ kind: 'project', id, entity: p });

/**
 * The real file system, counting fsyncs per path, failing the journal's appends while
 * `failJournal` holds an error code, and able to "lose power": every file's bytes not
 * yet fsynced are dropped (the content as of its last fsync is put back).
 */
function seamFs() {
  const state = { failJournal: undefined as string | undefined, failSync: undefined as string | undefined, hold: undefined as Promise<void> | undefined, syncs: new Map<string, number>() };
  const synced = new Map<string, Buffer>();
  const snapshot = (path: string) => {
    if (!statSync(path).isDirectory()) synced.set(path, readFileSync(path));
  };
  const fs: FileSystem = {
    ...realFs,
    open: (async (...args: Parameters<FileSystem['open']>) => {
      const path = String(args[0]);
      const handle = await realFs.open(...args);
      const count = () => state.syncs.set(path, (state.syncs.get(path) ?? 0) + 1);
      const [sync, datasync, appendFile] = [handle.sync.bind(handle), handle.datasync.bind(handle), handle.appendFile.bind(handle)];
      const failing = () => {
        if (state.failJournal && path.includes(`/${JOURNAL_FOLDER}/`)) throw Object.assign(new Error(`${state.failJournal}: injected`), { code: state.failJournal });
      };
      handle.sync = async () => {
        if (state.failSync && path.endsWith(state.failSync)) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
        count(); await sync(); snapshot(path);
      };
      handle.datasync = async () => {
        failing();
        if (path.includes(`/${JOURNAL_FOLDER}/`)) await state.hold;
        count(); await datasync(); snapshot(path);
      };
      handle.appendFile = (async (data: string) => { failing(); await appendFile(data); }) as typeof handle.appendFile;
      return handle;
    }) as FileSystem['open'],
  };
  return { fs, state, synced };
}

describe('parseJournal / readJournal (SPEC §16)', () => {
  it('keeps finished groups in order and stops at a cut record, a bad checksum or an unfinished group', async () => {
    const dir = await tempDir();
    const { fs } = seamFs();
    const events: StoreEvent[] = [];
    const writer = { flush: async () => true, syncWritten: async () => true };
    const j = new Journal({ dataDir: dir, logger: silentLogger, writer, fs, broadcast: (e) => events.push(e),
      restore: () => {}, checkpointMs: 60_000, maxBytes: 1 << 20 }, 1);
    await mkdir(join(dir, JOURNAL_FOLDER));
    const from = j.lastSeq;
    j.change(change(project('a', 'one')), undefined);
    j.change(change(project('b')), undefined);
    j.event({ type: 'project:created', data: { id: 'b' } });
    await j.durable(from);
    assert.deepEqual(events, [{ type: 'project:created', data: { id: 'b' } }], 'the event is handed on once durable');
    const from2 = j.lastSeq;
    j.change(change(project('a', 'two', 2)), project('a', 'one'));
    j.change(change(null, 'b'), project('b'));
    await j.durable(from2);
    const path = join(dir, JOURNAL_FOLDER, '00000001.log');
    const text = readFileSync(path, 'utf8');
    await j.close();
    assert.deepEqual(readdirSync(join(dir, JOURNAL_FOLDER)), [], 'the last checkpoint deletes it');
    const all = parseJournal(text);
    assert.deepEqual(all.map((r) => 'kind' in r && [r.id, r.entity && (r.entity as Project).name]), [['a', 'one'], ['b', 'b'], ['a', 'two'], ['b', null]]);
    const lines = text.split('\n');
    // A record cut mid-way: the second group is lost, the first kept.
    assert.equal(parseJournal(lines.slice(0, 4).join('\n') + '\n' + lines[4].slice(0, 30)).length, 2);
    // A record with a wrong checksum (garbage in place of its bytes): same.
    const flipped = lines[3].replace('"two"', '"TWO"');
    assert.equal(parseJournal([...lines.slice(0, 3), flipped, ...lines.slice(4)].join('\n')).length, 2);
    // Records without their commit line belong to no finished group.
    assert.equal(parseJournal(lines.slice(0, 5).join('\n')).length, 2);
    // Garbage after the end changes nothing.
    assert.equal(parseJournal(text + 'garbage\u0000\u0001{"x":1}\n').length, 4);
    writeFileSync(path, text);
    writeFileSync(join(dir, JOURNAL_FOLDER, '00000002.log'), text.slice(0, 40));
    const read = readJournal(dir);
    assert.equal(read.records.length, 4);
    assert.equal(read.nextFile, 3);
    assert.equal(read.bytes, Buffer.byteLength(text) + 40);
    assert.deepEqual(readJournal(join(dir, 'missing')), { records: [], nextFile: 1, bytes: 0 });
    await rm(dir, { recursive: true, force: true });
  });

  it('lines are a CRC-32 (8 hex digits), a space and the JSON; a journal left by the SHA-256 format still replays', () => {
    const line = journalLine({ s: 1, k: 'project', i: 'a' }, JSON.stringify(project('a')));
    const json = line.slice(9, -1);
    assert.equal(line.slice(0, 9), `${crc32(json).toString(16).padStart(8, '0')} `);
    const sha = (body: object) => { const j = JSON.stringify(body); return `${createHash('sha256').update(j).digest('hex').slice(0, 16)} ${j}\n`; };
    const old = sha({ s: 1, k: 'project', i: 'a', e: project('a', 'old') }) + sha({ c: 1 });
    assert.deepEqual(parseJournal(old).map((r) => 'kind' in r && (r.entity as Project).name), ['old']);
    const flipped = old.replace('"old"', '"OLD"');
    assert.equal(parseJournal(flipped).length, 0, 'a wrong SHA-256 still stops the reading');
    assert.equal(parseJournal(`${line}${journalLine({ c: 1 })}`).length, 1);
  });
});

describe('Journal with the writer: group commit, checkpoints, failures', () => {
  let dir: string;
  let seam: ReturnType<typeof seamFs>;
  let writer: DiskWriter;
  let journal: Journal;
  let events: StoreEvent[];
  let restored: EntityChange[];
  const projectFile = (id: string) => join(dir, 'projects', `${id}.json`);
  const journalFiles = () => readdirSync(join(dir, JOURNAL_FOLDER)).sort();

  beforeEach(async () => {
    dir = await tempDir();
    await mkdir(join(dir, JOURNAL_FOLDER));
    seam = seamFs();
    events = [];
    restored = [];
    writer = new DiskWriter({ dataDir: dir, debounceMs: 60_000, maxPending: 1000, logger: silentLogger, fs: seam.fs,
      needCheckpoint: () => void journal.checkpoint() });
    const options: JournalOptions = {
      dataDir: dir, logger: silentLogger, fs: seam.fs, checkpointMs: 60_000, maxBytes: 1 << 20, retryMinMs: 10, retryMaxMs: 20,
      writer: { flush: () => writer.flushAll(), syncWritten: () => writer.syncWritten() },
      broadcast: (e) => events.push(e), restore: (c) => { restored.push(c); journal.change(c, undefined); writer.mark(c); },
    };
    journal = new Journal(options, 1);
  });
  afterEach(async () => {
    await writer.close(Date.now() + 1000);
    await journal.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** One "request": its changes, then the wait for durability, as the write gate does. */
  const commit = async (...changes: [EntityChange, Project | undefined][]) => {
    const from = journal.lastSeq;
    for (const [c, previous] of changes) {
      journal.change(c, previous);
      writer.mark(c);
      journal.event({ type: `project:${c.entity ? 'updated' : 'deleted'}`, data: { id: c.id } });
    }
    await journal.durable(from);
  };

  it('once changes pause for a tenth of checkpointMs, a checkpoint runs (not only every checkpointMs)', async () => {
    const timed = new Journal({
      dataDir: dir, logger: silentLogger, fs: seam.fs, checkpointMs: 2000, maxBytes: 1 << 20,
      writer: { flush: () => writer.flushAll(), syncWritten: () => writer.syncWritten() }, broadcast: () => {}, restore: () => {},
    }, 5);
    timed.startTimer();
    let lastChange = 0;
    for (let i = 0; i < 4; i++) {
      const from = timed.lastSeq;
      lastChange = Date.now();
      timed.change(change(project(`q${i}`)), undefined);
      writer.mark(change(project(`q${i}`)));
      await timed.durable(from);
      await sleep(60); // changes keep coming: under the 200 ms pause
      assert.equal(timed.lastCheckpointAt, null, `a checkpoint while changes kept coming (change ${i})`);
    }
    await sleep(500);
    assert.ok(timed.lastCheckpointAt !== null && timed.lastCheckpointAt - lastChange >= 190, `a checkpoint ~200 ms after the last change: ${timed.lastCheckpointAt} - ${lastChange}`);
    assert.equal(writer.pending, 0);
    assert.deepEqual(journalFiles(), []);
    await timed.close();
  });

  it('writes of many concurrent requests share one fsync (group commit)', async () => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => commit([change(project(`p${i}`)), undefined])));
    const syncs = seam.state.syncs.get(join(dir, JOURNAL_FOLDER, '00000001.log'))!;
    assert.ok(syncs >= 1 && syncs <= 3, `50 requests took ${syncs} fsyncs`);
    assert.equal(events.length, 50);
    assert.deepEqual(events.map((e) => (e.data as { id: string }).id), Array.from({ length: 50 }, (_, i) => `p${i}`), 'events in change order');
  });

  it('a checkpoint fsyncs each touched file once, however often it was written, and deletes the journal files it covers', async () => {
    for (let v = 1; v <= 5; v++) {
      await commit([change(project('hot', `v${v}`, v)), v > 1 ? project('hot', `v${v - 1}`, v - 1) : undefined]);
      await writer.flush();
    }
    await commit([change(project('cold')), undefined]);
    assert.equal(seam.state.syncs.get(projectFile('hot')), undefined, 'entity files are written without an fsync each');
    assert.equal(writer.pending, 2, 'two entities not yet checkpointed');
    assert.deepEqual(journalFiles(), ['00000001.log']);
    assert.ok(journal.bytes > 0);
    assert.equal(await journal.checkpoint(), true);
    assert.equal(seam.state.syncs.get(projectFile('hot')), 1);
    assert.equal(seam.state.syncs.get(projectFile('cold')), 1);
    assert.equal(seam.state.syncs.get(join(dir, 'projects')), 1, 'the folder once');
    assert.equal(JSON.parse(await readFile(projectFile('hot'), 'utf8')).name, 'v5');
    assert.deepEqual(journalFiles(), [], 'the covered journal file is deleted');
    assert.equal(journal.bytes, 0);
    assert.equal(writer.pending, 0);
    assert.ok(journal.lastCheckpointAt! <= Date.now());
    // The next change goes to a new file; a deletion's folder is fsynced at the next checkpoint.
    await commit([change(null, 'cold'), project('cold')]);
    assert.deepEqual(journalFiles(), ['00000002.log']);
    assert.equal(await journal.checkpoint(), true);
    assert.equal(seam.state.syncs.get(join(dir, 'projects')), 2);
    assert.deepEqual(journalFiles(), []);
  });

  it('a checkpoint whose fsync fails keeps the journal files, reports it, and completes once the disk recovers', async () => {
    await commit([change(project('a')), undefined]);
    seam.state.failSync = 'a.json';
    assert.equal(await journal.checkpoint(), false);
    assert.deepEqual(journalFiles(), ['00000001.log'], 'kept: the entity file is not durable');
    assert.match(writer.failing!, /fsync failed for .*a\.json: EIO/);
    assert.equal(writer.pending, 1);
    seam.state.failSync = undefined;
    assert.equal(await journal.checkpoint(), true, 'nothing new to write: the fsync alone is retried');
    assert.equal(writer.failing, undefined);
    assert.deepEqual(journalFiles(), []);
    assert.equal(writer.pending, 0);
    // A checkpoint asked for while one runs is the same one.
    assert.equal(journal.checkpoint(), journal.checkpoint());
  });

  it('a journal past maxBytes forces a checkpoint', async () => {
    const big = new Journal({ dataDir: dir, logger: silentLogger, fs: seam.fs, checkpointMs: 60_000, maxBytes: 2000,
      writer: { flush: () => writer.flushAll(), syncWritten: () => writer.syncWritten() }, broadcast: () => {}, restore: () => {} }, 10);
    for (let i = 0; i < 20; i++) {
      const from = big.lastSeq;
      big.change(change(project(`x${i}`, 'x'.repeat(100))), undefined);
      writer.mark(change(project(`x${i}`, 'x'.repeat(100))));
      await big.durable(from);
    }
    await big.close();
    assert.ok(big.lastCheckpointAt !== null);
    assert.ok(journalFiles().every((f) => f > '00000010.log'), 'the early files are gone');
  });

  it('a failed append answers 503 BUSY, rolls every change not yet durable back, hands on no event, and recovers', async () => {
    await commit([change(project('a', 'kept')), undefined]);
    events.length = 0;
    seam.state.failJournal = 'ENOSPC';
    await assert.rejects(commit([change(project('a', 'lost', 2)), project('a', 'kept')], [change(project('b')), undefined]),
      (err: { status: number; code: string }) => err.status === 503 && err.code === 'BUSY');
    assert.deepEqual(restored.map((c) => [c.id, c.entity && (c.entity as Project).name]), [['b', null], ['a', 'kept']], 'newest first');
    assert.deepEqual(events, []);
    assert.match(journal.failure!, /journal append failed for .*00000001\.log: ENOSPC/);
    // A writer that started before the rollback is refused too, even if nothing of its own is queued.
    seam.state.failJournal = undefined;
    await commit([change(project('c')), undefined]);
    assert.equal(journal.failure, undefined);
    assert.deepEqual((events as StoreEvent[]).map((e) => (e.data as { id: string }).id), ['c']);
    // The rollbacks were journaled (a new file): a replay ends in the state the writers were told.
    const { records } = readJournal(dir);
    const last = new Map(records.flatMap((r) => ('kind' in r ? [[r.id, r.entity && (r.entity as Project).name] as const] : [])));
    assert.deepEqual([...last], [['a', 'kept'], ['b', null], ['c', 'c']]);
  });

  it('power loss: what was answered is exactly what survives, once unsynced bytes are dropped', async () => {
    await commit([change(project('a', 'one')), undefined]);
    await writer.flush();
    await journal.checkpoint();
    await commit([change(project('a', 'two', 2)), project('a', 'one')], [change(project('b')), undefined]);
    await writer.flush();
    // Not yet answered: appended to the journal, its fsync not yet done, and an entity file written without fsync.
    let release!: () => void;
    seam.state.hold = new Promise((r) => { release = r; });
    let answeredC = false;
    const from = journal.lastSeq;
    journal.change(change(project('c')), undefined);
    writer.mark(change(project('c')));
    const c = journal.durable(from).then(() => { answeredC = true; });
    await writer.flush();
    await new Promise((r) => setTimeout(r, 20));
    assert.match(readFileSync(join(dir, JOURNAL_FOLDER, '00000002.log'), 'utf8'), /"i":"c"/, 'appended');
    assert.equal(answeredC, false);
    // Power loss: every file goes back to its last fsynced bytes (never fsynced: gone).
    for (const [path, bytes] of seam.synced) writeFileSync(path, bytes);
    for (const name of ['b.json', 'c.json']) if (!seam.synced.has(join(dir, 'projects', name))) await rm(join(dir, 'projects', name), { force: true });
    const { records } = readJournal(dir);
    const state = new Map<string, string | null>([['a', JSON.parse(await readFile(projectFile('a'), 'utf8')).name]]);
    for (const r of records) if ('kind' in r) state.set(r.id, r.entity && (r.entity as Project).name);
    assert.deepEqual(Object.fromEntries(state), { a: 'two', b: 'b' });
    release();
    await c;
  });
});
