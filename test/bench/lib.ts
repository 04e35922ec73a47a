import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** `BENCH_BIN=<path>` runs another build (e.g. an older commit's) for before/after figures. */
const BIN = process.env.BENCH_BIN ?? join(ROOT, 'bin', 'maestro-server');
const HERE = dirname(fileURLToPath(import.meta.url));

/** `BENCH_QUICK=1` runs every workload, shorter and smaller, to check the benchmark itself. */
export const QUICK = process.env.BENCH_QUICK === '1';

export interface Proc {
  child: ChildProcess;
  url: string;
  /** Milliseconds from spawn to the start line. */
  startLineMs: number;
  exited: Promise<number | string>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => { for (const c of running) c.kill('SIGKILL'); });

function spawnAndWait(args: string[], env: Record<string, string>): Promise<Proc> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, {
    // The fan-out workload opens 1,000 WebSockets beside its load clients: the default caps of
    // 1,000 connections and event clients (tested in limits and feed tests) would refuse some.
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'warn', MAX_CONNECTIONS: '5000', MAX_EVENT_CLIENTS: '5000', ...env },
    stdio: ['ignore', 'pipe', process.env.BENCH_STDERR ? 'inherit' : 'pipe'],
  });
  running.add(child);
  let out = '';
  let err = '';
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => {
    running.delete(child);
    resolve(code ?? signal!);
  }));
  child.stderr?.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const match = /listening on (\S+)/.exec(out);
      if (match) resolve({ child, url: match[1], startLineMs: performance.now() - t0, exited });
    });
    exited.then((code) => reject(new Error(`${args.join(' ')} exited (${code}): ${err}`)));
  });
}

/** `BENCH_PROFILE=<dir>` writes a CPU profile of every server process there. */
const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];

export const startMaestro = (dataDir: string, env: Record<string, string> = {}) =>
  spawnAndWait([...profile, BIN], { DATA_DIR: dataDir, SKILLS_DIR: join(dataDir, 'no-skills'), ...env });

export const startBare = (bodyFile: string) => spawnAndWait([join(HERE, 'bare.mjs'), bodyFile], {});
/** `bare.mjs` that answers only once each request's body is appended and fdatasynced (group commit). */
export const startBareDurable = (bodyFile: string, logFile: string) => spawnAndWait([join(HERE, 'bare-durable.mjs'), bodyFile, logFile], {});
export const startBareFanOut = () => spawnAndWait([join(HERE, 'bare-fanout.mjs')], {});

export async function stop(proc: Proc): Promise<void> {
  proc.child.kill('SIGINT');
  await proc.exited;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface Reply { status: number; text: string; json: any }

/** One request over a keep-alive agent; resolves with the status and the parsed body. */
export function call(url: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, url), {
      method,
      agent,
      headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {},
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, text, json: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

export async function callOk(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const reply = await call(url, method, path, body);
  if (reply.status >= 300) throw new Error(`${method} ${path} answered ${reply.status}: ${reply.text}`);
  return reply.json;
}

/** Runs `count` calls with at most `concurrency` in flight; resolves with calls per second. */
export async function inParallel(count: number, concurrency: number, one: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => { while (next < count) await one(next++); };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return count / ((performance.now() - t0) / 1000);
}

export interface LoadResult { rps: number; p50: number; p99: number; total: number; failed: number }

/** One autocannon run after a short warm-up; any non-2xx answer or error counts as failed. */
export async function load(options: Parameters<typeof autocannon>[0], warmUp = true): Promise<LoadResult> {
  if (warmUp) await autocannon({ ...options, duration: 1, amount: undefined });
  const t0 = performance.now();
  const r = await autocannon(options);
  const seconds = (performance.now() - t0) / 1000;
  return {
    // autocannon's per-second average is too coarse for a run of a fixed amount.
    rps: options.amount ? r.requests.total / seconds : r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    total: r.requests.total,
    failed: r.non2xx + r.errors + r.timeouts,
  };
}

const average = (runs: LoadResult[], key: 'rps' | 'p50' | 'p99') => runs.reduce((n, r) => n + r[key], 0) / runs.length;
const sum = (runs: LoadResult[], key: 'total' | 'failed') => runs.reduce((n, r) => n + r[key], 0);

/** The server and its reference take turns, twice, so drift in this machine's speed hits both alike. */
export async function inTurns(server: () => Promise<LoadResult>, reference: () => Promise<LoadResult>) {
  const runs: [LoadResult[], LoadResult[]] = [[], []];
  for (let round = 0; round < 2; round++) {
    runs[0].push(await server());
    runs[1].push(await reference());
  }
  const [s, r] = runs.map((list) => ({
    rps: average(list, 'rps'), p50: average(list, 'p50'), p99: average(list, 'p99'), total: sum(list, 'total'), failed: sum(list, 'failed'),
  }));
  return { server: s, reference: r };
}

/** Resident memory of a process in MB, from /proc (Linux). */
export function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Size of a folder on disk in MB, as `du` counts it (allocated blocks). */
export const diskMb = (dir: string) => Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) / 1024;

export const countJson = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.json')).length;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export const median = (values: number[]) => percentile(values, 50);
