import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiError } from '../../src/errors.ts';
import { WriteGate } from '../../src/http/write-gate.ts';
import { sleep } from '../helpers.ts';

const busy = (e: ApiError) => e.status === 503 && e.code === 'BUSY' && e.headers?.['Retry-After'] === '1';

describe('write gate (SPEC §9: once shutdown begins no change is accepted)', () => {
  it('runs changes until closed, then refuses them; drained waits for the ones already running', async () => {
    const gate = new WriteGate({ waitForRoom: async () => {} });
    assert.equal(await gate.run(() => 'made'), 'made');
    let finish!: () => void;
    const slow = gate.run(() => new Promise<string>((r) => { finish = () => r('slow made'); }));
    await sleep(1);
    gate.close();
    await assert.rejects(gate.run(() => 'late'), busy);
    let drained = false;
    const draining = gate.drained().then(() => { drained = true; });
    await sleep(5);
    assert.equal(drained, false, 'a change past the gate is waited for');
    finish();
    assert.equal(await slow, 'slow made');
    await draining;
    await gate.drained();
  });

  it('a change waiting for room when shutdown begins is refused, not made', async () => {
    let room!: () => void;
    const gate = new WriteGate({ waitForRoom: () => new Promise<void>((r) => { room = r; }) });
    let made = false;
    const waiting = gate.run(() => { made = true; });
    await sleep(1);
    gate.close();
    room();
    await assert.rejects(waiting, busy);
    assert.equal(made, false);
  });

  it('with a journal, answers only once the change is durable, and passes its 503 on', async () => {
    let durable!: () => void;
    const seen: number[] = [];
    const journal = {
      lastSeq: 4,
      durable: (from: number) => {
        seen.push(from);
        return from === 5 ? Promise.reject(Object.assign(new Error('journal'), { status: 503, code: 'BUSY', headers: { 'Retry-After': '1' } }))
          : new Promise<void>((r) => { durable = r; });
      },
    };
    const gate = new WriteGate({ waitForRoom: async () => {} }, journal);
    let answered = false;
    const run = gate.run(() => { journal.lastSeq = 5; return 'made'; }).then((v) => { answered = true; return v; });
    await sleep(1);
    assert.equal(answered, false, 'not answered before its records are durable');
    assert.deepEqual(seen, [4], 'waits for what came after the seq before the change');
    durable();
    assert.equal(await run, 'made');
    await assert.rejects(gate.run(() => 'refused'), busy);
    await gate.drained();
  });
});
