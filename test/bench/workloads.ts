import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import WebSocket from 'ws';
import {
  type Proc, QUICK, call, callOk, countJson, diskMb, inParallel, load, median, percentile, rssMb, sleep, startMaestro, stop,
} from './lib.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const CONNECTIONS = 64;
/** One autocannon run; workloads that compare take turns, so each side gets two. */
const SECONDS = QUICK ? 2 : 5;
const JSON_HEADERS = { 'Content-Type': 'application/json' };

const pick = <T>(list: T[]) => list[Math.floor(Math.random() * list.length)];

/** 1. Seed tasks into one project, 32 creates in flight. */
export async function seed(url: string, projectId: string, count: number) {
  const ids: string[] = [];
  const perSecond = await inParallel(count, 32, async (i) => {
    const task = await callOk(url, 'POST', '/api/tasks', { projectId, title: `Task ${i}`, description: 'd'.repeat(200) });
    ids.push(task.id);
  });
  return { perSecond, ids };
}

/** 2. GET /api/tasks/:id with random ids. */
export const getById = (url: string, ids: string[]) => load({
  url, connections: CONNECTIONS, duration: SECONDS,
  requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/api/tasks/${pick(ids)}` }) }],
});

/** 3. The list of one project's tasks. */
export const list = (url: string, projectId: string) => load({
  url, connections: CONNECTIONS, duration: SECONDS,
  requests: [{ method: 'GET', path: `/api/tasks?projectId=${projectId}` }],
});

/** 4. PATCH /api/tasks/:id with random ids, a new title each time. */
let patchCount = 0;
export const patch = (url: string, ids: string[]) => load({
  url, connections: CONNECTIONS, duration: SECONDS,
  requests: [{
    method: 'PATCH', headers: JSON_HEADERS,
    setupRequest: (req) => ({ ...req, path: `/api/tasks/${pick(ids)}`, body: JSON.stringify({ title: `Renamed ${patchCount++}` }) }),
  }],
});

const sustainedOptions = (url: string, projectId: string) => ({
  url: `${url}/api/tasks`, connections: CONNECTIONS, method: 'POST', headers: JSON_HEADERS,
  body: JSON.stringify({ projectId, title: 'A task from the benchmark', description: 'd'.repeat(200) }),
});

/**
 * 5a. A burst of 1,000 creates, 64 in flight: how fast they are answered. Not
 * autocannon, whose one-second ticks make any run of a fixed amount last a second.
 */
export async function postBurst(url: string, projectId: string) {
  const body = { projectId, title: 'A task from the benchmark', description: 'd'.repeat(200) };
  let failed = 0;
  const rps = await inParallel(1000, CONNECTIONS, async () => {
    if ((await call(url, 'POST', '/api/tasks', body)).status >= 300) failed++;
  });
  return { rps, failed };
}

/**
 * 5b. Creates for a sustained run: answers a second, files reaching disk a second,
 * the most changes seen waiting for the disk, and the server's memory before and after.
 */
export async function postSustained(server: Proc, dataDir: string, projectId: string) {
  const folder = join(dataDir, 'tasks', projectId);
  await mkdir(folder, { recursive: true });
  const pid = server.child.pid!;
  const rssBefore = rssMb(pid);
  let maxPending = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const health = await call(server.url, 'GET', '/health');
      maxPending = Math.max(maxPending, health.json.pendingWrites);
      await sleep(100);
    }
  })();
  const filesBefore = countJson(folder);
  const t0 = performance.now();
  const result = await load({ ...sustainedOptions(server.url, projectId), duration: 2 * SECONDS }, false);
  const seconds = (performance.now() - t0) / 1000;
  const filesAfter = countJson(folder);
  polling = false;
  await poller;
  const rssAfter = rssMb(pid);
  const drainStart = performance.now();
  while ((await call(server.url, 'GET', '/health')).json.pendingWrites > 0) await sleep(10);
  return {
    ...result,
    filesPerSecond: (filesAfter - filesBefore) / seconds,
    maxPending,
    drainMs: performance.now() - drainStart,
    rssBeforeMb: rssBefore,
    rssAfterMb: rssAfter,
  };
}

/** A client on the `ws` library: what the UI's own clients do. */
export function wsClient(url: string, onData: (data: Buffer) => void): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'));
    ws.once('message', () => {
      ws.on('message', onData);
      resolve(() => ws.terminate());
    }); // hello
    ws.once('error', reject);
  });
}

/**
 * A bare client: the handshake by hand, then raw bytes. With hundreds of clients
 * in the benchmark's own process, this measures the server's fan-out rather
 * than the client library's parsing.
 */
function rawClient(url: string, onData: (data: Buffer) => void): Promise<() => void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    socket.setNoDelay(true);
    socket.write(`GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
      + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    let head = '';
    const onHead = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
      if (!head.includes('"hello"')) return;
      socket.off('data', onHead);
      socket.on('data', onData);
      resolve(() => socket.destroy());
    };
    socket.on('data', onHead);
    socket.once('error', reject);
  });
}

type Client = typeof rawClient;

