import { readFileSync } from 'node:fs';
import { setImmediate as tick } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

/** Below this many files a worker thread costs more to start (~60 ms) than it saves. */
const WORKER_THRESHOLD = 2000;
/** Files taken at a time from the shared counter, by either thread. */
const CHUNK = 256;

/**
 * The reader thread's whole program (plain JS, so it runs the same from src/ under
 * tsx and from dist/). It takes chunks from the counter it shares with the main
 * thread, so the two finish together whichever is faster.
 */
const READER = `
const { readFileSync } = require('node:fs');
const { parentPort, workerData: { paths, next } } = require('node:worker_threads');
for (;;) {
  const start = Atomics.add(next, 0, ${CHUNK});
  if (start >= paths.length) break;
  const texts = [];
  for (let i = start; i < Math.min(start + ${CHUNK}, paths.length); i++) {
    try { texts.push(readFileSync(paths[i], 'utf8')); } catch { texts.push(null); }
  }
  parentPort.postMessage({ start, texts });
}
`;

export type OnText = (index: number, text: string | null) => void;

/**
 * Reads every file and hands each text (null if unreadable) to `onText` with its
 * index, in no particular order. Sync reads, because on the machines measured
 * 64 parallel async reads were 4 to 6 times slower (they all queue on libuv's
 * four threads) and a sync read costs ~23 µs, nearly all system calls. Past the
 * threshold a worker thread reads on the other core too: both take chunks from
 * one shared counter, and this thread parses what the worker sends between its
 * own chunks. Should the worker fail, this thread reads what it left.
 */
export async function readFiles(paths: string[], onText: OnText, threshold = WORKER_THRESHOLD): Promise<void> {
  if (paths.length < threshold) {
    paths.forEach((path, i) => onText(i, readOrNull(path)));
    return;
  }
  const seen = new Uint8Array(paths.length);
  const deliver: OnText = (i, text) => {
    seen[i] = 1;
    onText(i, text);
  };
  const next = new Int32Array(new SharedArrayBuffer(4));
  const worker = readInWorker(paths, next, deliver);
  for (;;) {
    const start = Atomics.add(next, 0, CHUNK);
    if (start >= paths.length) break;
    for (let i = start; i < Math.min(start + CHUNK, paths.length); i++) deliver(i, readOrNull(paths[i]));
    await tick();
  }
  await worker;
  seen.forEach((done, i) => { if (!done) deliver(i, readOrNull(paths[i])); });
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Resolves when the worker has exited, whatever the reason; its messages arrive first. */
function readInWorker(paths: string[], next: Int32Array, onText: OnText): Promise<void> {
  return new Promise((resolve) => {
    const worker = new Worker(READER, { eval: true, workerData: { paths, next } });
    worker.on('message', (batch: { start: number; texts: (string | null)[] }) => {
      batch.texts.forEach((text, i) => onText(batch.start + i, text));
    });
    worker.on('error', () => {});
    worker.on('exit', () => resolve());
  });
}
