/**
 * SPEC §3 — the WebSocket: hello, the event envelope and seq, events before the
 * HTTP answer, the data of every project/task/subtask event, ping/pong, ignored
 * messages, 1009 for big messages, server pings, 1013 for slow clients, 1001 on stop.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { client, EventLog, sleep, startTestServer, type TestServer, waitFor, type WsMessage } from '../helpers.ts';

const tick = () => new Promise((r) => setImmediate(r));
const wsUrl = (url: string, path = '/') => url.replace(/^http/, 'ws') + path;

/** Opens a plain `ws` client and resolves with its first message (and the client). */
function openRaw(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<{ ws: WebSocket; first: any }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(url), options);
    ws.once('message', (data) => resolve({ ws, first: JSON.parse(data.toString()) }));
    ws.once('error', reject);
  });
}

const closeCode = (ws: WebSocket) => new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));

/** Every event since `clear()` has the envelope and seq grows by exactly 1. */
function assertEnvelopes(list: WsMessage[]) {
  for (const m of list) {
    assert.deepEqual(Object.keys(m).sort(), ['data', 'event', 'seq', 'timestamp', 'type']);
    assert.equal(m.event, m.type);
    assert.ok(Number.isInteger(m.seq));
    assert.ok(Number.isInteger(m.timestamp));
  }
  for (let i = 1; i < list.length; i++) assert.equal(list[i].seq, list[i - 1].seq! + 1, `seq at ${i}`);
}

interface Frame { opcode: number; payload: Buffer }

/** Splits unmasked server frames out of `buffer`; returns the frames and what is left. */
function parseFrames(buffer: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let at = 0;
  for (;;) {
    if (buffer.length - at < 2) break;
    const opcode = buffer[at] & 0x0f;
    let length = buffer[at + 1] & 0x7f;
    let header = 2;
    if (length === 126) {
      if (buffer.length - at < 4) break;
      length = buffer.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      if (buffer.length - at < 10) break;
      length = Number(buffer.readBigUInt64BE(at + 2));
      header = 10;
    }
    if (buffer.length - at < header + length) break;
    frames.push({ opcode, payload: buffer.subarray(at + header, at + header + length) });
    at += header + length;
  }
  return { frames, rest: buffer.subarray(at) };
}

