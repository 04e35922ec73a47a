import type { Hello, SentMessage } from './replay.ts';

/** SPEC §12: the Server-Sent Events feed, for tools and integrations without a WebSocket library. */
export const FEED_PATH = '/api/events';

/** A comment line this often keeps proxies from closing an idle feed. */
export const FEED_KEEPALIVE_MS = 15_000;

export const FEED_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-store',
  // Tells buffering proxies (nginx) to pass each event on at once.
  'X-Accel-Buffering': 'no',
};

export const FEED_COMMENT = Buffer.from(': keep-alive\n\n');

export const helloEvent = (hello: Hello) => Buffer.from(`event: hello\ndata: ${JSON.stringify(hello)}\n\n`);

/** `id: <seq>`, `event: <type>`, `data: <the JSON the WebSocket sends>` (JSON text holds no line breaks). */
export function feedEvent(message: SentMessage): Buffer {
  const head = `id: ${message.seq}\nevent: ${message.type}\ndata: `;
  const out = Buffer.allocUnsafe(Buffer.byteLength(head) + message.json.length + 2);
  const at = out.write(head);
  message.json.copy(out, at);
  out.write('\n\n', at + message.json.length);
  return out;
}
