/** A skill file operation that the disk did not answer in time. */
export class IoTimeout extends Error {}

interface Running { startedAt: number; timedOut: boolean }

/**
 * File reads for skills go through here: at most `limit` at once, so a read that
 * never returns (a FIFO, a hung network mount) can hold at most `limit` of libuv's
 * 4 threads and the disk writer keeps the rest. An operation running past
 * `timeoutMs` is given up (its slot stays taken until it really ends); once every
 * slot is held by such an operation, waiting ones and new ones are refused at once,
 * so no request waits on a stuck disk. Waiting behind healthy operations has no
 * time limit: a large skills folder just takes its time.
 */
export class BoundedIo {
  private readonly active = new Set<Running>();
  private readonly queue: { start: () => void; refuse: (err: Error) => void }[] = [];

  constructor(private readonly limit: number, private readonly timeoutMs: number) {}

  /** An operation has been running past the timeout: a thread is stuck in it. */
  get stuck(): boolean {
    for (const op of this.active) if (op.timedOut) return true;
    return false;
  }

  private get allStuck(): boolean {
    return this.active.size >= this.limit && [...this.active].every((op) => op.timedOut);
  }

  run<T>(what: string, op: () => Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const start = () => {
        const running: Running = { startedAt: Date.now(), timedOut: false };
        this.active.add(running);
        const timer = setTimeout(() => {
          running.timedOut = true;
          reject(new IoTimeout(`${what}: no answer from the disk within ${this.timeoutMs} ms`));
          if (this.allStuck) for (const waiting of this.queue.splice(0)) waiting.refuse(this.stuckError());
        }, this.timeoutMs);
        op().then(resolve, reject).finally(() => {
          clearTimeout(timer);
          this.active.delete(running);
          this.queue.shift()?.start();
        });
      };
      if (this.active.size < this.limit) start();
      else if (this.allStuck) reject(this.stuckError());
      else this.queue.push({ start, refuse: reject });
    });
  }

  private stuckError() {
    return new IoTimeout(`skill files: the disk has not answered for over ${this.timeoutMs} ms`);
  }
}
