/**
 * SPEC §12 — the event feed, `GET /api/events` (Server-Sent Events): hello, then every
 * broadcast as id/event/data with the WebSocket's JSON; resume with Last-Event-ID (a real
 * EventSource through a connection that gets cut) or ?since=&serverId=; Host, Origin and
 * token rules with ?token=; a slow reader cut off; shutdown ends feeds; MAX_EVENT_CLIENTS.
 */
import assert from 'node:assert/strict';
import { type IncomingMessage, request } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { WebSocket } from 'ws';
import { assertError, client, EventLog, sleep, startTestServer, type TestServer, waitFor } from '../helpers.ts';

interface FeedEvent { id?: string; event?: string; data?: string; comment?: string }

/** Splits event-stream text into events (blank-line separated); a trailing partial event is left out. */
function parseFeed(text: string): FeedEvent[] {
  const blocks = text.split('\n\n');
  blocks.pop();
  return blocks.map((block) => {
    const event: FeedEvent = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) event.comment = line.slice(1).trim();
      else {
        const colon = line.indexOf(': ');
        (event as Record<string, string>)[line.slice(0, colon)] = line.slice(colon + 2);
      }
    }
    return event;
  });
}

interface Feed {
  res: IncomingMessage;
  text: () => string;
  events: () => FeedEvent[];
  /** Broadcasts only (no hello, no comments). */
  messages: () => FeedEvent[];
  hello: () => any;
  ended: Promise<'end' | 'aborted'>;
  close: () => void;
}

