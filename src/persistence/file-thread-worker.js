// The body of a FileThread (file-thread.ts): each message is one whole file operation,
// made with synchronous calls on this thread and answered `{id, result}` or `{id, error}`.
// Plain JavaScript so the server and the tests run this same file (a worker does not
// inherit tsx); the build copies it beside file-thread.js.
import { closeSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parentPort } from 'node:worker_threads';

/** Journal files open for appending, by path. */
const appending = new Map();

function syncPath(path) {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeAtomic(path, tmp, data, sync) {
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeFileSync(fd, data);
    if (sync) fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    try { closeSync(fd); } catch { /* closed already */ }
    try { unlinkSync(tmp); } catch { /* never made, or renamed */ }
    throw err;
  }
}

function remove(path) {
  try {
    unlinkSync(path);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
}

function append(path, data) {
  let fd = appending.get(path);
  if (fd === undefined) {
    fd = openSync(path, 'a', 0o644);
    try {
      syncPath(dirname(path));
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    appending.set(path, fd);
  }
  writeFileSync(fd, data);
  fdatasyncSync(fd);
}

function release(path) {
  const fd = appending.get(path);
  appending.delete(path);
  if (fd !== undefined) closeSync(fd);
}

const operations = {
  write: (r) => writeAtomic(r.path, r.tmp, r.data, r.sync),
  sync: (r) => syncPath(r.path),
  remove: (r) => remove(r.path),
  mkdir: (r) => mkdirSync(r.path, { recursive: true }),
  append: (r) => append(r.path, r.data),
  release: (r) => release(r.path),
};

parentPort.on('message', (request) => {
  try {
    parentPort.postMessage({ id: request.id, result: operations[request.op](request) });
  } catch (err) {
    parentPort.postMessage({ id: request.id, error: { code: err.code, message: err.message } });
  }
});
