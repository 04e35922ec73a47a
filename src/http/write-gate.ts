import { ApiError } from '../errors.ts';

/** What the gate needs of the disk writer. */
export interface RoomForWrites {
  waitForRoom(): Promise<void>;
}

/** What the gate needs of the journal: a change is answered only once it is durable (SPEC §16). */
export interface Durability {
  readonly lastSeq: number;
  durable(from: number): Promise<void>;
}

export const shuttingDown = () =>
  new ApiError(503, 'BUSY', 'Server is shutting down; no change is accepted', undefined, { 'Retry-After': '1' });

/**
 * Every write request passes here. Under the pending-writes bound it waits for room;
 * once shutdown began it is refused with 503 BUSY (SPEC §9), so that every change
 * answered with success was made before the final flush, which waits for `drained`.
 * With a journal, the answer waits until the change's records are durable (group commit).
 */
export class WriteGate {
  private closed = false;
  private running = 0;
  private idle: (() => void)[] = [];

  constructor(private readonly writer: RoomForWrites, private readonly journal?: Durability) {}

  async run<T>(change: () => T | Promise<T>): Promise<T> {
    if (this.closed) throw shuttingDown();
    await this.writer.waitForRoom();
    if (this.closed) throw shuttingDown();
    this.running++;
    try {
      const from = this.journal?.lastSeq ?? 0;
      const result = await change();
      await this.journal?.durable(from);
      return result;
    } finally {
      if (--this.running === 0) for (const wake of this.idle.splice(0)) wake();
    }
  }

  close() {
    this.closed = true;
  }

  /** Resolves once no change that passed the gate is still running. */
  drained(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}