/** A plain HTTP GET of the feed; resolves with the response (whatever its status) and what it sends. */
function openFeed(url: string, path = '/api/events', headers: Record<string, string> = {}, method = 'GET'): Promise<Feed> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      const ended = new Promise<'end' | 'aborted'>((done) => {
        res.on('end', () => done('end'));
        res.on('aborted', () => done('aborted'));
        res.on('error', () => done('aborted'));
      });
      const events = () => parseFeed(text);
      resolve({
        res, text: () => text, events, ended,
        messages: () => events().filter((e) => e.id !== undefined),
        hello: () => JSON.parse(events().find((e) => e.event === 'hello')!.data!),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The raw bytes of every WebSocket message after the hello, as text. */
async function wsTexts(url: string): Promise<{ texts: string[]; ws: WebSocket }> {
  const log = await EventLog.connect(url);
  const texts: string[] = [];
  log.ws.on('message', (data: Buffer) => texts.push(data.toString()));
  return { texts, ws: log.ws };
}

/** A TCP proxy whose connections can all be cut at once, as a network drop would. */
async function cuttableProxy(port: number): Promise<{ url: string; cut: () => void; close: () => Promise<void> }> {
  const pairs = new Set<[Socket, Socket]>();
  const proxy: Server = createServer((inbound) => {
    const outbound = connect(port, '127.0.0.1');
    const pair: [Socket, Socket] = [inbound, outbound];
    pairs.add(pair);
    inbound.pipe(outbound).pipe(inbound);
    for (const s of pair) s.on('error', () => {}).on('close', () => { pairs.delete(pair); for (const t of pair) t.destroy(); });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`,
    cut: () => { for (const pair of pairs) for (const s of pair) s.destroy(); },
    close: () => new Promise((resolve) => proxy.close(() => resolve())),
  };
}

describe('§12 event feed: GET /api/events', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  before(async () => {
    server = await startTestServer();
    api = client(server.url);
  });
  after(() => server.cleanup());

  it('is text/event-stream: event hello with the hello data, then id/event/data with the WebSocket\'s exact JSON', async () => {
    await api.post('/api/projects', { name: 'before' });
    const ws = await wsTexts(server.url);
    const feed = await openFeed(server.url);
    assert.equal(feed.res.statusCode, 200);
    assert.match(String(feed.res.headers['content-type']), /^text\/event-stream/);
    assert.equal(feed.res.headers['cache-control'], 'no-store');
    await waitFor(() => feed.events().length === 1);
    assert.deepEqual(feed.events()[0], { event: 'hello', data: JSON.stringify({ serverId: server.hub.serverId, seq: server.hub.seq }) });
    const p = (await api.post('/api/projects', { name: 'feed' })).body;
    await api.patch(`/api/projects/${p.id}`, { name: 'feed 2' });
    await api.delete(`/api/projects/${p.id}`);
    await waitFor(() => feed.messages().length === 3 && ws.texts.length === 3);
    const messages = feed.messages();
    assert.deepEqual(messages.map((m) => m.event), ['project:created', 'project:updated', 'project:deleted']);
    assert.deepEqual(messages.map((m) => m.data), ws.texts, 'the same JSON text as the WebSocket');
    assert.deepEqual(messages.map((m) => Number(m.id)), ws.texts.map((t) => JSON.parse(t).seq));
    assert.deepEqual(Object.keys(messages[0]), ['id', 'event', 'data'], 'in this order');
    feed.close();
    ws.ws.terminate();
  });

  it('?since=&serverId= and Last-Event-ID resume like the WebSocket; another serverId gets resync', async () => {
    const start = server.hub.seq;
    const ws = await wsTexts(server.url);
    for (let i = 0; i < 4; i++) await api.post('/api/projects', { name: `resume ${i}` });
    await waitFor(() => ws.texts.length === 4);
    const byQuery = await openFeed(server.url, `/api/events?since=${start + 1}&serverId=${server.hub.serverId}`);
    const byHeader = await openFeed(server.url, '/api/events', { 'Last-Event-ID': String(start + 2) });
    const other = await openFeed(server.url, `/api/events?since=${start}&serverId=nope`);
    await waitFor(() => byQuery.messages().length === 3 && byHeader.messages().length === 2 && other.events().length === 1);
    assert.deepEqual(byQuery.hello(), { serverId: server.hub.serverId, seq: start + 4, replayed: 3 });
    assert.deepEqual(byQuery.messages().map((m) => m.data), ws.texts.slice(1));
    assert.deepEqual(byHeader.hello(), { serverId: server.hub.serverId, seq: start + 4, replayed: 2 });
    assert.deepEqual(byHeader.messages().map((m) => m.data), ws.texts.slice(2));
    assert.deepEqual(other.hello(), { serverId: server.hub.serverId, seq: start + 4, resync: true });
    await sleep(30);
    assert.equal(other.messages().length, 0);
    for (const f of [byQuery, byHeader, other]) f.close();
    ws.ws.terminate();
  });

  it('a real EventSource resumes with Last-Event-ID after its connection is cut: nothing lost, nothing twice', { timeout: 20_000 }, async () => {
    const proxy = await cuttableProxy(server.port);
    const ws = await wsTexts(server.url);
    const start = server.hub.seq;
    const source = new EventSource(`${proxy.url}/api/events`);
    const hellos: any[] = [];
    const got: { id: string; type: string; data: string }[] = [];
    source.addEventListener('hello', (e) => hellos.push(JSON.parse(e.data)));
    for (const type of ['project:created', 'project:updated']) source.addEventListener(type, (e) => got.push({ id: e.lastEventId, type, data: e.data }));
    try {
      await waitFor(() => hellos.length === 1);
      const p = (await api.post('/api/projects', { name: 'es' })).body;
      await waitFor(() => got.length === 1);
      proxy.cut();
      for (let i = 0; i < 5; i++) await api.patch(`/api/projects/${p.id}`, { name: `es ${i}` }); // while it is away
      await waitFor(() => hellos.length === 2, 10_000); // EventSource retries after ~3 s
      await api.patch(`/api/projects/${p.id}`, { name: 'es live' });
      await waitFor(() => got.length === 7);
      assert.deepEqual(hellos[1], { serverId: server.hub.serverId, seq: start + 6, replayed: 5 });
      assert.deepEqual(got.map((g) => g.data), ws.texts, 'the same messages, each once, in order');
      assert.deepEqual(got.map((g) => Number(g.id)), Array.from({ length: 7 }, (_, i) => start + 1 + i));
    } finally {
      source.close();
      ws.ws.terminate();
      await proxy.close();
    }
  });

  it('HEAD answers the feed\'s headers and no body; other methods are 405 with Allow: GET', async () => {
    const head = await openFeed(server.url, '/api/events', {}, 'HEAD');
    assert.equal(head.res.statusCode, 200);
    assert.match(String(head.res.headers['content-type']), /^text\/event-stream/);
    assert.equal(await head.ended, 'end');
    assert.equal(head.text(), '');
    const post = await api.post('/api/events', {});
    assertError(post, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(post.headers.allow, 'GET');
    await waitFor(() => server.hub.clientCount === 0);
  });
});

describe('§12 event feed: Host, Origin and token rules', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ MAESTRO_TOKEN: 'sekret' }); });
  after(() => server.cleanup());

  const refused = async (path: string, headers: Record<string, string>, status: number, code: string) => {
    const res = await client(server.url).get(path, undefined, { headers });
    assertError(res, status, code);
  };

  it('needs the token: missing or wrong is 401; ?token= or the Bearer header opens the feed', async () => {
    await refused('/api/events', {}, 401, 'UNAUTHORIZED');
    await refused('/api/events?token=wrong', {}, 401, 'UNAUTHORIZED');
    await refused('/api/events', { Authorization: 'Bearer wrong' }, 401, 'UNAUTHORIZED');
    for (const [path, headers] of [['/api/events?token=sekret', {}], ['/api/events', { Authorization: 'Bearer sekret' }]] as const) {
      const feed = await openFeed(server.url, path, headers);
      assert.equal(feed.res.statusCode, 200, path);
      await waitFor(() => feed.events().length === 1);
      assert.equal(feed.events()[0].event, 'hello');
      feed.close();
    }
  });

  it('?token= is accepted on the feed only, as on upgrades; plain routes still need the header', async () => {
    await refused('/api/projects?token=sekret', {}, 401, 'UNAUTHORIZED');
  });

  it('a foreign Host or Origin is 403, even with the token; a loopback Origin gets CORS headers', async () => {
    await refused('/api/events?token=sekret', { Host: 'evil.example' }, 403, 'FORBIDDEN');
    await refused('/api/events?token=sekret', { Origin: 'https://evil.example' }, 403, 'FORBIDDEN');
    const feed = await openFeed(server.url, '/api/events?token=sekret', { Origin: 'http://localhost:5173' });
    assert.equal(feed.res.statusCode, 200);
    assert.equal(feed.res.headers['access-control-allow-origin'], 'http://localhost:5173');
    feed.close();
    await waitFor(() => server.hub.clientCount === 0);
  });

  it('a real EventSource with ?token= gets the hello', { timeout: 10_000 }, async () => {
    const source = new EventSource(`${server.url}/api/events?token=sekret`);
    try {
      const hello = await new Promise<any>((resolve) => source.addEventListener('hello', (e) => resolve(JSON.parse(e.data))));
      assert.equal(hello.serverId, server.hub.serverId);
    } finally {
      source.close();
    }
  });
});

describe('§12 event feed: a slow reader is cut off (WS_MAX_BUFFER_BYTES)', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ WS_MAX_BUFFER_BYTES: '1024' }); });
  after(() => server.cleanup());

  it('a feed that does not read is disconnected instead of buffering without limit', { timeout: 60_000 }, async () => {
    const api = client(server.url);
    const { hostname, port } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    socket.write(`GET /api/events HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`);
    await waitFor(() => server.hub.clientCount === 1);
    socket.pause();
    const p = (await api.post('/api/projects', { name: 'slow' })).body;
    for (let i = 0; i < 40 && server.hub.clientCount > 0; i++) {
      const res = await api.patch(`/api/projects/${p.id}`, { description: String(i % 10).repeat(400_000) });
      assert.equal(res.status, 200);
    }
    await waitFor(() => server.hub.clientCount === 0);
    let text = '';
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (d) => (text += d.toString('latin1'))).on('error', () => {});
    socket.resume();
    await closed;
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.ok(text.includes('event: hello'));
    assert.ok(!text.endsWith('0\r\n\r\n'), 'cut off, not ended');
    assert.ok(text.length < 40 * 400_000, `not everything was queued (${text.length} bytes)`);
  });
});

describe('§12 event feed on shutdown', () => {
  it('stop ends every feed cleanly and does not hang', { timeout: 15_000 }, async () => {
    const server = await startTestServer();
    try {
      const feeds = [await openFeed(server.url), await openFeed(server.url)];
      const source = new EventSource(`${server.url}/api/events`);
      await new Promise((resolve) => source.addEventListener('hello', resolve));
      const ws = await EventLog.connect(server.url);
      assert.equal(server.hub.clientCount, 4);
      const t0 = Date.now();
      await server.stop();
      assert.ok(Date.now() - t0 < 3000, `stopped in ${Date.now() - t0} ms`);
      for (const feed of feeds) assert.equal(await feed.ended, 'end', 'the response ended properly, not cut');
      assert.equal(server.hub.clientCount, 0);
      source.close();
      ws.close();
    } finally {
      await server.cleanup();
    }
  });
});

describe('§12 MAX_EVENT_CLIENTS', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ MAX_EVENT_CLIENTS: '2' }); });
  after(() => server.cleanup());

  /** A WebSocket upgrade that is refused: the status and the JSON body. */
  const refusedUpgrade = () => new Promise<{ status: number; text: string; body: any }>((resolve, reject) => {
    const ws = new WebSocket(server.url.replace(/^http/, 'ws'));
    ws.on('open', () => reject(new Error('accepted')));
    ws.on('error', () => {});
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, text, body: JSON.parse(text) }));
    });
  });

  it('counts WebSocket and feed clients together; one more of either kind is 503 BUSY', async () => {
    const ws = await EventLog.connect(server.url);
    const feed = await openFeed(server.url);
    await waitFor(() => server.hub.clientCount === 2);
    const busyFeed = await client(server.url).get('/api/events');
    assertError(busyFeed, 503, 'BUSY');
    const busyWs = await refusedUpgrade();
    assertError(busyWs, 503, 'BUSY');
    ws.close();
    await waitFor(() => server.hub.clientCount === 1);
    const again = await EventLog.connect(server.url);
    assert.equal(server.hub.clientCount, 2);
    feed.close();
    await waitFor(() => server.hub.clientCount === 1);
    const feedAgain = await openFeed(server.url);
    assert.equal(feedAgain.res.statusCode, 200);
    again.close();
    feedAgain.close();
  });
});
