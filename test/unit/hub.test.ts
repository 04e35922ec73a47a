import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import type { ApiError } from '../../src/errors.ts';
import { FEED_COMMENT } from '../../src/events/feed.ts';
import { Hub, type HubOptions, textFrame } from '../../src/events/hub.ts';
import { silentLogger } from '../../src/log.ts';
import { waitFor } from '../helpers.ts';

const { Receiver } = createRequire(import.meta.url)('ws') as typeof import('ws') & { Receiver: any };

/** Decodes frames the way a real client does, with ws's own receiver. */
function decode(frame: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const receiver = new Receiver({ isServer: false, maxPayload: 0 });
    receiver.on('message', (data: Buffer, isBinary: boolean) => (isBinary ? reject(new Error('binary')) : resolve(data.toString())));
    receiver.on('error', reject);
    receiver.write(frame);
  });
}

describe('textFrame (RFC 6455 §5.2)', () => {
  for (const [size, headerLength, lengthByte] of [[0, 2, 0], [125, 2, 125], [126, 4, 126], [65_535, 4, 126], [65_536, 10, 127], [200_000, 10, 127]]) {
    it(`frames ${size} bytes with a ${headerLength}-byte header that ws decodes`, async () => {
      const text = 'é'.repeat(size >> 1) + 'x'.repeat(size & 1);
      const frame = textFrame(Buffer.from(text));
      assert.equal(frame.length, headerLength + size);
      assert.equal(frame[0], 0x81, 'final text frame');
      assert.equal(frame[1], lengthByte, 'unmasked, length code');
      assert.equal(await decode(frame), text);
    });
  }
});

/** A response that takes bytes only when told to: the replay must wait for it. */
class SlowResponse extends Writable {
  text = '';
  status = 0;
  headers: Record<string, string> = {};
  readonly req = { method: 'GET' };
  paused = true;
  private held: (() => void) | undefined;

  constructor() {
    super({ highWaterMark: 512 });
  }

  writeHead(status: number, headers: Record<string, string>) {
    this.status = status;
    this.headers = headers;
    return this;
  }

  override _write(chunk: Buffer, _encoding: string, done: () => void) {
    this.text += chunk.toString();
    if (this.paused) this.held = done;
    else setImmediate(done);
  }

  /** The server destroyed it (cut it off). */
  cut = false;

  override _destroy(err: Error | null, done: (err: Error | null) => void) {
    this.cut = !this.writableFinished; // not the destroy that follows a clean end
    done(err);
  }

  resume() {
    this.paused = false;
    const done = this.held;
    this.held = undefined;
    done?.();
  }
}

const newHub = (options: Partial<HubOptions> = {}) => new Hub({ pingMs: 60_000, maxBufferBytes: 4096, logger: silentLogger, ...options });
const event = (i: number) => ({ type: 'task:updated', data: { id: `task_${i}`, pad: 'x'.repeat(200) } });

function openFeed(hub: Hub, query: string, headers: Record<string, string> = {}) {
  const res = new SlowResponse();
  const req = { headers, method: 'GET' } as unknown as IncomingMessage;
  hub.feedReply(req, new URLSearchParams(query)).stream!(res as unknown as ServerResponse, {});
  return res;
}

/** The ids of the events in a feed's text, and each one's data. */
const feedEvents = (text: string) => [...text.matchAll(/id: (\d+)\nevent: ([^\n]+)\ndata: ([^\n]*)\n\n/g)].map((m) => ({ seq: Number(m[1]), data: m[3] }));

