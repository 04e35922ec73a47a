import { Worker } from 'node:worker_threads';
import { tempPathFor } from './atomic.ts';
import type { FileOps } from './file-ops.ts';

const WORKER = new URL('./file-thread-worker.js', import.meta.url);

/** What `file-thread-worker.js` is asked. */
type Request =
  | { op: 'write'; path: string; tmp: string; data: string; sync: boolean }
  | { op: 'sync' | 'remove' | 'mkdir' | 'release'; path: string }
  | { op: 'append'; path: string; data: string };
interface Call { resolve: (result: string | undefined) => void; reject: (err: Error) => void; at: number }

/**
 * `FileOps` on a thread of their own, made with synchronous calls. A file write
 * through libuv's pool costs the main thread about 80 µs and the kernel twice the
 * system time of the same calls made in one thread (measured); and an fsync queued
 * behind entity writes in the pool's 4 threads would hold up the journal. The writer
 * and the journal each get one FileThread.
 */
export class FileThread implements FileOps {
  /** Started at the first call: a server that only reads carries no thread (~10 MB each). */
  private started: Worker | undefined;
  private readonly calls = new Map<number, Call>();
  private readonly answered = new Set<Promise<unknown>>();
  private nextId = 0;
  private closed = false;

  constructor(private readonly name: string) {}

  private get worker(): Worker {
    return this.started ??= this.start();
  }

  private start(): Worker {
    const worker = new Worker(WORKER, { name: this.name });
    worker.unref();
    worker.on('message', ({ id, result, error }: { id: number; result?: string; error?: { code?: string; message: string } }) => {
      const call = this.calls.get(id)!;
      this.calls.delete(id);
      if (this.calls.size === 0) worker.unref();
      if (error) call.reject(Object.assign(new Error(error.message), { code: error.code }));
      else call.resolve(result);
    });
    worker.on('error', (err) => this.stopped(worker, err));
    worker.on('exit', () => this.stopped(worker, new Error(`file thread ${this.name} stopped`)));
    return worker;
  }

  /**
   * The thread died (out of memory, terminated): the calls waiting fail (the writer
   * retries, the journal answers 503 and rolls back) and the next call starts a new one.
   */
  private stopped(worker: Worker, err: Error) {
    if (this.started !== worker) return;
    this.started = undefined;
    for (const call of this.calls.values()) call.reject(err);
    this.calls.clear();
  }

  private call(request: Request): Promise<string | undefined> {
    if (this.closed) return Promise.reject(new Error(`file thread ${this.name} closed`));
    const id = this.nextId++;
    // Referenced while a call waits, so a shutdown's last writes keep the process alive.
    if (this.calls.size === 0) this.worker.ref();
    const answer = new Promise<string | undefined>((resolve, reject) => {
      this.calls.set(id, { resolve, reject, at: Date.now() });
      this.worker.postMessage({ id, ...request });
    });
    const settled = answer.then(() => {}, () => {}).finally(() => this.answered.delete(settled));
    this.answered.add(settled);
    return answer;
  }

  writeAtomic(path: string, data: string, sync: boolean) {
    return this.call({ op: 'write', path, tmp: tempPathFor(path), data, sync }).then(() => {});
  }
  sync(path: string) { return this.call({ op: 'sync', path }).then(() => {}); }
  remove(path: string) { return this.call({ op: 'remove', path }).then(() => {}); }
  mkdir(path: string) { return this.call({ op: 'mkdir', path }); }
  append(path: string, data: string) { return this.call({ op: 'append', path, data }).then(() => {}); }
  release(path: string) { return this.call({ op: 'release', path }).then(() => {}); }

  /**
   * The oldest call has waited longer than `ms`: the thread is stuck in it (a hung
   * mount). Node's exit joins worker threads, so the forced exit must kill instead.
   */
  stuckFor(ms: number): boolean {
    const oldest = this.calls.values().next().value;
    return oldest !== undefined && Date.now() - oldest.at > ms;
  }

  /** The operations as a plain object (to replace some). */
  ops(): FileOps {
    return {
      writeAtomic: (path, data, sync) => this.writeAtomic(path, data, sync), sync: (path) => this.sync(path), remove: (path) => this.remove(path),
      mkdir: (path) => this.mkdir(path), append: (path, data) => this.append(path, data), release: (path) => this.release(path),
    };
  }

  /** Ends the thread once the calls made so far are answered. */
  async close(): Promise<void> {
    await Promise.all([...this.answered]);
    this.closed = true;
    const worker = this.started;
    this.started = undefined;
    await worker?.terminate();
  }
}