/** 6. Time from sending a PATCH until every client has its `task:updated` event. */
export async function fanOut(url: string, ids: string[], clients: number, samples: number, open: Client = rawClient) {
  let marker = Buffer.alloc(0);
  let got = 0;
  let allReceived = () => {};
  const seen = new Uint8Array(clients);
  const closers: (() => void)[] = [];
  for (let i = 0; i < clients; i += 100) {
    closers.push(...await Promise.all(Array.from({ length: Math.min(100, clients - i) }, (_, j) => open(url, (data) => {
      const k = i + j;
      if (seen[k] || marker.length === 0 || data.indexOf(marker) < 0) return;
      seen[k] = 1;
      if (++got === clients) allReceived();
    }))));
  }
  const times: number[] = [];
  let missed = 0;
  for (let k = 0; k < samples; k++) {
    seen.fill(0);
    got = 0;
    const title = `fan-out-${k}-${Math.random().toString(36).slice(2)}`;
    marker = Buffer.from(title);
    const t0 = performance.now();
    const done = new Promise<boolean>((resolve) => {
      allReceived = () => resolve(true);
      setTimeout(() => resolve(false), 5000).unref();
    });
    await callOk(url, 'PATCH', `/api/tasks/${pick(ids)}`, { title });
    if (await done) times.push(performance.now() - t0);
    else missed += clients - got;
    await sleep(10);
  }
  for (const close of closers) close();
  return { clients, samples, p50: percentile(times, 50), p99: percentile(times, 99), missed };
}

/** Writes `count` task files shaped like `template` (a file the server wrote), 10 projects. */
export async function writeDataset(dir: string, count: number, project: any, task: any) {
  const projects = Array.from({ length: 10 }, (_, p) => ({ ...project, id: `proj_bench_${p}`, name: `Project ${p}` }));
  for (const p of projects) {
    await mkdir(join(dir, 'tasks', p.id), { recursive: true });
    await mkdir(join(dir, 'projects'), { recursive: true });
    await writeFile(join(dir, 'projects', `${p.id}.json`), JSON.stringify(p, null, 2));
  }
  const pending: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const projectId = projects[i % projects.length].id;
    const id = `task_bench_${i}`;
    const data = { ...task, id, projectId, title: `Task ${i}`, createdAt: task.createdAt + i, timeline: task.timeline.map((e: any) => ({ ...e, id: `${e.id}_${i}` })) };
    pending.push(writeFile(join(dir, 'tasks', projectId, `${id}.json`), JSON.stringify(data, null, 2)));
    if (pending.length >= 256) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}

/** 7. Process start to `/health` answering, on a folder of tasks; RSS once loaded. */
export async function startUp(dir: string, runs: number) {
  const times: number[] = [];
  const rss: number[] = [];
  let tasks = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const server = await startMaestro(dir);
    const health = await callOk(server.url, 'GET', '/health');
    times.push(performance.now() - t0);
    if (health.status !== 'ok') throw new Error(`server is ${health.status} after loading ${dir}`);
    rss.push(rssMb(server.child.pid!));
    if (i === 0) tasks = (await callOk(server.url, 'GET', '/api/tasks')).length;
    await stop(server);
  }
  return { tasks, ms: median(times), runsMs: times, rssMb: median(rss), dataMb: diskMb(dir) };
}

/** 8. SIGINT to exit with the pending-write bound full (everything must reach disk). */
export async function shutdown(dir: string, maxPending: number) {
  await rm(dir, { recursive: true, force: true });
  const server = await startMaestro(dir, { WRITE_DEBOUNCE_MS: '600000', MAX_PENDING_WRITES: String(maxPending) });
  const project = await callOk(server.url, 'POST', '/api/projects', { name: 'Shutdown' });
  await inParallel(maxPending - 2, 32, (i) => callOk(server.url, 'POST', '/api/tasks', { projectId: project.id, title: `Task ${i}` }));
  const pending = (await callOk(server.url, 'GET', '/health')).pendingWrites;
  const t0 = performance.now();
  server.child.kill('SIGINT');
  const code = await server.exited;
  const ms = performance.now() - t0;
  const onDisk = countJson(join(dir, 'tasks', project.id)) + countJson(join(dir, 'projects'));
  return { pending, ms, exitCode: code, onDisk };
}

export async function readTemplate(dataDir: string, projectId: string, taskId: string) {
  return {
    project: JSON.parse(await readFile(join(dataDir, 'projects', `${projectId}.json`), 'utf8')),
    task: JSON.parse(await readFile(join(dataDir, 'tasks', projectId, `${taskId}.json`), 'utf8')),
  };
}


interface Replay { ms: number; replayed: number; bytes: number }

/** Runs test/bench/replay-client.mjs; `stop()` ends it and gives every replay it made. */
function replayClient(url: string, count: number, rounds: number) {
  const child = spawn(process.execPath, [join(HERE, 'replay-client.mjs'), url, String(count), String(rounds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const results = () => out.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Replay);
  return {
    done: exited.then(results),
    stop: async () => { child.kill(); await exited; return results(); },
  };
}

/**
 * 9. Replay: `count` PATCHes fill the buffer; a client in another process reconnects
 * `count` events behind, three times alone, then over and over while the fan-out to
 * `clients` other clients is measured; the same fan-out without replays is the reference.
 */
export async function replayUnderFanOut(url: string, ids: string[], count: number, clients: number, samples: number) {
  await inParallel(count, 32, (i) => callOk(url, 'PATCH', `/api/tasks/${pick(ids)}`, { title: `Replay ${i}` }));
  const alone = await replayClient(url, count, 3).done;
  const quiet = await fanOut(url, ids, clients, samples);
  const running = replayClient(url, count, 0);
  const during = await fanOut(url, ids, clients, samples);
  const replays = await running.stop();
  return {
    replayAloneMs: median(alone.map((r) => r.ms)),
    replayUnderLoadMs: median(replays.map((r) => r.ms)),
    replays: replays.length,
    replayed: median(replays.map((r) => r.replayed)),
    replayMb: median(replays.map((r) => r.bytes)) / 1e6,
    quiet,
    during,
  };
}
