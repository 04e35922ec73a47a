/**
 * File reads for skills go through here: at most `limit` at once, so a read that
 * never returns (a FIFO, a hung network mount) can hold at most `limit` of libuv's
 * 4 threads and the disk writer keeps the rest; and each waits at most `timeoutMs`,
 * so a request is never held up by it either.
 */
export class BoundedIo {
  private readonly active = new Set<{ startedAt: number }>();
  private readonly queue: (() => void)[] = [];

  constructor(private readonly limit: number, private readonly timeoutMs: number) {}

  /** An operation has been running past the timeout: a thread is stuck in it. */
  get stuck(): boolean {
    const now = Date.now();
    for (const op of this.active) if (now - op.startedAt >= this.timeoutMs) return true;
    return false;
  }

  run<T>(what: string, op: () => Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const queued = this.queue.indexOf(start);
        if (queued !== -1) this.queue.splice(queued, 1);
        reject(new Error(`${what}: no answer from the disk within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const start = () => {
        const running = { startedAt: Date.now() };
        this.active.add(running);
        op().then(resolve, reject).finally(() => {
          clearTimeout(timer);
          // The slot is freed only when the operation really ends, so stuck threads stay bounded.
          this.active.delete(running);
          this.queue.shift()?.();
        });
      };
      if (this.active.size < this.limit) start();
      else this.queue.push(start);
    });
  }
}
