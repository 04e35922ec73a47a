// `npm run bench`: the server against bare node:http references and the disk, in one run.
// Prints a table and writes bench-results/latest.json. BENCH_QUICK=1 for a short run.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { claimNextThroughput, leaseTimerCost } from './coordination.ts';
import { durableFilesPerSecond } from './disk.ts';
import { bulkLink, historyAppend } from './history.ts';
import { patchLatency, writeJournalDataset } from './journal.ts';
import { QUICK, ROOT, callOk, inTurns, startBare, startBareDurable, startBareFanOut, startMaestro, stop } from './lib.ts';
import {
  fanOut, wsClient, getById, replayUnderFanOut, list, patch, postBurst, postSustained, readTemplate, seed, shutdown, startUp, writeDataset,
} from './workloads.ts';

interface Row { name: string; value: number; unit: string; reference?: number; ratio?: number; goal?: string; pass?: boolean }
const rows: Row[] = [];
const figures: Record<string, unknown> = {};

function row(name: string, value: number, unit: string, extra: Omit<Row, 'name' | 'value' | 'unit'> = {}) {
  const r: Row = { name, value, unit, ...extra };
  if (r.reference !== undefined) r.ratio = value / r.reference;
  rows.push(r);
  console.log(`  ${name}: ${value.toFixed(1)} ${unit}${r.ratio !== undefined ? ` (${r.ratio.toFixed(2)}x)` : ''}`);
}

function ratioRow(name: string, value: number, reference: number, unit: string, min: number) {
  row(name, value, unit, { reference, goal: `>= ${min}x`, pass: value / reference >= min });
}

