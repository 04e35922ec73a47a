import { ApiError } from '../errors.ts';

/** What the gate needs of the disk writer. */
export interface RoomForWrites {
  waitForRoom(): Promise<void>;
}

export const shuttingDown = () =>
  new ApiError(503, 'BUSY', 'Server is shutting down; no change is accepted', undefined, { 'Retry-After': '1' });

/**
 * Every write request passes here. Under the pending-writes bound it waits for room;
 * once shutdown began it is refused with 503 BUSY (SPEC §9), so that every change
 * answered with success was made before the final flush, which waits for `drained`.
 */
export class WriteGate {
  private closed = false;
  private running = 0;
  private idle: (() => void)[] = [];

  constructor(private readonly writer: RoomForWrites) {}

  async run<T>(change: () => T | Promise<T>): Promise<T> {
    if (this.closed) throw shuttingDown();
    await this.writer.waitForRoom();
    if (this.closed) throw shuttingDown();
    this.running++;
    try {
      return await change();
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
