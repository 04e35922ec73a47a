import assert from 'node:assert/strict';
import { readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { acquireLock, LockError } from '../../src/persistence/lock.ts';
import { tempDir } from '../helpers.ts';

describe('§7 lock', () => {
  let dir: string;
  beforeEach(async () => { dir = await tempDir(); });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('writes the pid, refuses a second holder in this process, and releases', async () => {
    const release = await acquireLock(dir);
    assert.equal(await readFile(join(dir, '.lock'), 'utf8'), `${process.pid}\n`);
    await assert.rejects(acquireLock(dir), LockError);
    await release();
    assert.deepEqual(await readdir(dir), []);
    await (await acquireLock(dir))();
  });

  it('takes over a lock whose process is gone, or that holds garbage', async () => {
    await writeFile(join(dir, '.lock'), '999999999\n');
    await (await acquireLock(dir))();
    await writeFile(join(dir, '.lock'), 'garbage');
    await (await acquireLock(dir))();
  });

  it('refuses a lock held by a live process', async () => {
    await writeFile(join(dir, '.lock'), `${process.ppid}\n`);
    await assert.rejects(acquireLock(dir), new RegExp(`locked by pid ${process.ppid}, which is running but may not be a maestro-server`));
    assert.deepEqual((await readdir(dir)).sort(), ['.lock'], 'no candidate file left behind');
  });

  it('clears a takeover marker abandoned by a dead starter, then takes the stale lock', async () => {
    await writeFile(join(dir, '.lock'), '999999999\n');
    await writeFile(join(dir, '.lock.takeover'), '999999998\n');
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dir, '.lock.takeover'), old, old);
    const release = await acquireLock(dir);
    assert.equal(await readFile(join(dir, '.lock'), 'utf8'), `${process.pid}\n`);
    await release();
    assert.deepEqual(await readdir(dir), []);
  });
});
