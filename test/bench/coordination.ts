// SPEC §10 figures: claim-next throughput (10,000 tasks, 50 agents) and the cost of the
// lease timer with 10,000 leased sessions (event-loop delay). Part of `npm run bench`;
// also runs alone: `node --import tsx test/bench/coordination.ts`.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { startServer } from '../../src/server.ts';
import { call, callOk, percentile, QUICK, sleep, startMaestro, stop } from './lib.ts';

const PROJECT_ID = 'proj_bench_coord';
const T0 = 1_700_000_000_000;

const projectFile = () => ({ id: PROJECT_ID, name: 'Coordination', workingDir: '', description: '', createdAt: T0, updatedAt: T0, version: 1 });

const taskFile = (i: number) => ({
  id: `task_bench_${i}`, projectId: PROJECT_ID, parentId: null, title: `Task ${i}`, description: '', initialPrompt: '',
  status: 'pending', priority: (['high', 'medium', 'low'] as const)[i % 3], sessionIds: [], skillIds: [], agentIds: [],
  dependencies: [], claimedBy: null, claimedAt: null, subtasks: [],
  timeline: [{ id: `evt_bench_${i}`, type: 'created', timestamp: T0 + i, message: 'Task created' }],
  createdAt: T0 + i, updatedAt: T0 + i, startedAt: null, completedAt: null, version: 1,
});

const sessionFile = (i: number) => ({
  id: `sess_bench_${i}`, projectId: PROJECT_ID, taskIds: [], name: `Agent ${i}`, agentId: null, status: 'running', env: {},
  events: [], timeline: [], metadata: {}, startedAt: T0 + i, lastActivity: T0 + i, completedAt: null,
  hostname: 'bench', platform: 'linux', version: 1,
});

async function writeFiles(dir: string, files: [string, unknown][]) {
  for (let i = 0; i < files.length; i += 256) {
    await Promise.all(files.slice(i, i + 256).map(([path, data]) => writeFile(join(dir, path), JSON.stringify(data))));
  }
}

async function writeData(dir: string, tasks: number, sessions: number, leased: boolean) {
  await rm(dir, { recursive: true, force: true });
  for (const folder of ['projects', 'sessions', join('tasks', PROJECT_ID)]) await mkdir(join(dir, folder), { recursive: true });
  const files: [string, unknown][] = [[join('projects', `${PROJECT_ID}.json`), projectFile()]];
  for (let i = 0; i < tasks; i++) files.push([join('tasks', PROJECT_ID, `task_bench_${i}.json`), taskFile(i)]);
  for (let i = 0; i < sessions; i++) files.push([join('sessions', `sess_bench_${i}.json`), sessionFile(i)]);
  await writeFiles(dir, files);
  const ids = leased ? Array.from({ length: sessions }, (_, i) => `sess_bench_${i}`) : [];
  await writeFile(join(dir, 'leases.json'), JSON.stringify({ leased: ids }));
}

/** 9. 50 agents loop `claim-next` (keep-alive) over 10,000 ready tasks of one project until the time is up or none is left. */
export async function claimNextThroughput(root: string, tasks = 10_000, agents = 50) {
  const dir = join(root, 'claim-next');
  await writeData(dir, tasks, agents, false);
  const server = await startMaestro(dir, { MAX_ACTIVE_SESSIONS: '0' });
  try {
    const until = performance.now() + (QUICK ? 3000 : 10_000);
    const latencies: number[] = [];
    const won = new Set<string>();
    let claims = 0;
    let empty = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: agents }, async (_, a) => {
      while (performance.now() < until) {
        const start = performance.now();
        const reply = await call(server.url, 'POST', '/api/tasks/claim-next', { projectId: PROJECT_ID, sessionId: `sess_bench_${a}` });
        latencies.push(performance.now() - start);
        if (reply.status === 404 && reply.json.code === 'NO_READY_TASK') { empty++; return; }
        if (reply.status !== 200) throw new Error(`claim-next answered ${reply.status}: ${reply.text}`);
        claims++;
        won.add(reply.json.id);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const stillReady = (await callOk(server.url, 'GET', `/api/tasks?projectId=${PROJECT_ID}&ready=true`)).length;
    return {
      tasks, agents, claims, perSecond: claims / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99),
      duplicates: claims - won.size, stillReady, agentsThatFoundNone: empty,
    };
  } finally {
    await stop(server);
  }
}

/** Event-loop delay of this process over `ms`, in milliseconds. */
async function loopDelay(ms: number, during: () => Promise<unknown> = () => sleep(ms)) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  await during();
  const elapsed = performance.now() - t0;
  h.disable();
  return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6, ms: elapsed };
}

async function inProcess(dir: string, env: Record<string, string>) {
  const config = loadConfig({ PORT: '0', DATA_DIR: dir, SKILLS_DIR: join(dir, 'no-skills'), LOG_LEVEL: 'error', ...env });
  return startServer(config, { logger: silentLogger });
}

/**
 * 10. The lease timer with 10,000 leased sessions, in this process (the server runs
 * in-process so its event loop is the one measured): idle with no session leased, idle
 * with all 10,000 leased (the timer ticks over the heap), and a wave in which all
 * 10,000 leases run out at once and become `stale` (batches of 500 a turn).
 */
export async function leaseTimerCost(root: string, sessions = 10_000) {
  const dir = join(root, 'leases');
  const idleMs = QUICK ? 2000 : 5000;
  const result: Record<string, unknown> = { sessions };
  for (const leased of [false, true]) {
    await writeData(dir, 0, sessions, leased);
    const server = await inProcess(dir, { SESSION_LEASE_MS: '600000' });
    await sleep(500); // the start-up write of restored leases settles
    result[leased ? 'idleLeased' : 'idleUnleased'] = await loopDelay(idleMs);
    await server.stop();
  }
  await writeData(dir, 0, sessions, true);
  const leaseMs = 2000;
  const server = await inProcess(dir, { SESSION_LEASE_MS: String(leaseMs), MAX_PENDING_WRITES: String(2 * sessions) });
  const started = performance.now();
  result.expiryWave = await loopDelay(0, async () => {
    const all = () => [...server.store.all('session')].every((s) => s.status === 'stale');
    while (!all()) await sleep(20);
  });
  (result.expiryWave as Record<string, number>).sinceStartMs = performance.now() - started;
  await server.stop();
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = await mkdtemp(join(tmpdir(), 'maestro-bench-coord-'));
  try {
    console.log('9. claim-next', await claimNextThroughput(root));
    console.log('10. lease timer', JSON.stringify(await leaseTimerCost(root), null, 2));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  process.exit(0);
}