/** A WebSocket handshake done by hand over TCP; resolves once the 101 is read, with what followed it. */
function rawUpgrade(url: string): Promise<{ socket: Socket; leftover: Buffer }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.write(`GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
        + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.pause();
      const head = received.subarray(0, end).toString();
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`upgrade refused: ${head}`));
      resolve({ socket, leftover: received.subarray(end + 4) });
    };
    socket.on('data', onData);
  });
}

describe('§3 WebSocket', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;

  before(async () => {
    server = await startTestServer();
    api = client(server.url);
  });
  after(() => server.cleanup());

  it('sends hello {serverId, seq:0} first on a fresh server', async () => {
    const { ws, first } = await openRaw(server.url);
    assert.deepEqual(Object.keys(first).sort(), ['data', 'type']);
    assert.equal(first.type, 'hello');
    assert.deepEqual(Object.keys(first.data).sort(), ['seq', 'serverId']);
    assert.equal(typeof first.data.serverId, 'string');
    assert.ok(first.data.serverId.length > 0);
    assert.equal(first.data.seq, 0);
    ws.terminate();
  });

  it('accepts connections on any path', async () => {
    for (const path of ['/ws', '/some/where?x=1']) {
      const events = await EventLog.connect(server.url, { path });
      assert.equal(events.messages[0].type, 'hello');
      events.close();
    }
  });

  it('the envelope is {type, event, data, seq, timestamp}, event === type, seq grows by exactly 1', async () => {
    const a = await EventLog.connect(server.url);
    const b = await EventLog.connect(server.url);
    const p = (await api.post('/api/projects', { name: 'env' })).body;
    await api.patch(`/api/projects/${p.id}`, { name: 'env 2' });
    const t = (await api.post('/api/tasks', { projectId: p.id, title: 't' })).body;
    await api.post(`/api/tasks/${t.id}/subtasks`, { title: 's' });
    await api.delete(`/api/tasks/${t.id}`);
    await api.delete(`/api/projects/${p.id}`);
    await tick();
    assert.equal(a.events.length, 7);
    assertEnvelopes(a.events);
    assert.deepEqual(b.events, a.events, 'every client sees the same events with the same seq');
    const before = Date.now();
    assert.ok(a.events.every((m) => m.timestamp! <= before && m.timestamp! > before - 60_000));
    a.close();
    b.close();
  });

  it('hello.seq is the last broadcast seq', async () => {
    const events = await EventLog.connect(server.url);
    await api.post('/api/projects', { name: 'seq' });
    await tick();
    const last = events.events.at(-1)!.seq;
    const { ws, first } = await openRaw(server.url);
    assert.equal(first.type, 'hello');
    assert.equal(first.data.seq, last);
    assert.equal(first.data.serverId, (events.messages[0].data as any).serverId);
    ws.terminate();
    // The next broadcast is numbered last + 1.
    const log = await EventLog.connect(server.url);
    await api.post('/api/projects', { name: 'seq 2' });
    await tick();
    assert.equal(log.events[0].seq, last! + 1);
    events.close();
    log.close();
  });

  it('serverId differs between servers, and a restart on the same data counts from 0 again', async () => {
    const dir = server.dataDir;
    const other = await startTestServer();
    try {
      const mine = (await openRaw(server.url));
      const theirs = (await openRaw(other.url));
      assert.notEqual(theirs.first.data.serverId, mine.first.data.serverId);
      assert.equal(theirs.first.data.seq, 0);
      mine.ws.terminate();
      theirs.ws.terminate();
      // Restart `other` on its own folder after a change: new serverId, seq 0.
      await client(other.url).post('/api/projects', { name: 'x' });
      await other.stop();
      const again = await startTestServer({ DATA_DIR: other.dataDir });
      try {
        const hello = (await openRaw(again.url));
        assert.equal(hello.first.data.seq, 0);
        assert.notEqual(hello.first.data.serverId, theirs.first.data.serverId);
        hello.ws.terminate();
      } finally {
        await again.stop();
      }
    } finally {
      await other.cleanup();
    }
    assert.equal(server.dataDir, dir);
  });

  it('events are broadcast before the HTTP answer that caused them', async () => {
    const events = await EventLog.connect(server.url);
    const p = await api.post('/api/projects', { name: 'early' });
    await tick();
    assert.deepEqual(events.types(), ['project:created']);
    const t = await api.post('/api/tasks', { projectId: p.body.id, title: 'early' });
    await tick();
    assert.deepEqual(events.types(), ['project:created', 'task:created']);
    const patched = await api.patch(`/api/tasks/${t.body.id}`, { status: 'in_progress' });
    await tick();
    assert.deepEqual(events.events.at(-1)!.data, patched.body);
    const del = await api.delete(`/api/tasks/${t.body.id}`);
    assert.equal(del.status, 200);
    await tick();
    assert.equal(events.types().at(-1), 'task:deleted');
    events.close();
  });

  it('projects, tasks and subtasks broadcast every event with the exact data', async () => {
    const events = await EventLog.connect(server.url);
    const expected: { type: string; data: unknown }[] = [];
    const expect = (type: string, data: unknown) => expected.push({ type, data });
    const getTask = async (id: string) => (await api.get(`/api/tasks/${id}`)).body;

    const p = (await api.post('/api/projects', { name: 'all' })).body;
    expect('project:created', p);
    expect('project:updated', (await api.put(`/api/projects/${p.id}`, { description: 'd' })).body);
    const t = (await api.post('/api/tasks', { projectId: p.id, title: 'task' })).body;
    expect('task:created', t);
    expect('task:updated', (await api.patch(`/api/tasks/${t.id}`, { priority: 'high' })).body);
    expect('task:updated', (await api.post(`/api/tasks/${t.id}/timeline`, { message: 'm' })).body);
    const sub = (await api.post(`/api/tasks/${t.id}/subtasks`, { title: 'sub' })).body;
    expect('subtask:created', { taskId: t.id, subtask: sub });
    expect('task:updated', await getTask(t.id));
    const subDone = (await api.patch(`/api/tasks/${t.id}/subtasks/${sub.id}`, { completed: true })).body;
    expect('subtask:updated', { taskId: t.id, subtask: subDone });
    expect('task:updated', await getTask(t.id));
    await api.delete(`/api/tasks/${t.id}/subtasks/${sub.id}`);
    expect('subtask:deleted', { taskId: t.id, subtaskId: sub.id });
    expect('task:updated', await getTask(t.id));
    await api.delete(`/api/tasks/${t.id}`);
    expect('task:deleted', { id: t.id });
    await api.delete(`/api/projects/${p.id}`);
    expect('project:deleted', { id: p.id });
    await tick();

    assert.deepEqual(events.events.map(({ type, data }) => ({ type, data })), expected);
    assertEnvelopes(events.events);
    events.close();
  });

  it('a request that changes nothing or fails broadcasts nothing', async () => {
    const p = (await api.post('/api/projects', { name: 'quiet' })).body;
    const t = (await api.post('/api/tasks', { projectId: p.id, title: 'quiet' })).body;
    const events = await EventLog.connect(server.url);
    await api.patch(`/api/projects/${p.id}`, {});
    await api.patch(`/api/tasks/${t.id}`, { title: 'quiet' });
    await api.patch(`/api/tasks/${t.id}`, { title: '' });
    await api.post('/api/tasks', { projectId: 'proj_0_none', title: 'x' });
    await api.delete(`/api/projects/${p.id}`);
    await tick();
    assert.deepEqual(events.types(), []);
    events.close();
  });

  it('answers {"type":"ping"} with exactly {"type":"pong"}', async () => {
    const events = await EventLog.connect(server.url);
    events.ws.send(JSON.stringify({ type: 'ping' }));
    const pong = await events.next((m) => m.type === 'pong');
    assert.deepEqual(pong, { type: 'pong' });
    events.close();
  });

  it('ignores garbage, binary and non-ping messages, and the connection stays usable', { timeout: 10_000 }, async () => {
    const events = await EventLog.connect(server.url);
    const closed = closeCode(events.ws);
    for (const junk of ['hello', '{', '', 'null', '[]', '42', '"ping"', '{"type":"other"}', '{"type":null}', '{"type":["ping"]}']) {
      events.ws.send(junk);
    }
    events.ws.send(Buffer.from([0, 1, 2, 0xff, 0xfe]), { binary: true });
    events.ws.send(JSON.stringify({ type: 'ping' }));
    await events.next((m) => m.type === 'pong');
    const p = (await api.post('/api/projects', { name: 'still here' })).body;
    await tick();
    assert.equal(events.ws.readyState, WebSocket.OPEN);
    assert.deepEqual(events.messages.map((m) => m.type), ['hello', 'pong', 'project:created']);
    assert.deepEqual(events.events[0].data, p);
    assert.equal((await api.get('/health')).status, 200);
    events.close();
    await closed;
  });

  it('closes a connection that sends a message over 64 KiB with 1009; 64 KiB exactly is fine', { timeout: 10_000 }, async () => {
    const { ws } = await openRaw(server.url);
    const pongs: string[] = [];
    ws.on('message', (d) => pongs.push(d.toString()));
    const exact = JSON.stringify({ type: 'ping', pad: '' });
    ws.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(64 * 1024 - exact.length) }));
    await waitFor(() => pongs.length === 1);
    assert.equal(ws.readyState, WebSocket.OPEN);
    const code = closeCode(ws);
    ws.send('x'.repeat(64 * 1024 + 1));
    assert.equal(await code, 1009);
    // Others are unaffected.
    const other = await EventLog.connect(server.url);
    other.close();
  });
});

describe('§3 WebSocket keep-alive (WS_PING_MS)', () => {
  let server: TestServer;

  before(async () => { server = await startTestServer({ WS_PING_MS: '50' }); });
  after(() => server.cleanup());

  it('a client that answers pings stays connected; one that does not is terminated', { timeout: 10_000 }, async () => {
    const good = await openRaw(server.url);
    let pings = 0;
    good.ws.on('ping', () => pings++);
    const silent = await openRaw(server.url, { autoPong: false });
    let silentPings = 0;
    silent.ws.on('ping', () => silentPings++);
    const silentClosed = closeCode(silent.ws);
    assert.equal(server.hub.clientCount, 2);
    await silentClosed;
    assert.ok(silentPings >= 1, 'the silent client was pinged before being dropped');
    await sleep(300);
    assert.equal(good.ws.readyState, WebSocket.OPEN);
    assert.ok(pings >= 3, `the good client was pinged (${pings})`);
    await waitFor(() => server.hub.clientCount === 1);
    good.ws.terminate();
  });
});

describe('§3 WebSocket slow clients (WS_MAX_BUFFER_BYTES)', () => {
  let server: TestServer;

  before(async () => { server = await startTestServer({ WS_MAX_BUFFER_BYTES: '1024' }); });
  after(() => server.cleanup());

  it('closes a client that does not read with 1013 instead of buffering without limit', { timeout: 60_000 }, async () => {
    const api = client(server.url);
    const { socket, leftover } = await rawUpgrade(server.url);
    assert.equal(server.hub.clientCount, 1);
    // The client reads nothing while ~16 MB of events pile up (more than the kernel buffers hold).
    const p = (await api.post('/api/projects', { name: 'slow' })).body;
    const t = (await api.post('/api/tasks', { projectId: p.id, title: 'big' })).body;
    const broadcasts = 40;
    for (let i = 0; i < broadcasts - 2; i++) {
      const res = await api.patch(`/api/tasks/${t.id}`, { description: String(i % 10).repeat(400_000) });
      assert.equal(res.status, 200);
    }
    // Now read everything that was sent: some events, then a close frame with 1013.
    let buffer = leftover;
    const frames: Frame[] = [];
    socket.on('error', () => {});
    const closeFrame = new Promise<Frame | undefined>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        const parsed = parseFrames(Buffer.concat([buffer, chunk]));
        buffer = parsed.rest;
        frames.push(...parsed.frames);
        const close = parsed.frames.find((f) => f.opcode === 0x8);
        if (close) resolve(close);
      });
      socket.on('close', () => resolve(undefined));
      socket.resume();
    });
    const close = await closeFrame;
    socket.destroy();
    assert.ok(close, 'a close frame arrived');
    assert.equal(close.payload.readUInt16BE(0), 1013);
    const texts = frames.filter((f) => f.opcode === 0x1);
    assert.equal(JSON.parse(texts[0].payload.toString()).type, 'hello');
    assert.ok(texts.length - 1 < broadcasts, `not every event was queued (${texts.length - 1} of ${broadcasts})`);
    await waitFor(() => server.hub.clientCount === 0);
  });
});

describe('§3 WebSocket on graceful stop', () => {
  it('closes every client with 1001', { timeout: 10_000 }, async () => {
    const server = await startTestServer();
    try {
      const a = await EventLog.connect(server.url);
      const b = await EventLog.connect(server.url);
      const codes = Promise.all([closeCode(a.ws), closeCode(b.ws)]);
      await server.stop();
      assert.deepEqual(await codes, [1001, 1001]);
    } finally {
      await server.cleanup();
    }
  });
});
