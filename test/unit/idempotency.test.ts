/** SPEC §11 in-process: the remembered answers, their bounds (count, bytes, 24 h) and in-flight repeats. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/errors.ts';
import { clientRequestKey, fingerprint, headerKey, IdempotencyCache } from '../../src/http/idempotency.ts';
import type { Reply } from '../../src/http/respond.ts';

const key = (id: string) => ({ id, sent: id });
const reply = (status: number, json = '{}'): Reply => ({ status, json, headers: { ETag: '"1"', Allow: 'GET' } });

describe('IdempotencyCache', () => {
  it('remembers status, body and ETag only; replays them; another fingerprint is 422', async () => {
    const cache = new IdempotencyCache({ maxKeys: 10 });
    let calls = 0;
    const answer = async () => { calls++; return reply(201, '{"a":1}'); };
    assert.deepEqual(await cache.run(key('k'), 'f1', answer), { reply: reply(201, '{"a":1}'), replayed: false });
    const again = await cache.run(key('k'), 'f1', answer);
    assert.equal(again.replayed, true);
    assert.deepEqual(again.reply, { status: 201, json: Buffer.from('{"a":1}'), headers: { ETag: '"1"' } });
    assert.equal(calls, 1);
    await assert.rejects(cache.run(key('k'), 'f2', answer), (err: ApiError) => err.status === 422 && err.code === 'IDEMPOTENCY_KEY_REUSED');
  });

  it('does not remember 401, 403, 429 or 5xx, nor a failure; their repeats run again', async () => {
    const cache = new IdempotencyCache({ maxKeys: 10 });
    for (const status of [401, 403, 429, 500, 503]) {
      let calls = 0;
      const answer = async () => { calls++; return reply(status); };
      await cache.run(key(`k${status}`), 'f', answer);
      assert.equal((await cache.run(key(`k${status}`), 'f', answer)).replayed, false);
      assert.equal(calls, 2);
    }
    await assert.rejects(cache.run(key('boom'), 'f', async () => { throw new Error('boom'); }), /boom/);
    assert.equal((await cache.run(key('boom'), 'f', async () => reply(200))).replayed, false);
    assert.equal(cache.size, 1);
  });

  it('a repeat while the first is in flight waits for it, then replays it (or runs itself if it was not remembered)', async () => {
    const cache = new IdempotencyCache({ maxKeys: 10 });
    let finish!: (r: Reply) => void;
    const first = cache.run(key('k'), 'f', () => new Promise<Reply>((r) => (finish = r)));
    const second = cache.run(key('k'), 'f', async () => reply(500));
    finish(reply(201, '{"x":1}'));
    assert.equal((await first).replayed, false);
    assert.equal((await second).replayed, true);

    let finishBusy!: (r: Reply) => void;
    const busy = cache.run(key('b'), 'f', () => new Promise<Reply>((r) => (finishBusy = r)));
    const retry = cache.run(key('b'), 'f', async () => reply(201));
    finishBusy(reply(503));
    assert.equal((await busy).reply.status, 503);
    assert.deepEqual([(await retry).replayed, (await retry).reply.status], [false, 201]);
  });

  it('keeps at most maxKeys and maxBytes, dropping the key first seen longest ago; keys expire after 24 h', async () => {
    let now = 0;
    const cache = new IdempotencyCache({ maxKeys: 3, maxBytes: 2000, now: () => now });
    for (const k of ['a', 'b', 'c', 'd']) await cache.run(key(k), 'f', async () => reply(200));
    assert.equal(cache.size, 3);
    assert.equal((await cache.run(key('a'), 'f', async () => reply(200))).replayed, false, 'a was dropped first');
    await cache.run(key('big'), 'f', async () => reply(200, 'x'.repeat(1500)));
    assert.ok(cache.storedBytes <= 2000);
    assert.equal(cache.size, 2);
    now = 24 * 60 * 60 * 1000 - 1;
    assert.equal((await cache.run(key('big'), 'f', async () => reply(500))).replayed, true);
    now += 1;
    assert.equal((await cache.run(key('big'), 'f', async () => reply(201))).replayed, false);
    assert.equal(cache.size, 1);
  });

  it('keys: absent, valid, or 400; fingerprints see method, path and exact bytes', () => {
    assert.equal(headerKey({}), undefined);
    assert.deepEqual(headerKey({ 'idempotency-key': ' ~a ' }), { id: 'header  ~a ', sent: ' ~a ' });
    assert.deepEqual(clientRequestKey({ clientRequestId: 'x' }, 'POST', '/api/tasks'), { id: 'body POST /api/tasks x', sent: 'x' });
    for (const body of [undefined, null, 'text', [], {}]) assert.equal(clientRequestKey(body, 'POST', '/p'), undefined);
    assert.throws(() => clientRequestKey({ clientRequestId: 5 }, 'POST', '/p'), (err: ApiError) => err.status === 400);
    for (const bad of ['', 'x'.repeat(256), 'a\u0001', 'é']) {
      assert.throws(() => headerKey({ 'idempotency-key': bad }), (err: ApiError) => err.status === 400);
    }
    const body = Buffer.from('{"a":1,"b":2}');
    const prints = new Set([
      fingerprint('POST', '/x', body), fingerprint('PUT', '/x', body), fingerprint('POST', '/y', body),
      fingerprint('POST', '/x', Buffer.from('{"b":2,"a":1}')),
    ]);
    assert.equal(prints.size, 4);
    assert.equal(fingerprint('POST', '/x', body), fingerprint('POST', '/x', Buffer.from(body)));
  });
});
