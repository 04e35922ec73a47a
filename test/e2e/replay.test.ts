/**
 * SPEC §12 — replay over the WebSocket: a reconnecting client gets exactly the bytes a
 * connected client got (no gap, no duplicate, in order) while writes keep coming;
 * `resync` for another server, a since older than the buffer (count and bytes), a
 * restart, malformed values.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { client, sleep, startTestServer, type TestServer, waitFor } from '../helpers.ts';

interface Recorder {
  ws: WebSocket;
  hello: { serverId: string; seq: number; replayed?: number; resync?: boolean };
  /** Every message after the hello, as the bytes received. */
  messages: Buffer[];
  lastSeq(): number;
}

/** Connects with `query`, keeps the raw bytes of every message; resolves after the hello (reading stops for `pauseMs` then). */
function record(url: string, query = '', pauseMs = 0): Promise<Recorder> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/${query}`);
  return new Promise((resolve, reject) => {
    const messages: Buffer[] = [];
    let hello: Recorder['hello'] | undefined;
    ws.on('message', (data: Buffer) => {
      if (hello) return void messages.push(data);
      const first = JSON.parse(data.toString());
      assert.equal(first.type, 'hello');
      hello = first.data;
      if (pauseMs) {
        ws.pause();
        setTimeout(() => ws.resume(), pauseMs);
      }
      resolve({ ws, hello: hello!, messages, lastSeq: () => (messages.length ? JSON.parse(messages.at(-1)!.toString()).seq : hello!.seq) });
    });
    ws.once('error', reject);
  });
}

const seqOf = (message: Buffer) => JSON.parse(message.toString()).seq as number;
const resumeQuery = (serverId: string, since: number | string) => `?since=${since}&serverId=${serverId}`;

/** Keeps `lanes` PATCH loops running until `stop()`; each change is one or more broadcasts. */
function steadyWrites(url: string, taskIds: string[], lanes = 3, size = 300) {
  const api = client(url);
  let running = true;
  let count = 0;
  const loops = Array.from({ length: lanes }, async (_, lane) => {
    while (running) {
      const res = await api.patch(`/api/tasks/${taskIds[lane % taskIds.length]}`, { title: `t ${count++}`, description: 'é'.repeat(size + (count % 50)) });
      assert.equal(res.status, 200);
    }
  });
  return { stop: async () => { running = false; await Promise.all(loops); return count; } };
}

describe('§12 replay over the WebSocket, with writes running', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ WS_MAX_BUFFER_BYTES: String(2 * 1024 * 1024) }); });
  after(() => server.cleanup());

  it('across 25 reconnects a client ends with exactly the bytes a connected client got', { timeout: 60_000 }, async () => {
    const api = client(server.url);
    const project = (await api.post('/api/projects', { name: 'replay' })).body;
    const tasks = [];
    for (let i = 0; i < 3; i++) tasks.push((await api.post('/api/tasks', { projectId: project.id, title: `t${i}` })).body.id);
    const reference = await record(server.url);
    const writes = steadyWrites(server.url, tasks);
    await sleep(30);

    let current = await record(server.url);
    const start = current.hello.seq;
    const { serverId } = current.hello;
    const received: Buffer[] = [];
    const replays: number[] = [];
    for (let round = 0; round < 25; round++) {
      await sleep(10 + Math.random() * 60);
      current.ws.terminate(); // whatever was in flight is lost to this connection
      received.push(...current.messages);
      const since = current.lastSeq();
      await sleep(10 + Math.random() * 80);
      current = await record(server.url, resumeQuery(serverId, since));
      assert.equal(current.hello.serverId, serverId);
      assert.equal(current.hello.resync, undefined, `round ${round}: no resync`);
      assert.equal(current.hello.replayed, current.hello.seq - since, `round ${round}: replayed = hello.seq - since`);
      replays.push(current.hello.replayed!);
    }
    const writesDone = await writes.stop();
    const last = server.hub.seq;
    await waitFor(() => current.lastSeq() === last && reference.lastSeq() === last, 10_000);
    received.push(...current.messages);

    const expected = reference.messages.filter((m) => seqOf(m) > start);
    assert.ok(writesDone > 100, `writes kept coming (${writesDone})`);
    assert.ok(replays.filter((n) => n > 0).length >= 20, `most reconnects replayed something: ${replays}`);
    assert.deepEqual(received.map(seqOf), expected.map(seqOf), 'no gap, no duplicate, in order');
    assert.equal(received.length, last - start);
    for (let i = 0; i < expected.length; i++) assert.ok(received[i].equals(expected[i]), `byte-identical at seq ${seqOf(expected[i])}`);
    reference.ws.terminate();
    current.ws.terminate();
  });

  it('replays too big to write at once wait for the reader, and broadcasts meanwhile still arrive once, in order', { timeout: 60_000 }, async () => {
    const api = client(server.url);
    const project = (await api.post('/api/projects', { name: 'big replay' })).body;
    const tasks = [];
    for (let i = 0; i < 3; i++) tasks.push((await api.post('/api/tasks', { projectId: project.id, title: `t${i}` })).body.id);
    const reference = await record(server.url);
    const writes = steadyWrites(server.url, tasks, 3, 30_000); // ~60 KB a message
    let current = await record(server.url);
    const start = current.hello.seq;
    const received: Buffer[] = [];
    const replays: number[] = [];
    for (let round = 0; round < 6; round++) {
      await sleep(50);
      current.ws.terminate();
      received.push(...current.messages);
      const since = current.lastSeq();
      await waitFor(() => server.hub.seq - since >= 80, 20_000); // several MB: more than the sockets hold
      current = await record(server.url, resumeQuery(current.hello.serverId, since), 300);
      assert.equal(current.hello.replayed, current.hello.seq - since, `round ${round}`);
      replays.push(current.hello.replayed!);
    }
    await writes.stop();
    const last = server.hub.seq;
    await waitFor(() => current.lastSeq() === last && reference.lastSeq() === last, 20_000);
    received.push(...current.messages);
    const expected = reference.messages.filter((m) => seqOf(m) > start);
    assert.deepEqual(received.map(seqOf), expected.map(seqOf), 'no gap, no duplicate, in order');
    for (let i = 0; i < expected.length; i++) assert.ok(received[i].equals(expected[i]), `byte-identical at seq ${seqOf(expected[i])}`);
    reference.ws.terminate();
    current.ws.terminate();
  });

  it('a resume at the current seq replays nothing and goes live', async () => {
    const api = client(server.url);
    const first = await record(server.url);
    first.ws.terminate();
    const again = await record(server.url, resumeQuery(first.hello.serverId, first.hello.seq));
    assert.deepEqual(again.hello, { serverId: first.hello.serverId, seq: first.hello.seq, replayed: 0 });
    const p = (await api.post('/api/projects', { name: 'after' })).body;
    await waitFor(() => again.messages.length === 1);
    const message = JSON.parse(again.messages[0].toString());
    assert.equal(message.seq, first.hello.seq + 1);
    assert.deepEqual(message.data, p);
    again.ws.terminate();
  });
});

describe('§12 resync', () => {
  let server: TestServer;
  let serverId: string;
  before(async () => {
    server = await startTestServer({ EVENT_BUFFER: '5' });
    const api = client(server.url);
    for (let i = 0; i < 10; i++) await api.post('/api/projects', { name: `p${i}` });
    serverId = server.hub.serverId;
  });
  after(() => server.cleanup());

  const hello = async (query: string) => {
    const r = await record(server.url, query);
    r.ws.terminate();
    return r.hello;
  };

  it('no since and no serverId: the plain hello', async () => {
    assert.deepEqual(await hello(''), { serverId, seq: 10 });
    assert.deepEqual(await hello('?x=1'), { serverId, seq: 10 });
  });

  it('within EVENT_BUFFER: replayed; older than it (count): resync and no replay', async () => {
    const replay = await record(server.url, resumeQuery(serverId, 5));
    assert.deepEqual(replay.hello, { serverId, seq: 10, replayed: 5 });
    await waitFor(() => replay.messages.length === 5);
    assert.deepEqual(replay.messages.map(seqOf), [6, 7, 8, 9, 10]);
    replay.ws.terminate();
    const tooOld = await record(server.url, resumeQuery(serverId, 4));
    assert.deepEqual(tooOld.hello, { serverId, seq: 10, resync: true });
    await sleep(50);
    assert.equal(tooOld.messages.length, 0, 'nothing replayed');
    tooOld.ws.terminate();
  });

  it('another serverId, or a since ahead of this server: resync', async () => {
    assert.deepEqual(await hello(resumeQuery('someone-else', 8)), { serverId, seq: 10, resync: true });
    assert.deepEqual(await hello(resumeQuery(serverId, 11)), { serverId, seq: 10, resync: true });
    assert.deepEqual(await hello('?since=11'), { serverId, seq: 10, resync: true });
  });

  it('a malformed since is treated as absent: a client that asked to resume gets resync', async () => {
    for (const since of ['abc', '-1', '1.5', '1e1', '%20', '0x5', '8;9']) {
      assert.deepEqual(await hello(resumeQuery(serverId, since)), { serverId, seq: 10, resync: true }, since);
    }
    assert.deepEqual(await hello(`?serverId=${serverId}`), { serverId, seq: 10, resync: true });
  });

  it('older than EVENT_BUFFER_BYTES: resync', async () => {
    const small = await startTestServer({ EVENT_BUFFER_BYTES: '2000' });
    try {
      const api = client(small.url);
      for (let i = 0; i < 6; i++) await api.post('/api/projects', { name: 'p'.repeat(400) });
      const id = small.hub.serverId;
      const { first, last } = small.hub.buffer;
      assert.ok(first > 2 && last === 6, `the byte bound dropped the oldest (holds ${first}..${last})`);
      const ok = await record(small.url, resumeQuery(id, first - 1));
      assert.deepEqual(ok.hello, { serverId: id, seq: 6, replayed: 7 - first });
      ok.ws.terminate();
      const old = await record(small.url, resumeQuery(id, first - 2));
      assert.deepEqual(old.hello, { serverId: id, seq: 6, resync: true });
      old.ws.terminate();
    } finally {
      await small.cleanup();
    }
  });

  it('after a restart: the old serverId gets resync, at the new server\'s seq', { timeout: 20_000 }, async () => {
    const first = await startTestServer();
    let second: TestServer | undefined;
    try {
      const api = client(first.url);
      for (let i = 0; i < 3; i++) await api.post('/api/projects', { name: `r${i}` });
      const before = await record(first.url);
      before.ws.terminate();
      await first.stop();
      second = await startTestServer({ DATA_DIR: first.dataDir });
      await client(second.url).post('/api/projects', { name: 'after restart' });
      const after = await record(second.url, resumeQuery(before.hello.serverId, before.hello.seq));
      assert.notEqual(after.hello.serverId, before.hello.serverId);
      assert.deepEqual(after.hello, { serverId: second.hub.serverId, seq: 1, resync: true });
      after.ws.terminate();
    } finally {
      await second?.stop();
      await first.cleanup();
    }
  });
});
