/** One broadcast as it was sent: its WebSocket frame, and where the JSON text starts in it. */
export interface SentMessage {
  seq: number;
  type: string;
  frame: Buffer;
  /** The JSON text alone (the frame without its header): what the feed sends as `data:`. */
  json: Buffer;
}

/**
 * The last broadcasts, exactly as sent, bounded by count and by bytes (the oldest
 * go first). Seqs are consecutive, so a message lives in slot `seq % capacity`.
 */
export class ReplayBuffer {
  /** Seq of the oldest message held (`last + 1` when none is). */
  first = 1;
  /** Seq of the newest message added. */
  last = 0;
  private bytes = 0;
  private readonly slots: (SentMessage | undefined)[];

  constructor(private readonly maxCount: number, private readonly maxBytes: number) {
    this.slots = new Array(maxCount);
  }

  get size(): number {
    return this.last - this.first + 1;
  }

  get heldBytes(): number {
    return this.bytes;
  }

  /** Adds the next message (its seq must be `last + 1`) and drops what no longer fits. */
  add(message: SentMessage) {
    if (message.seq !== this.last + 1) throw new Error(`replay buffer: seq ${message.seq} after ${this.last}`);
    if (this.maxCount === 0) {
      this.last = message.seq;
      this.first = this.last + 1;
      return;
    }
    if (this.size === this.maxCount) this.dropOldest(); // frees the slot the new one takes
    this.last = message.seq;
    this.slots[message.seq % this.maxCount] = message;
    this.bytes += message.frame.length;
    while (this.bytes > this.maxBytes) this.dropOldest();
  }

  private dropOldest() {
    const slot = this.first % this.maxCount;
    this.bytes -= this.slots[slot]!.frame.length;
    this.slots[slot] = undefined;
    this.first++;
  }

  /** The message numbered `seq`, if still held. */
  get(seq: number): SentMessage | undefined {
    return seq >= this.first && seq <= this.last ? this.slots[seq % this.maxCount] : undefined;
  }

  /** Every message after `since` is still held (none missing, none from the future). */
  holdsAfter(since: number): boolean {
    return since >= this.first - 1 && since <= this.last;
  }
}

/** A seq as a client sends it back: a non-negative safe integer in decimal; anything else is absent. */
export function parseSeq(raw: string | null | undefined): number | undefined {
  if (raw === null || raw === undefined || !/^\d{1,16}$/.test(raw.trim())) return undefined;
  const n = Number(raw.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Where a reconnecting client says it stands: `?since=&serverId=`, or the feed's `Last-Event-ID`. */
export interface ResumeRequest {
  since: string | null | undefined;
  serverId: string | null | undefined;
  /** The `Last-Event-ID` header; newer than the URL's `since` (an EventSource keeps its URL). */
  lastEventId?: string | undefined;
}

export interface Hello {
  serverId: string;
  seq: number;
  replayed?: number;
  resync?: true;
}

/**
 * The hello for a client, and the first seq to send it. A client that asks for nothing
 * gets the plain hello; one that asks to resume gets `replayed: n` when this server
 * holds everything after its seq, else `resync: true`. A `since` without a `serverId`
 * is taken as this server's.
 */
export function greet(buffer: ReplayBuffer, serverId: string, request: ResumeRequest): { hello: Hello; from: number } {
  const seq = buffer.last;
  const live = { hello: { serverId, seq }, from: seq + 1 };
  const rawSince = request.lastEventId ?? request.since;
  const askedServer = request.serverId || undefined;
  if (!rawSince && !askedServer) return live;
  const since = parseSeq(rawSince);
  if (since === undefined || (askedServer !== undefined && askedServer !== serverId) || !buffer.holdsAfter(since)) {
    return { hello: { serverId, seq, resync: true }, from: seq + 1 };
  }
  return { hello: { serverId, seq, replayed: seq - since }, from: since + 1 };
}
