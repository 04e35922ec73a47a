import type { IncomingMessage } from 'node:http';
import { ApiError } from '../errors.ts';

/** Deeper JSON is refused: it would only serve to exhaust the stack downstream. */
const MAX_JSON_DEPTH = 64;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const payloadTooLarge = (limit: number) =>
  new ApiError(413, 'PAYLOAD_TOO_LARGE', `Request body exceeds ${limit} bytes`, { limit }, { Connection: 'close' });

function isJsonMediaType(header: string | undefined): boolean {
  if (!header) return false;
  const type = header.split(';')[0].trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

export const bodyCutShort = () => new ApiError(400, 'BAD_REQUEST', 'The request body was cut short', undefined, { Connection: 'close' });

/** Reads the body's bytes, refusing (without buffering the rest) past `limit` bytes. */
export function readRaw(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(payloadTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(payloadTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => { cleanup(); resolve(Buffer.concat(chunks, size)); };
    // A client that goes away mid-body is not a server error: nothing to log, no one to answer.
    const onError = () => { cleanup(); reject(bodyCutShort()); };
    const onClose = () => { if (!req.complete) onError(); };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** Nesting depth of JSON text, counted outside strings; stops once past `max`. */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

const dropForbiddenKeys = (key: string, value: unknown) => (FORBIDDEN_KEYS.has(key) ? undefined : value);
// Escapes can spell a forbidden key, so any backslash-u also takes the careful path.
const MAY_HOLD_FORBIDDEN_KEY = /__proto__|constructor|prototype|\\u/;

/** Parses JSON text; `__proto__`, `constructor` and `prototype` keys are dropped at every depth. */
export function parseJson(text: string): unknown {
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    throw new ApiError(400, 'INVALID_JSON', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  try {
    return MAY_HOLD_FORBIDDEN_KEY.test(text) ? JSON.parse(text, dropForbiddenKeys) : JSON.parse(text);
  } catch {
    throw new ApiError(400, 'INVALID_JSON', 'Request body is not valid JSON');
  }
}

/**
 * The body's text, or `undefined` when there is none. An empty body is no body
 * whatever its Content-Type; a non-empty one must be JSON (415 otherwise).
 */
export async function readJsonText(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return jsonText(await readRaw(req, limit), req.headers['content-type']);
}

/** `readJsonText` for bytes already read (the pipeline keeps them for idempotency fingerprints). */
export function jsonText(raw: Buffer, contentType: string | undefined): string | undefined {
  if (raw.length === 0) return undefined;
  if (!isJsonMediaType(contentType)) {
    throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Request bodies must be sent as Content-Type: application/json');
  }
  const text = raw.toString('utf8');
  return text.trim() === '' ? undefined : text;
}

