import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError, validationError } from '../errors.ts';
import type { Reply } from './respond.ts';

/** SPEC §11: a key (header or `clientRequestId`) is 1–255 printable ASCII characters. */
export const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Bytes of remembered answers at most (besides the count bound); past it the oldest go first. */
export const IDEMPOTENCY_MAX_BYTES = 32 * 1024 * 1024;
/** Per-key cost beyond the answer's body: key, fingerprint, headers, the Map entry. */
const ENTRY_OVERHEAD_BYTES = 200;

interface Entry {
  fingerprint: string;
  firstSeen: number;
  /** Set once the first request was answered with a status worth remembering. */
  answer?: Reply;
  bytes: number;
  /** Resolves when the first request has been answered (remembered or not). */
  settled: Promise<void>;
}

/** `id` is the remembered key (namespaced by where it came from); `sent` is what the client sent. */
export interface IdempotencyKey {
  id: string;
  sent: string;
}

export interface IdempotencyOptions {
  maxKeys: number;
  maxBytes?: number;
  ttlMs?: number;
  now?: () => number;
}

/** 401, 403, 429 and 5xx are answers about the moment, not the request: a retry is evaluated afresh. */
const isRemembered = (status: number) => status !== 401 && status !== 403 && status !== 429 && status < 500;

function checkKey(value: unknown, field: string): string {
  if (typeof value === 'string' && KEY_PATTERN.test(value)) return value;
  throw validationError(`${field} must be 1-255 printable ASCII characters`, {
    fields: [{ field, message: 'must be 1-255 printable ASCII characters' }],
  });
}

/** The `Idempotency-Key` header, checked; `undefined` when absent. */
export function headerKey(headers: IncomingHttpHeaders): IdempotencyKey | undefined {
  const raw = headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const sent = checkKey(raw, 'Idempotency-Key');
  return { id: `header ${sent}`, sent };
}

/**
 * A body's `clientRequestId` (checked; `undefined` when absent) as the key
 * `<method> <path> <id>`, apart from header keys: the prefixes keep the two from meeting.
 */
export function clientRequestKey(body: unknown, method: string, path: string): IdempotencyKey | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const raw: unknown = (body as Record<string, unknown>).clientRequestId;
  if (raw === undefined) return undefined;
  const sent = checkKey(raw, 'clientRequestId');
  return { id: `body ${method} ${path} ${sent}`, sent };
}

/** Method, path and the body bytes exactly as sent (reordered keys are another request). */
export function fingerprint(method: string, target: string, body: Buffer): string {
  return createHash('sha256').update(`${method} ${target}\n`).update(body).digest('base64');
}

/**
 * Remembered answers by key, in memory, oldest first (a Map keeps insertion order,
 * which is first-seen order), bounded in count, bytes and age. The request pipeline
 * runs a keyed write through `run`; handlers never know.
 */
export class IdempotencyCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private readonly maxBytes: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly options: IdempotencyOptions) {
    this.maxBytes = options.maxBytes ?? IDEMPOTENCY_MAX_BYTES;
    this.ttlMs = options.ttlMs ?? DAY_MS;
    this.now = options.now ?? Date.now;
  }

  get size(): number { return this.entries.size; }
  get storedBytes(): number { return this.bytes; }

  /**
   * The remembered answer for a repeat (`replayed`), 422 for the key with another
   * fingerprint, a wait for a first request still in flight; otherwise `answer()`
   * runs and its reply is remembered if its status allows.
   */
  async run({ id: key, sent }: IdempotencyKey, print: string, answer: () => Promise<Reply>): Promise<{ reply: Reply; replayed: boolean }> {
    for (;;) {
      this.expire();
      const seen = this.entries.get(key);
      if (!seen) break;
      if (seen.fingerprint !== print) {
        throw new ApiError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for another request', { key: sent });
      }
      if (seen.answer) return { reply: seen.answer, replayed: true };
      await seen.settled;
    }
    let settle!: () => void;
    const entry: Entry = { fingerprint: print, firstSeen: this.now(), bytes: 0, settled: new Promise((r) => (settle = r)) };
    this.entries.set(key, entry);
    try {
      const reply = await answer();
      if (this.entries.get(key) === entry) this.record(key, entry, reply);
      return { reply, replayed: false };
    } catch (err) {
      this.drop(key, entry);
      throw err;
    } finally {
      settle();
    }
  }

  private record(key: string, entry: Entry, reply: Reply) {
    if (!isRemembered(reply.status)) {
      this.drop(key, entry);
      return;
    }
    const json = typeof reply.json === 'string' ? Buffer.from(reply.json) : reply.json;
    entry.answer = { status: reply.status, json, ...(reply.headers?.ETag ? { headers: { ETag: reply.headers.ETag } } : {}) };
    entry.bytes = json.length + key.length + ENTRY_OVERHEAD_BYTES;
    this.bytes += entry.bytes;
    this.evict();
  }

  private drop(key: string, entry: Entry) {
    if (this.entries.get(key) !== entry) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  /** Keys first seen over the age limit ago go; they are at the front. */
  private expire() {
    const oldest = this.now() - this.ttlMs;
    for (const [key, entry] of this.entries) {
      if (entry.firstSeen > oldest) break;
      this.drop(key, entry);
    }
  }

  /** Oldest first, until both bounds hold. */
  private evict() {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.options.maxKeys && this.bytes <= this.maxBytes) break;
      if (entry.answer) this.drop(key, entry); // one still in flight stays: its repeats wait on it
    }
  }
}
