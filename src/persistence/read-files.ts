import { readFileSync } from 'node:fs';
import { setImmediate as tick } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

/** Below this many files a worker thread costs more to start (~60 ms) than it saves. */
export const WORKER_THRESHOLD = 2000;
/** The main thread also parses everything, so it reads the smaller share. */
const MAIN_SHARE = 0.4;
const CHUNK = 256;
const BATCH = 256;

/** The reader thread's whole program (plain JS, so it runs the same from src/ under tsx and from dist/). */
const READER = `
const { readFileSync } = require('node:fs');
const { parentPort, workerData: { paths, start } } = require('node:worker_threads');
let texts = [];
let batchStart = start;
for (const path of paths) {
  let text = null;
  try { text = readFileSync(path, 'utf8'); } catch {}
  texts.push(text);
  if (texts.length === ${BATCH}) {
    parentPort.postMessage({ start: batchStart, texts });
    batchStart += texts.length;
    texts = [];
  }
}
parentPort.postMessage({ start: batchStart, texts });
`;

export type OnText = (index: number, text: string | null) => void;

/**
 * Reads every file and hands each text (null if unreadable) to `onText` with its
 * index, in no particular order. Sync reads, because on the machines measured
 * 64 parallel async reads were 4 to 6 times slower (they all queue on libuv's
 * four threads) and a sync read costs ~23 µs, nearly all system calls. Past the
 * threshold a worker thread reads most of the files on the other core while this
 * thread reads its share in chunks and parses what the worker sends between them.
 */
export async function readFiles(paths: string[], onText: OnText, threshold = WORKER_THRESHOLD): Promise<void> {
  if (paths.length < threshold) {
    paths.forEach((path, i) => onText(i, readOrNull(path)));
    return;
  }
  const split = Math.floor(paths.length * MAIN_SHARE);
  const worker = readInWorker(paths.slice(split), split, onText);
  for (let start = 0; start < split; start += CHUNK) {
    for (let i = start; i < Math.min(start + CHUNK, split); i++) onText(i, readOrNull(paths[i]));
    await tick();
  }
  await worker;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function readInWorker(paths: string[], start: number, onText: OnText): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(READER, { eval: true, workerData: { paths, start } });
    let received = 0;
    worker.on('message', (batch: { start: number; texts: (string | null)[] }) => {
      batch.texts.forEach((text, i) => onText(batch.start + i, text));
      received += batch.texts.length;
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      if (received === paths.length) resolve();
      else reject(new Error(`file reader thread stopped (code ${code}) after ${received} of ${paths.length} files`));
    });
  });
}
