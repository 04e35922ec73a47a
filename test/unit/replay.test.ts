import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { greet, parseSeq, ReplayBuffer, type SentMessage } from '../../src/events/replay.ts';

/** A message whose frame is `bytes` long (the content does not matter to the buffer). */
const message = (seq: number, bytes = 10): SentMessage => {
  const frame = Buffer.alloc(bytes, seq % 256);
  return { seq, type: 'task:updated', frame, json: frame.subarray(2) };
};

function filled(maxCount: number, maxBytes: number, count: number, bytes = 10) {
  const buffer = new ReplayBuffer(maxCount, maxBytes);
  for (let seq = 1; seq <= count; seq++) buffer.add(message(seq, bytes));
  return buffer;
}

const held = (buffer: ReplayBuffer) => {
  const seqs: number[] = [];
  for (let seq = buffer.first; seq <= buffer.last; seq++) seqs.push(buffer.get(seq)!.seq);
  return seqs;
};

describe('§12 ReplayBuffer', () => {
  it('holds the last EVENT_BUFFER messages, the very objects added, oldest dropped first', () => {
    const buffer = new ReplayBuffer(3, 1000);
    const added = [1, 2, 3, 4, 5].map((seq) => message(seq));
    for (const m of added) buffer.add(m);
    assert.deepEqual(held(buffer), [3, 4, 5]);
    assert.equal(buffer.get(5), added[4], 'the same bytes, not a copy');
    assert.equal(buffer.get(2), undefined);
    assert.equal(buffer.get(6), undefined);
    assert.equal(buffer.size, 3);
    assert.equal(buffer.heldBytes, 30);
  });

  it('never holds more than EVENT_BUFFER_BYTES: the oldest go first', () => {
    const buffer = filled(100, 25, 5);
    assert.deepEqual(held(buffer), [4, 5]);
    assert.equal(buffer.heldBytes, 20);
    buffer.add(message(6, 25));
    assert.deepEqual(held(buffer), [6], 'one big message pushes out all older ones');
    assert.equal(buffer.heldBytes, 25);
  });

  it('a message larger than the byte bound is not held at all, and the count goes on', () => {
    const buffer = filled(100, 25, 2);
    buffer.add(message(3, 26));
    assert.equal(buffer.size, 0);
    assert.equal(buffer.heldBytes, 0);
    assert.equal(buffer.first, 4);
    assert.equal(buffer.last, 3);
    assert.equal(buffer.holdsAfter(3), true, 'nothing missed when up to date');
    assert.equal(buffer.holdsAfter(2), false);
  });

  it('EVENT_BUFFER=0 holds nothing', () => {
    const buffer = filled(0, 1000, 4);
    assert.equal(buffer.size, 0);
    assert.equal(buffer.last, 4);
    assert.equal(buffer.get(4), undefined);
    assert.equal(buffer.holdsAfter(4), true);
    assert.equal(buffer.holdsAfter(3), false);
  });

  it('holdsAfter: every message after since is held, and since is not in the future', () => {
    const buffer = filled(3, 1000, 5);
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((since) => buffer.holdsAfter(since)), [false, true, true, true, true, false]);
    const empty = new ReplayBuffer(3, 1000);
    assert.equal(empty.holdsAfter(0), true);
    assert.equal(empty.holdsAfter(1), false);
  });

  it('refuses a seq that is not the next one', () => {
    const buffer = filled(3, 1000, 2);
    assert.throws(() => buffer.add(message(4)), /seq 4 after 2/);
    assert.throws(() => buffer.add(message(2)), /seq 2 after 2/);
  });

  it('wraps around its slots many times without mixing messages up', () => {
    const buffer = filled(7, 1_000_000, 1000, 3);
    assert.deepEqual(held(buffer), [994, 995, 996, 997, 998, 999, 1000]);
  });
});

describe('§12 parseSeq', () => {
  it('accepts non-negative decimal integers', () => {
    assert.equal(parseSeq('0'), 0);
    assert.equal(parseSeq('42'), 42);
    assert.equal(parseSeq(' 7 '), 7);
    assert.equal(parseSeq('9007199254740991'), Number.MAX_SAFE_INTEGER);
  });

  it('treats anything else as absent', () => {
    for (const raw of [undefined, null, '', ' ', '-1', '1.5', '1e3', '0x10', 'abc', '12abc', '+3', '99999999999999999', 'NaN', 'Infinity']) {
      assert.equal(parseSeq(raw), undefined, String(raw));
    }
  });
});

describe('§12 greet: the hello and where the client starts', () => {
  const buffer = filled(5, 1000, 20); // holds 16..20
  const id = 'server-a';

  it('no resume asked: the plain hello {serverId, seq}, live from the next broadcast', () => {
    assert.deepEqual(greet(buffer, id, { since: null, serverId: null }), { hello: { serverId: id, seq: 20 }, from: 21 });
    assert.deepEqual(greet(buffer, id, { since: '', serverId: '' }), { hello: { serverId: id, seq: 20 }, from: 21 });
  });

  it('since and this serverId, all held: replayed n, from since + 1', () => {
    assert.deepEqual(greet(buffer, id, { since: '17', serverId: id }), { hello: { serverId: id, seq: 20, replayed: 3 }, from: 18 });
    assert.deepEqual(greet(buffer, id, { since: '15', serverId: id }), { hello: { serverId: id, seq: 20, replayed: 5 }, from: 16 });
    assert.deepEqual(greet(buffer, id, { since: '20', serverId: id }), { hello: { serverId: id, seq: 20, replayed: 0 }, from: 21 });
  });

  it('a since without serverId is taken as this server\'s', () => {
    assert.deepEqual(greet(buffer, id, { since: '18', serverId: null }).hello, { serverId: id, seq: 20, replayed: 2 });
  });

  const resync = { hello: { serverId: id, seq: 20, resync: true }, from: 21 };

  it('resync: another serverId, a since older than the buffer, or ahead of this server', () => {
    assert.deepEqual(greet(buffer, id, { since: '18', serverId: 'server-b' }), resync);
    assert.deepEqual(greet(buffer, id, { since: '14', serverId: id }), resync);
    assert.deepEqual(greet(buffer, id, { since: '0', serverId: id }), resync);
    assert.deepEqual(greet(buffer, id, { since: '21', serverId: id }), resync);
  });

  it('resync: a malformed since is absent, so a client that asked to resume must reload', () => {
    for (const since of ['abc', '-1', '1.5', '1e1', '18x']) {
      assert.deepEqual(greet(buffer, id, { since, serverId: id }), resync, since);
      assert.deepEqual(greet(buffer, id, { since, serverId: null }), resync, since);
    }
    assert.deepEqual(greet(buffer, id, { since: null, serverId: id }), resync, 'a serverId and no since');
  });

  it('Last-Event-ID wins over the URL\'s since (an EventSource keeps its first URL)', () => {
    assert.deepEqual(greet(buffer, id, { since: '16', serverId: id, lastEventId: '19' }).hello, { serverId: id, seq: 20, replayed: 1 });
    assert.deepEqual(greet(buffer, id, { since: null, serverId: null, lastEventId: '19' }).hello, { serverId: id, seq: 20, replayed: 1 });
    assert.deepEqual(greet(buffer, id, { since: '19', serverId: 'server-b', lastEventId: '19' }), resync);
  });
});