describe('§12 Hub: replay, then live', () => {
  it('broadcasts during a replay that waits for the client are neither lost nor sent twice', async () => {
    const hub = newHub();
    for (let i = 1; i <= 100; i++) hub.broadcast(event(i));
    const res = openFeed(hub, `since=10&serverId=${hub.serverId}`);
    assert.match(res.text, /^event: hello\ndata: \{"serverId":"[^"]+","seq":100,"replayed":90\}\n\n/);
    const sentAtFirst = feedEvents(res.text).length;
    assert.ok(sentAtFirst < 90, `the replay waits for the client (${sentAtFirst} written)`);
    for (let i = 101; i <= 150; i++) hub.broadcast(event(i)); // while the replay waits
    res.resume();
    await waitFor(() => feedEvents(res.text).at(-1)?.seq === 150);
    for (let i = 151; i <= 160; i++) hub.broadcast(event(i)); // live now
    await waitFor(() => feedEvents(res.text).at(-1)?.seq === 160);
    const got = feedEvents(res.text);
    assert.deepEqual(got.map((e) => e.seq), Array.from({ length: 150 }, (_, i) => i + 11));
    for (const e of got) assert.equal(e.data, hub.buffer.get(e.seq)!.json.toString(), `the bytes of seq ${e.seq}`);
    await hub.close();
  });

  it('a client that falls behind what the buffer holds while catching up is cut off', async () => {
    const hub = newHub({ bufferCount: 50 });
    for (let i = 1; i <= 50; i++) hub.broadcast(event(i));
    const res = openFeed(hub, 'since=0');
    assert.equal(hub.clientCount, 1);
    for (let i = 51; i <= 120; i++) hub.broadcast(event(i)); // pushes out what it has not got yet
    res.resume();
    await waitFor(() => res.cut);
    assert.equal(hub.clientCount, 0);
    const seqs = feedEvents(res.text).map((e) => e.seq);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'what it got is in order, without gaps');
    await hub.close();
  });

  it('sends the keep-alive comment to feeds, and cuts off a feed over its buffer limit', async () => {
    const hub = newHub({ feedKeepAliveMs: 10 });
    const res = openFeed(hub, '');
    res.resume();
    await waitFor(() => res.text.includes(FEED_COMMENT.toString()));
    assert.match(res.text, /^event: hello\ndata: \{"serverId":"[^"]+","seq":0\}\n\n: keep-alive\n\n/);
    res.paused = true;
    for (let i = 1; i <= 30 && !res.cut; i++) hub.broadcast(event(i)); // never read: passes 4096 bytes
    assert.ok(res.cut, 'cut off by a broadcast');
    await hub.close();
  });

  it('the room is checked again when the answer starts (other requests may have run since the handler)', async () => {
    const hub = newHub({ maxClients: 1 });
    const req = { headers: {}, method: 'GET' } as unknown as IncomingMessage;
    const late = hub.feedReply(req, new URLSearchParams());
    const first = openFeed(hub, '');
    const res = new SlowResponse();
    res.resume();
    late.stream!(res as unknown as ServerResponse, {});
    assert.equal(res.status, 503);
    assert.equal(JSON.parse(res.text).code, 'BUSY');
    assert.equal(hub.clientCount, 1);
    first.resume();
    await hub.close();
  });

  it('a feed whose connection closed before its answer is not registered', async () => {
    const hub = newHub();
    const res = new SlowResponse();
    res.destroy();
    const req = { headers: {}, method: 'GET' } as unknown as IncomingMessage;
    hub.feedReply(req, new URLSearchParams()).stream!(res as unknown as ServerResponse, {});
    assert.equal(hub.clientCount, 0);
    assert.equal(res.status, 0, 'nothing written');
    await hub.close();
  });

  it('MAX_EVENT_CLIENTS: one more is 503 BUSY, and none once closing', async () => {
    const hub = newHub({ maxClients: 2 });
    const feeds = [openFeed(hub, ''), openFeed(hub, '')];
    assert.throws(() => openFeed(hub, ''), (err: ApiError) => err.status === 503 && err.code === 'BUSY');
    for (const res of feeds) res.resume();
    const closing = hub.close();
    assert.throws(() => hub.checkRoom(), (err: ApiError) => err.status === 503 && err.code === 'BUSY');
    await closing;
    assert.equal(hub.clientCount, 0);
    assert.ok(feeds.every((res) => res.writableFinished && !res.cut), 'ended, not cut');
  });
});
