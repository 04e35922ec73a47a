// The spawn loop with the real original CLI against this server, Claude faked.
// Not part of `npm test` (it needs the original CLI, built outside the project):
//
//   git clone https://github.com/raghavared/agent-maestro /tmp/agent-maestro
//   git -C /tmp/agent-maestro checkout 26aaeb8
//   (cd /tmp/agent-maestro/maestro-cli && npm install && npm run build)
//   npm run build && ORIGINAL_CLI=/tmp/agent-maestro/maestro-cli node test/compat/original-cli-loop.mjs [simple|queue]
//
// It starts bin/maestro-server behind a logging proxy (so MAESTRO_SERVER_URL points at
// the proxy), spawns like the UI, runs the event's `command` in its `cwd` with its
// `envVars` and a fake `claude` first on PATH, and prints what the CLI sent and got.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = process.env.ORIGINAL_CLI;
if (!CLI) throw new Error('set ORIGINAL_CLI to the built maestro-cli folder');
const strategy = process.argv[2] ?? 'simple';
const dataDir = mkdtempSync(join(tmpdir(), 'orig-loop-'));
const workDir = mkdtempSync(join(tmpdir(), 'orig-project-'));
const bin = mkdtempSync(join(tmpdir(), 'orig-bin-'));

const QUEUE_STEPS = ['top', 'start', 'complete', 'start', 'fail --reason "tests fail"', 'push "$FAKE_PUSH_TASK"', 'skip', 'list', 'status'];
const script = (lines) => `#!/bin/sh\n${lines.join('\n')}\n`;
const step = (cmd) => `maestro ${cmd} >> "$FAKE_LOG" 2>&1; echo "maestro ${cmd.split(' ').slice(0, 2).join(' ')}: exit $?" >> "$FAKE_LOG"`;
writeFileSync(join(bin, 'maestro'), script([`exec node ${join(CLI, 'bin', 'maestro.js')} "$@"`]));
writeFileSync(join(bin, 'claude'), script([
  '{ echo "claude $*"; echo "cwd $(pwd)"; } > "$FAKE_LOG"',
  step('whoami'),
  step('session register'),
  step('report progress "halfway" --task "$(echo "$MAESTRO_TASK_IDS" | cut -d, -f1)"'),
  ...(strategy === 'queue' ? QUEUE_STEPS.map((s) => step(`queue ${s}`)) : []),
  step('session complete'),
]));
for (const name of ['maestro', 'claude']) chmodSync(join(bin, name), 0o755);

const sent = [];
let target = 0;
const proxy = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      sent.push(`${req.method} ${req.url} ${body.toString().slice(0, 100)} -> ${answer.statusCode}`);
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    }).end(body);
  });
});
await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
const server = spawn(process.execPath, [join(ROOT, 'bin', 'maestro-server')], {
  env: { PATH: process.env.PATH, PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'error', SERVER_URL: `http://localhost:${proxy.address().port}` },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise((r) => server.stdout.on('data', (d) => { const m = /listening on (\S+)/.exec(String(d)); if (m) r(m[1]); }));
target = Number(new URL(url).port);
const call = async (method, path, body) =>
  (await fetch(url + path, { method, headers: { 'content-type': 'application/json', origin: 'tauri://localhost' }, body: body && JSON.stringify(body) })).json();

const ui = new WebSocket(url.replace('http', 'ws'), { headers: { origin: 'tauri://localhost' } });
const spawnEvents = [];
ui.on('message', (m) => { const e = JSON.parse(m); if (e.event === 'session:spawn') spawnEvents.push(e.data); });
await new Promise((r) => ui.on('open', r));

const project = await call('POST', '/api/projects', { name: 'shop', workingDir: workDir });
const first = await call('POST', '/api/tasks', { projectId: project.id, title: 'Add login form', priority: 'high' });
const second = await call('POST', '/api/tasks', { projectId: project.id, title: 'Validate input', parentId: first.id });
const later = await call('POST', '/api/tasks', { projectId: project.id, title: 'Pushed later' });
const spawned = await call('POST', '/api/sessions/spawn', {
  projectId: project.id, taskIds: [first.id, second.id], role: 'worker', strategy, spawnSource: 'ui',
  sessionName: 'Multi-Task: Add login form', skills: ['maestro-worker'], model: 'sonnet',
});
await new Promise((r) => setTimeout(r, 100));
console.log(`session:spawn received ${spawnEvents.length} time(s)`);
const { command, cwd, envVars } = spawnEvents[0];
const log = join(dataDir, 'fake.log');
const init = spawn('/bin/sh', ['-c', command], {
  cwd, stdio: 'inherit', env: { PATH: `${bin}:${process.env.PATH}`, HOME: dataDir, FAKE_LOG: log, FAKE_PUSH_TASK: later.id, ...envVars },
});
console.log(`${command}: exit ${await new Promise((r) => init.on('exit', r))}`);
console.log(readFileSync(log, 'utf8'));
console.log('Requests the CLI made:');
for (const line of sent) console.log(`  ${line}`);
const session = await call('GET', `/api/sessions/${spawned.sessionId}`);
const tasks = await Promise.all([first, second].map((t) => call('GET', `/api/tasks/${t.id}`)));
console.log(`Session ${session.status}; tasks ${tasks.map((t) => `${t.status}/${t.sessionStatus}`).join(', ')}`);
ui.terminate();
proxy.close();
server.kill('SIGTERM');
