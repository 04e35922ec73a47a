import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedIo } from '../../src/skills/bounded-io.ts';
import { sleep } from '../helpers.ts';

describe('bounded skill I/O (SPEC §8: skill reads never hold up writes)', () => {
  it('runs at most `limit` at once, in order, and passes results and errors on', async () => {
    const io = new BoundedIo(2, 1000);
    let running = 0;
    let most = 0;
    const op = (i: number) => io.run(`op ${i}`, async () => {
      most = Math.max(most, ++running);
      await sleep(10);
      running--;
      if (i === 3) throw new Error('broken');
      return i;
    });
    const results = await Promise.allSettled([0, 1, 2, 3, 4].map(op));
    assert.equal(most, 2);
    assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), [0, 1, 2, 'broken', 4]);
  });

  it('an operation that never ends times out, keeps its slot, and is reported stuck', async () => {
    const io = new BoundedIo(2, 50);
    let release!: () => void;
    const hung = io.run('hung read', () => new Promise<void>((r) => { release = r; }));
    await assert.rejects(hung, /hung read: no answer from the disk within 50 ms/);
    assert.equal(io.stuck, true);
    assert.equal(await io.run('beside it', async () => 'ran'), 'ran', 'the other slot still works');
    release();
    await sleep(5);
    assert.equal(io.stuck, false);
  });

  it('waiting behind slow but healthy operations has no time limit; once every slot is stuck, waiting and new ones are refused', async () => {
    const io = new BoundedIo(1, 40);
    const slow = io.run('slow', () => sleep(30).then(() => 'slow'));
    const behind = io.run('behind', async () => 'behind');
    assert.deepEqual(await Promise.all([slow, behind]), ['slow', 'behind']);
    let release!: () => void;
    const hung = io.run('hung', () => new Promise<void>((r) => { release = r; }));
    const queued = io.run('queued', async () => 'never ran');
    await assert.rejects(hung, /no answer/);
    await assert.rejects(queued, /the disk has not answered/);
    await assert.rejects(io.run('new', async () => 'never ran'), /the disk has not answered/);
    release();
    await sleep(5);
    assert.equal(await io.run('after', async () => 'ran'), 'ran', 'the slot is free once the stuck call returned');
  });
});
