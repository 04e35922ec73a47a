// Workloads 9 and 10: one append against a long history (SPEC §7 Archive) and many
// links in one PATCH (SPEC §4). Run alone with `node --import tsx test/bench/history.ts`
// (BENCH_BIN=<other build>/bin/maestro-server for the figures of another build).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { QUICK, callOk, inParallel, percentile, sleep, startMaestro, stop } from './lib.ts';

/** A data folder with one project, one task whose timeline has `entries` entries, and one session with as many events. */
async function writeHistory(dir: string, entries: number) {
  const now = Date.now();
  const project = { id: 'proj_hist', name: 'History', workingDir: '', description: '', createdAt: now, updatedAt: now, version: 1 };
  const timeline = Array.from({ length: entries }, (_, i) => ({ id: `evt_t${i}`, type: 'progress', timestamp: now - entries + i, message: `step ${i} of the work`, taskId: 'task_hist' }));
  const events = Array.from({ length: entries }, (_, i) => ({ id: `evt_s${i}`, timestamp: now - entries + i, type: 'tool_use', data: { tool: 'edit', file: `src/f${i % 50}.ts` } }));
  const task = {
    id: 'task_hist', projectId: project.id, parentId: null, title: 'long-running', description: '', initialPrompt: '', status: 'in_progress',
    priority: 'medium', sessionIds: [], skillIds: [], agentIds: [], dependencies: [], subtasks: [], timeline,
    createdAt: now - entries, updatedAt: now, startedAt: now, completedAt: null, version: 1,
  };
  const session = {
    id: 'sess_hist', projectId: project.id, taskIds: [], name: 'agent', agentId: null, status: 'running', env: {}, events, timeline: [],
    metadata: {}, startedAt: now - entries, lastActivity: now, completedAt: null, hostname: '', platform: '', version: 1,
  };
  for (const folder of ['projects', join('tasks', project.id), 'sessions']) await mkdir(join(dir, folder), { recursive: true });
  await writeFile(join(dir, 'projects', `${project.id}.json`), JSON.stringify(project));
  await writeFile(join(dir, 'tasks', project.id, `${task.id}.json`), JSON.stringify(task));
  await writeFile(join(dir, 'sessions', `${session.id}.json`), JSON.stringify(session));
}

async function latencies(count: number, one: () => Promise<unknown>) {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await one();
    times.push(performance.now() - t0);
  }
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

/** 9. Latency of one timeline append and one session event, on a history of `entries` entries. */
export async function historyAppend(root: string, entries: number) {
  const dir = join(root, `history-${entries}`);
  await writeHistory(dir, entries);
  const server = await startMaestro(dir);
  try {
    // What start-up cut off and writes back is not part of one append's cost.
    while ((await callOk(server.url, 'GET', '/health')).pendingWrites > 0) await sleep(20);
    const count = QUICK ? 20 : 100;
    const timeline = await latencies(count, () => callOk(server.url, 'POST', '/api/tasks/task_hist/timeline', { message: 'progress' }));
    const events = await latencies(count, () => callOk(server.url, 'POST', '/api/sessions/sess_hist/events', { type: 'tool_use', data: { n: 1 } }));
    return { entries, appends: count, timeline, events };
  } finally {
    await stop(server);
    await rm(dir, { recursive: true, force: true });
  }
}

/** A `ws` client that counts the bytes of every message after hello; `settled()` waits for a pong. */
function countingClient(url: string) {
  return new Promise<{ bytes: () => number; settled: () => Promise<void>; close: () => void }>((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { maxPayload: 2 ** 30 });
    let bytes = 0;
    let onPong = () => {};
    ws.once('message', () => {
      ws.on('message', (data: Buffer) => {
        if (data.length < 64 && data.toString().includes('"pong"')) onPong();
        else bytes += data.length;
      });
      resolve({
        bytes: () => bytes,
        settled: () => new Promise<void>((done) => { onPong = done; ws.send('{"type":"ping"}'); }),
        close: () => ws.terminate(),
      });
    });
    ws.once('error', reject);
  });
}

/** 10. One PATCH linking `count` tasks to a session: its time and the bytes each client receives. */
export async function bulkLink(root: string, count: number, clients = 3) {
  const dir = join(root, 'bulk-link');
  // A large buffer bound, so a build that sends more still delivers all of it and can be measured.
  const server = await startMaestro(dir, { WS_MAX_BUFFER_BYTES: String(2 ** 30), MAX_PENDING_WRITES: String(4 * count) });
  try {
    const project = await callOk(server.url, 'POST', '/api/projects', { name: 'Bulk' });
    const taskIds: string[] = [];
    await inParallel(count, 32, async (i) => {
      taskIds[i] = (await callOk(server.url, 'POST', '/api/tasks', { projectId: project.id, title: `Task ${i}` })).id;
    });
    const session = await callOk(server.url, 'POST', '/api/sessions', { projectId: project.id, taskIds: [] });
    const listeners = await Promise.all(Array.from({ length: clients }, () => countingClient(server.url)));
    const t0 = performance.now();
    await callOk(server.url, 'PATCH', `/api/sessions/${session.id}`, { taskIds });
    const ms = performance.now() - t0;
    await Promise.all(listeners.map((l) => l.settled()));
    const bytesPerClient = listeners[0]?.bytes() ?? 0;
    for (const l of listeners) l.close();
    return { tasks: count, ms, bytesPerClient };
  } finally {
    await stop(server);
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = await mkdtemp(join(tmpdir(), 'maestro-bench-history-'));
  try {
    for (const entries of [1000, 100_000]) console.log('9. append', JSON.stringify(await historyAppend(root, entries)));
    console.log('10. bulk link', JSON.stringify(await bulkLink(root, 3000)));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  process.exit(0);
}