const root = await mkdtemp(join(tmpdir(), 'maestro-bench-'));
const dataDir = join(root, 'data');
try {
  console.log(`maestro-server benchmark${QUICK ? ' (quick)' : ''}: ${cpus().length} x ${cpus()[0].model}, node ${process.version}`);

  const diskFigure = async (seconds: number, sync = true) => {
    const rate = await durableFilesPerSecond(join(root, 'disk'), QUICK ? 1 : seconds, 900, sync);
    await rm(join(root, 'disk'), { recursive: true });
    return rate;
  };
  console.log('disk');
  row('disk: durable small files', await diskFigure(3), 'files/s');

  const server = await startMaestro(dataDir);
  const project = await callOk(server.url, 'POST', '/api/projects', { name: 'Bench', workingDir: '/tmp' });

  console.log('1. seed 1,000 tasks');
  const seeded = await seed(server.url, project.id, 1000);
  row('seed 1,000 tasks, 32 in flight', seeded.perSecond, 'creates/s');

  const taskJson = JSON.stringify(await callOk(server.url, 'GET', `/api/tasks/${seeded.ids[0]}`));
  const listBytes = (await (await fetch(`${server.url}/api/tasks?projectId=${project.id}`)).text());
  await writeFile(join(root, 'task.json'), taskJson);
  await writeFile(join(root, 'list.json'), listBytes);
  const bareTask = await startBare(join(root, 'task.json'));
  const bareList = await startBare(join(root, 'list.json'));

  console.log('2. GET /api/tasks/:id');
  const { server: get, reference: getRef } = await inTurns(() => getById(server.url, seeded.ids), () => getById(bareTask.url, seeded.ids));
  figures.get = { server: get, reference: getRef };
  ratioRow('GET by id', get.rps, getRef.rps, 'req/s', 0.6);

  console.log('3. GET /api/tasks?projectId= (1,000 tasks)');
  const { server: lst, reference: lstRef } = await inTurns(() => list(server.url, project.id), () => list(bareList.url, project.id));
  figures.list = { server: lst, reference: lstRef, bytes: listBytes.length };
  ratioRow('list of 1,000 tasks', lst.rps, lstRef.rps, 'req/s', 0.8);
  row('list p50', lst.p50, 'ms', { reference: lstRef.p50 });
  row('list p99', lst.p99, 'ms', { reference: lstRef.p99, goal: '<= 1.5x', pass: lst.p99 <= 1.5 * lstRef.p99 });

  console.log('4. PATCH /api/tasks/:id');
  const { server: pat, reference: patRef } = await inTurns(() => patch(server.url, seeded.ids), () => patch(bareTask.url, seeded.ids));
  figures.patch = { server: pat, reference: patRef };
  ratioRow('PATCH', pat.rps, patRef.rps, 'req/s', 0.8);
  // The ceiling for any server that answers a change once it is durable: bare, plus a group-committed append.
  const bareDurable = await startBareDurable(join(root, 'task.json'), join(root, 'bare-durable.log'));
  const { server: durable, reference: durableRef } = await inTurns(() => patch(bareDurable.url, seeded.ids), () => patch(bareTask.url, seeded.ids));
  await stop(bareDurable);
  figures.patchCeiling = { bareDurable: durable, reference: durableRef };
  row('PATCH ceiling: bare + group-committed fdatasync', durable.rps, 'req/s', { reference: durableRef.rps });

  console.log('4b. answer latency group commit adds (PATCH; the bare reference answers at once)');
  for (const writers of [1, 64]) {
    const perWriter = Math.max(5, Math.round((QUICK ? 400 : 2000) / writers));
    const lat = await patchLatency(server.url, seeded.ids, writers, perWriter);
    const latRef = await patchLatency(bareTask.url, seeded.ids, writers, perWriter);
    figures[`patchLatency${writers}`] = { server: lat, reference: latRef };
    row(`PATCH, ${writers} writer(s): added p50`, lat.p50 - latRef.p50, 'ms', { reference: latRef.p50 });
    row(`PATCH, ${writers} writer(s): added p99`, lat.p99 - latRef.p99, 'ms', { reference: latRef.p99 });
  }

  console.log('6. WebSocket fan-out');
  const bareFanOut = await startBareFanOut();
  for (const [clients, samples, goal] of [[200, QUICK ? 50 : 200, 5], [1000, QUICK ? 20 : 100, 20]]) {
    const fan = await fanOut(server.url, seeded.ids, clients, samples);
    const fanRef = await fanOut(bareFanOut.url, seeded.ids, clients, samples);
    const fanWs = await fanOut(server.url, seeded.ids, clients, samples, wsClient);
    figures[`fanOut${clients}`] = { server: fan, reference: fanRef, serverToWsLibraryClients: fanWs };
    row(`fan-out ${clients} clients p50`, fan.p50, 'ms', { reference: fanRef.p50 });
    row(`fan-out ${clients} clients p99`, fan.p99, 'ms', { reference: fanRef.p99, goal: `<= ${goal} ms`, pass: fan.p99 <= goal });
    row(`fan-out ${clients} clients missed`, fan.missed + fanWs.missed, 'events', { goal: '0', pass: fan.missed + fanWs.missed === 0 });
    row(`fan-out ${clients} clients on the ws library p99`, fanWs.p99, 'ms');
  }
  await stop(bareFanOut);

  console.log('9. replay of 10,000 events to a reconnecting client');
  const replay = await replayUnderFanOut(server.url, seeded.ids, 10_000, 200, QUICK ? 50 : 200);
  figures.replay = replay;
  row('replay 10,000 events, alone (median of 3)', replay.replayAloneMs, 'ms');
  row(`replay 10,000 events, under fan-out (median of ${replay.replays})`, replay.replayUnderLoadMs, 'ms');
  row('replay: events, MB a replay', replay.replayed, `events (${replay.replayMb.toFixed(1)} MB)`);
  row('fan-out 200 clients p99 while replays run', replay.during.p99, 'ms', { reference: replay.quiet.p99 });
  row('fan-out 200 clients p50 while replays run', replay.during.p50, 'ms', { reference: replay.quiet.p50 });
  row('fan-out while replays run: events missed', replay.during.missed, 'events', { goal: '0', pass: replay.during.missed === 0 });

  console.log('5. POST /api/tasks');
  const burstProject = await callOk(server.url, 'POST', '/api/projects', { name: 'Burst' });
  const burst = await postBurst(server.url, burstProject.id);
  const burstRef = await postBurst(bareTask.url, burstProject.id);
  figures.postBurst = { server: burst, reference: burstRef };
  ratioRow('POST burst of 1,000', burst.rps, burstRef.rps, 'acks/s', 0.5);
  const loadProject = await callOk(server.url, 'POST', '/api/projects', { name: 'Sustained' });
  // This disk's speed drifts by 2x within minutes here: measure it beside each use.
  const diskBefore = await diskFigure(2);
  // Creating a file without its fsync, beside it: the most a server writing a file an entity can create.
  const unsynced = await diskFigure(2, false);
  const sustained = await postSustained(server, dataDir, loadProject.id);
  const diskNear = (diskBefore + await diskFigure(2)) / 2;
  figures.postSustained = { ...sustained, diskFilesPerSecond: diskNear, unsyncedFilesPerSecond: unsynced };
  row('POST sustained', sustained.rps, 'acks/s');
  ratioRow('POST sustained: answers vs the disk\'s durable-file rate', sustained.rps, diskNear, 'acks/s', 2);
  row('POST sustained: the ceiling, files created without fsync', unsynced, 'files/s', { reference: diskNear });
  ratioRow('POST sustained: files on disk', sustained.filesPerSecond, diskNear, 'files/s', 0.8);
  row('POST sustained: most changes waiting for disk', sustained.maxPending, 'changes', { goal: '<= 2000 + 64 in flight', pass: sustained.maxPending <= 2064 });
  row('POST sustained: server RSS after', sustained.rssAfterMb, 'MB', { reference: sustained.rssBeforeMb });
  await Promise.all([stop(server), stop(bareTask), stop(bareList)]);
  const failed = [get, getRef, lst, lstRef, pat, patRef, burst, burstRef, sustained].reduce((n, r) => n + r.failed, 0);
  row('requests that failed (non-2xx, errors, timeouts)', failed, 'requests', { goal: '0', pass: failed === 0 });

  console.log('7. start-up');
  const template = await readTemplate(dataDir, project.id, seeded.ids[0]);
  for (const [size, goalMs] of [[10_000, 500], [QUICK ? 20_000 : 100_000, 3000]]) {
    const dir = join(root, `start-${size}`);
    await writeDataset(dir, size, template.project, template.task);
    const start = await startUp(dir, 3);
    figures[`startUp${size}`] = start;
    if (start.tasks !== size) throw new Error(`start-up loaded ${start.tasks} of ${size} tasks`);
    row(`start-up, ${size} tasks (median of 3)`, start.ms, 'ms', { goal: `<= ${goalMs} ms`, pass: start.ms <= goalMs });
    row(`RSS after loading ${size} tasks`, start.rssMb, 'MB', { reference: start.dataMb, goal: '<= 2.5x data on disk', pass: start.rssMb <= 2.5 * start.dataMb });
    await rm(dir, { recursive: true });
  }

  console.log('7b. start-up replaying a large journal');
  {
    const bytes = (QUICK ? 8 : 64) * 1024 * 1024;
    const dir = join(root, 'start-journal');
    const written = await writeJournalDataset(dir, bytes, template.project, template.task);
    const start = await startUp(dir, 1);
    figures.startUpJournal = { ...start, bytes, records: written.records };
    if (start.tasks !== written.tasks) throw new Error(`start-up replayed ${start.tasks} of ${written.tasks} tasks`);
    row(`start-up replaying a ${bytes >> 20} MiB journal (${written.records} records)`, start.ms, 'ms');
    await rm(dir, { recursive: true });
  }

  console.log('8. shutdown with the pending-write bound full');
  const diskBeforeShutdown = await diskFigure(1);
  const down = await shutdown(join(root, 'shutdown'), 2000);
  const disk = (diskBeforeShutdown + await diskFigure(1)) / 2;
  figures.shutdown = { ...down, diskFilesPerSecond: disk };
  // The reference is the time this disk needs for those files, from its own figure.
  row(`shutdown, ${down.pending} changes pending`, down.ms, 'ms', { reference: (1000 * down.pending) / disk, goal: '<= 1000 ms', pass: down.ms <= 1000 && down.exitCode === 0 && down.onDisk === down.pending });

  console.log('10. one append to a long history');
  const appends = [];
  for (const entries of [1000, QUICK ? 20_000 : 100_000]) {
    const a = await historyAppend(root, entries);
    appends.push(a);
    row(`append to a ${entries}-entry task timeline p50`, a.timeline.p50, 'ms');
    row(`append to a ${entries}-entry session event list p50`, a.events.p50, 'ms');
  }
  figures.historyAppend = appends;
  const [small, large] = appends;
  row('append p50, long history vs 1,000 entries', large.timeline.p50, 'ms', {
    reference: small.timeline.p50, goal: '<= 2x (same cost whatever the length)', pass: large.timeline.p50 <= 2 * small.timeline.p50,
  });

  console.log('11. one PATCH linking 3,000 tasks, 3 clients');
  const linked = await bulkLink(root, QUICK ? 1000 : 3000);
  figures.bulkLink = linked;
  row(`PATCH linking ${linked.tasks} tasks`, linked.ms, 'ms');
  row(`bytes sent to each client for ${linked.tasks} links`, linked.bytesPerClient / 1e6, 'MB', {
    goal: '<= 2 KB a link', pass: linked.bytesPerClient <= 2000 * linked.tasks,
  });

  console.log('12. claim-next: 10,000 tasks, 50 agents');
  const diskBeforeClaims = await diskFigure(1);
  const claims = await claimNextThroughput(root);
  const diskNearClaims = (diskBeforeClaims + await diskFigure(1)) / 2;
  figures.claimNext = { ...claims, diskFilesPerSecond: diskNearClaims };
  // Each claim makes a task file durable: the disk's own rate, taken beside it, says how much of the pace is the disk's.
  row('claim-next, 10,000 tasks, 50 agents', claims.perSecond, 'claims/s');
  row('claim-next: disk beside it', diskNearClaims, 'files/s');
  row('claim-next p50', claims.p50, 'ms');
  row('claim-next p99', claims.p99, 'ms');
  row('claim-next: a task handed out twice', claims.duplicates, 'tasks', { goal: '0', pass: claims.duplicates === 0 });

  console.log('13. lease timer, 10,000 leased sessions (event-loop delay, in-process)');
  const leases = await leaseTimerCost(root) as Record<string, { p50: number; p99: number; max: number; ms: number }>;
  figures.leaseTimer = leases;
  row('event-loop delay p99, 10,000 leased, idle', leases.idleLeased.p99, 'ms', { reference: leases.idleUnleased.p99 });
  row('event-loop delay max, 10,000 leased, idle', leases.idleLeased.max, 'ms', { reference: leases.idleUnleased.max });
  row('10,000 leases run out at once: delay p99', leases.expiryWave.p99, 'ms');
  row('10,000 leases run out at once: delay max', leases.expiryWave.max, 'ms');
} finally {
  await rm(root, { recursive: true, force: true });
}

console.log('\n| workload | figure | reference | ratio | goal | met |\n|---|---|---|---|---|---|');
for (const r of rows) {
  const ref = r.reference === undefined ? '' : `${r.reference.toFixed(1)} ${r.unit}`;
  const ratio = r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`;
  const met = r.pass === undefined ? '' : r.pass ? 'yes' : 'NO';
  console.log(`| ${r.name} | ${r.value.toFixed(1)} ${r.unit} | ${ref} | ${ratio} | ${r.goal ?? ''} | ${met} |`);
}

const machine = { cpus: cpus().length, model: cpus()[0].model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform };
await mkdir(join(ROOT, 'bench-results'), { recursive: true });
const out = join(ROOT, 'bench-results', 'latest.json');
await writeFile(out, `${JSON.stringify({ date: new Date().toISOString(), quick: QUICK, machine, rows, figures }, null, 2)}\n`);
console.log(`\nfigures written to ${out}`);
process.exit(0);
