import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { seamOps, type FileOps } from '../../src/persistence/file-ops.ts';
import { FileThread } from '../../src/persistence/file-thread.ts';
import { realFs } from '../../src/persistence/fs.ts';
import { tempDir } from '../helpers.ts';

// The same expectations of both implementations: the server's thread and the test seam.
for (const [name, make] of [['FileThread', () => new FileThread('test')], ['seamOps', () => seamOps(realFs)]] as const) {
  describe(`${name}: whole file operations`, () => {
    let dir: string;
    let ops: FileOps;
    before(async () => { dir = await tempDir(); ops = make(); });
    after(async () => {
      if (ops instanceof FileThread) await ops.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('writeAtomic replaces the file by rename and leaves no temporary file', async () => {
      const path = join(dir, 'a.json');
      await ops.writeAtomic(path, '{"v":1}', false);
      await ops.writeAtomic(path, '{"v":2}', true);
      assert.equal(readFileSync(path, 'utf8'), '{"v":2}');
      assert.deepEqual(readdirSync(dir), ['a.json']);
    });

    it('a failed write rejects with the error code and leaves nothing behind', async () => {
      writeFileSync(join(dir, 'file'), 'x');
      await assert.rejects(ops.writeAtomic(join(dir, 'file', 'b.json'), '{}', false), { code: 'ENOTDIR' });
      await assert.rejects(ops.writeAtomic(join(dir, 'missing', 'b.json'), '{}', false), { code: 'ENOENT' });
      assert.deepEqual(readdirSync(dir).sort(), ['a.json', 'file']);
    });

    it('mkdir answers the first folder it made; sync and remove (a missing file is fine)', async () => {
      assert.equal(await ops.mkdir(join(dir, 'x', 'y')), join(dir, 'x'));
      assert.equal(await ops.mkdir(join(dir, 'x', 'y')), undefined);
      await ops.sync(join(dir, 'x', 'y'));
      await ops.sync(join(dir, 'a.json'));
      await assert.rejects(ops.sync(join(dir, 'nope')), { code: 'ENOENT' });
      await ops.remove(join(dir, 'a.json'));
      await ops.remove(join(dir, 'a.json'));
      await assert.rejects(ops.remove(join(dir, 'x')), (err: NodeJS.ErrnoException) => err.code === 'EISDIR' || err.code === 'EPERM');
    });

    it('append keeps the file open across appends; release closes it; a bad path rejects and is retried fresh', async () => {
      const path = join(dir, 'j.log');
      await ops.append(path, 'one\n');
      await ops.append(path, 'two\n');
      await ops.release(path);
      await ops.release(path);
      await ops.append(path, 'three\n');
      await ops.release(path);
      assert.equal(readFileSync(path, 'utf8'), 'one\ntwo\nthree\n');
      const bad = join(dir, 'later', 'j.log');
      await assert.rejects(ops.append(bad, 'x'), { code: 'ENOENT' });
      mkdirSync(join(dir, 'later'));
      await ops.append(bad, 'x\n');
      await ops.release(bad);
      assert.equal(readFileSync(bad, 'utf8'), 'x\n');
    });
  });
}

describe('FileThread: the thread itself', () => {
  it('many calls at once are answered each with its own result, in order of arrival on the thread', async () => {
    const dir = await tempDir();
    const thread = new FileThread('many');
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => thread.writeAtomic(join(dir, `f${i}.json`), String(i), false).then(() => i)));
    assert.deepEqual(results, Array.from({ length: 200 }, (_, i) => i));
    assert.equal(readFileSync(join(dir, 'f199.json'), 'utf8'), '199');
    await thread.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts its thread at the first call, not before (a server that only reads carries none)', async () => {
    const thread = new FileThread('lazy');
    const started = () => (thread as unknown as { started?: object }).started !== undefined;
    assert.equal(started(), false);
    await thread.close();
    const other = new FileThread('used');
    await other.sync('.');
    assert.equal((other as unknown as { started?: object }).started !== undefined, true);
    await other.close();
  });

  it('close waits for the calls already made, then every later call is refused', async () => {
    const dir = await tempDir();
    const thread = new FileThread('closing');
    const writes = Array.from({ length: 50 }, (_, i) => thread.writeAtomic(join(dir, `f${i}.json`), 'x', true));
    await thread.close();
    await Promise.all(writes);
    assert.equal(readdirSync(dir).length, 50);
    await assert.rejects(thread.sync(dir), /file thread closing closed/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a thread that dies fails the calls waiting, with a reason, and the next call starts a new one', async () => {
    const dir = await tempDir();
    const thread = new FileThread('dying');
    await thread.append(join(dir, 'j.log'), 'one\n');
    const waiting = Array.from({ length: 20 }, (_, i) => thread.writeAtomic(join(dir, `f${i}.json`), 'x'.repeat(1 << 16), true));
    await (thread as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    const outcomes = await Promise.allSettled(waiting);
    const failed = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
    assert.ok(failed.length > 0, 'some calls were still waiting when the thread died');
    for (const f of failed) assert.match(f.reason.message, /file thread dying stopped/);
    await thread.append(join(dir, 'j.log'), 'two\n'); // a new thread: the file opened again
    await thread.writeAtomic(join(dir, 'after.json'), 'y', false);
    assert.equal(readFileSync(join(dir, 'j.log'), 'utf8'), 'one\ntwo\n');
    assert.equal(readFileSync(join(dir, 'after.json'), 'utf8'), 'y');
    await thread.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a call blocked in the kernel (a FIFO nobody reads) makes the thread stuckFor, and only past the time given', async () => {
    const { execFileSync } = await import('node:child_process');
    const { constants, openSync, closeSync } = await import('node:fs');
    const dir = await tempDir();
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const thread = new FileThread('stuck');
    assert.equal(thread.stuckFor(0), false, 'no call, not stuck');
    const blocked = thread.append(fifo, 'x'); // open for writing blocks until a reader comes
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(thread.stuckFor(5000), false);
    assert.equal(thread.stuckFor(200), true);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK); // lets the open through
    await blocked.catch(() => {}); // fdatasync of a FIFO fails: either way, answered
    closeSync(reader);
    assert.equal(thread.stuckFor(0), false);
    await thread.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('does not keep an idle process alive', async () => {
    const { spawnSync } = await import('node:child_process');
    const dir = await tempDir();
    const script = join(dir, 'idle.mts');
    writeFileSync(script, `import { FileThread } from ${JSON.stringify(new URL('../../src/persistence/file-thread.ts', import.meta.url).href)};
      const t = new FileThread('idle'); await t.sync('.'); console.log('done');`);
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 10_000 });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'done');
  });
});
