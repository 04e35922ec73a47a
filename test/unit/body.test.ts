import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiError } from '../../src/errors.ts';
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { jsonDepthExceeds, parseJson, readJsonText } from '../../src/http/body.ts';

const fakeRequest = (chunks: string[], headers: Record<string, string> = {}) =>
  Object.assign(Readable.from(chunks.map((c) => Buffer.from(c))), { headers }) as unknown as IncomingMessage;

const code = (c: string) => (e: { code: string }) => e.code === c;

describe('§2/§8 request bodies', () => {
  it('parses JSON and drops __proto__, constructor and prototype keys at every depth', () => {
    const parsed = parseJson('{"a":1,"__proto__":{"polluted":true},"b":{"constructor":{"prototype":{"x":1}},"c":2}}') as any;
    assert.deepEqual(parsed, { a: 1, b: { c: 2 } });
    assert.equal(({} as any).polluted, undefined);
    const escaped = parseJson('{"\\u005f_proto__":{"polluted":true},"ok":1}') as any;
    assert.deepEqual(Object.keys(escaped), ['ok']);
    assert.equal(Object.getPrototypeOf(escaped), Object.prototype);
  });

  it('refuses malformed and too deeply nested JSON with INVALID_JSON', () => {
    assert.throws(() => parseJson('{"a":'), code('INVALID_JSON'));
    assert.throws(() => parseJson('['.repeat(65) + ']'.repeat(65)), code('INVALID_JSON'));
    assert.deepEqual(parseJson('['.repeat(64) + ']'.repeat(64)), JSON.parse('['.repeat(64) + ']'.repeat(64)));
  });

  it('counts depth outside strings only', () => {
    assert.equal(jsonDepthExceeds(JSON.stringify({ s: '[[[[[[[[[[' }), 2), false);
    assert.equal(jsonDepthExceeds(JSON.stringify({ s: 'a\\"[[[' }), 2), false);
    assert.equal(jsonDepthExceeds('[[[]]]', 2), true);
  });

  it('an empty body is no body whatever its Content-Type', async () => {
    assert.equal(await readJsonText(fakeRequest([], { 'content-type': 'text/plain' }), 100), undefined);
    assert.equal(await readJsonText(fakeRequest(['  \n'], { 'content-type': 'application/json' }), 100), undefined);
  });

  it('a body needs a JSON Content-Type (415 otherwise)', async () => {
    await assert.rejects(readJsonText(fakeRequest(['{}']), 100), code('UNSUPPORTED_MEDIA_TYPE'));
    await assert.rejects(readJsonText(fakeRequest(['{}'], { 'content-type': 'text/plain' }), 100), code('UNSUPPORTED_MEDIA_TYPE'));
    assert.equal(await readJsonText(fakeRequest(['{"a":', '1}'], { 'content-type': 'application/json; charset=utf-8' }), 100), '{"a":1}');
    assert.equal(await readJsonText(fakeRequest(['{}'], { 'content-type': 'application/merge-patch+json' }), 100), '{}');
  });

  it('413 from the declared length without reading, or as soon as the stream passes the limit', async () => {
    await assert.rejects(readJsonText(fakeRequest(['{}'], { 'content-length': '101' }), 100), code('PAYLOAD_TOO_LARGE'));
    let pulled = 0;
    const endless = new Readable({ read() { pulled++; this.push(Buffer.alloc(64, 32)); } });
    Object.assign(endless, { headers: { 'content-type': 'application/json' } });
    await assert.rejects(readJsonText(endless as unknown as IncomingMessage, 1000), code('PAYLOAD_TOO_LARGE'));
    await new Promise((r) => setTimeout(r, 20));
    const afterRefusal = pulled;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(pulled, afterRefusal, 'nothing more is read once refused');
    assert.ok(pulled * 64 < 1000 + 2 * 16384, `at most the stream's own buffer past the limit (${pulled} chunks)`);
  });

  it('a stream that breaks or closes mid-body is a body cut short (400), not a server error', async () => {
    const broken = new Readable({ read() { this.destroy(new Error('reset')); } });
    Object.assign(broken, { headers: {} });
    await assert.rejects(readJsonText(broken as unknown as IncomingMessage, 1000), (e: ApiError) => e.status === 400 && e.code === 'BAD_REQUEST');
    const closed = new Readable({ read() {} });
    Object.assign(closed, { headers: {}, complete: false });
    const reading = readJsonText(closed as unknown as IncomingMessage, 1000);
    closed.push('{"a":');
    closed.destroy();
    await assert.rejects(reading, (e: ApiError) => e.code === 'BAD_REQUEST');
  });
});
