import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FEED_COMMENT, FEED_HEADERS, feedEvent, helloEvent } from '../../src/events/feed.ts';
import { textFrame } from '../../src/events/hub.ts';

describe('§12 feed encoding (text/event-stream)', () => {
  it('an event is id: <seq>, event: <type>, data: <the exact JSON the WebSocket frame carries>', () => {
    const json = Buffer.from('{"type":"task:updated","event":"task:updated","data":{"title":"é\\n"},"seq":7,"timestamp":1}');
    const frame = textFrame(json);
    const bytes = feedEvent({ seq: 7, type: 'task:updated', frame, json: frame.subarray(frame.length - json.length) });
    assert.equal(bytes.toString(), `id: 7\nevent: task:updated\ndata: ${json.toString()}\n\n`);
    assert.ok(bytes.subarray(bytes.indexOf('data: ') + 6, bytes.length - 2).equals(json), 'the same bytes');
  });

  it('hello carries the hello data as JSON; the comment is a comment line; the type is event-stream', () => {
    assert.equal(helloEvent({ serverId: 's', seq: 3, replayed: 2 }).toString(), 'event: hello\ndata: {"serverId":"s","seq":3,"replayed":2}\n\n');
    assert.match(FEED_COMMENT.toString(), /^:[^\n]*\n\n$/);
    assert.match(FEED_HEADERS['Content-Type'], /^text\/event-stream/);
  });
});
