/**
 * Memory under the three attacks of issue 9 (items 8, 9, 10), at the review's
 * scale, each on a fresh server: RSS before, after, and the peak (VmHWM), from
 * /proc (Linux). `MAESTRO_BIN=<path to bin/maestro-server>` measures another build.
 *
 *   node --import tsx test/bench/attacks.ts
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = process.env.MAESTRO_BIN ?? fileURLToPath(new URL('../../bin/maestro-server', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (name: string) => Math.round(Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)![1]) / 1024);
  return { rss: mb('VmRSS'), peak: mb('VmHWM') };
}

async function startServer() {
  const dir = await mkdtemp(join(tmpdir(), 'maestro-attack-'));
  const child = spawn(process.execPath, [BIN], { env: { PATH: process.env.PATH, PORT: '0', DATA_DIR: dir, LOG_LEVEL: 'error' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve) => {
    let out = '';
    child.stdout.on('data', (d) => { out += d; const m = /listening on (\S+)/.exec(out); if (m) resolve(m[1]); });
  });
  return {
    url, pid: child.pid!,
    stop: async () => { child.kill('SIGKILL'); await new Promise((r) => child.on('exit', r)); await rm(dir, { recursive: true, force: true }); },
  };
}

function call(url: string, method: string, path: string, body?: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(new URL(path, url), { method, agent: false, headers: payload ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function inParallel(n: number, make: () => Promise<unknown>) {
  let left = n;
  await Promise.all(Array.from({ length: 8 }, async () => { while (left-- > 0) await make(); }));
}

function socketTo(url: string): Promise<Socket> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve) => { const s = connect(Number(port), hostname, () => resolve(s)); s.on('error', () => {}); });
}

interface Attack {
  name: string;
  /** Makes the data the attack needs; returns what it is about. */
  prepare(url: string): Promise<string>;
  /** Runs the attack; returns how to end it. */
  run(url: string): Promise<() => void>;
}

async function seedSessions(url: string) {
  const projectId = JSON.parse(await call(url, 'POST', '/api/projects', { name: 'p' })).id;
  await inParallel(400, () => call(url, 'POST', '/api/sessions', { projectId, metadata: { notes: 'x'.repeat(2600) } }));
  return `${((await call(url, 'GET', '/api/sessions')).length / 1e6).toFixed(1)} MB list`;
}

async function seedTasks(url: string) {
  const projectId = JSON.parse(await call(url, 'POST', '/api/projects', { name: 'p' })).id;
  await inParallel(1900, () => call(url, 'POST', '/api/tasks', { projectId, title: 't', description: 'y'.repeat(5000) }));
  return `${((await call(url, 'GET', '/api/tasks?status=todo')).length / 1e6).toFixed(1)} MB list`;
}

const attacks: Attack[] = [
  {
    name: '8. one WebSocket client sends pings for 7 s, never reads',
    prepare: async () => 'default WS_MAX_BUFFER_BYTES (8 MiB)',
    run: async (url) => {
      const socket = await socketTo(url);
      socket.write(`GET / HTTP/1.1\r\nHost: ${new URL(url).host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
        + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      await sleep(300);
      socket.pause();
      const payload = Buffer.from('{"type":"ping"}');
      const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
      const batch = Buffer.concat(Array.from({ length: 1000 }, () => frame));
      const until = Date.now() + 7000;
      while (Date.now() < until && !socket.destroyed) {
        if (!socket.write(batch)) await Promise.race([new Promise((r) => socket.once('drain', r)), sleep(50)]);
      }
      return () => socket.destroy();
    },
  },
  {
    name: '9. pipelined GET /api/sessions in one 64 KB write, never read',
    prepare: seedSessions,
    run: async (url) => {
      const one = `GET /api/sessions HTTP/1.1\r\nHost: ${new URL(url).host}\r\n\r\n`;
      const socket = await socketTo(url);
      socket.pause();
      socket.write(one.repeat(Math.floor(65536 / one.length)));
      await sleep(4000);
      return () => socket.destroy();
    },
  },
  {
    name: '10. 63 spellings of status=todo over the task list',
    prepare: seedTasks,
    run: async (url) => {
      for (let i = 1; i <= 63; i++) await call(url, 'GET', `/api/tasks?status=todo${',todo'.repeat(i)}`);
      return () => {};
    },
  },
];

const rows = [];
for (const attack of attacks) {
  const server = await startServer();
  const about = await attack.prepare(server.url);
  const before = memory(server.pid);
  const end = await attack.run(server.url);
  const after = memory(server.pid);
  end();
  await server.stop();
  rows.push({ attack: attack.name, data: about, 'RSS before (MB)': before.rss, 'RSS after (MB)': after.rss, 'peak (MB)': after.peak });
}
console.log(`server: ${BIN}`);
console.table(rows);
