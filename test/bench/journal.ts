// SPEC §16 figures: the answer latency group commit adds, and start-up with a large journal to replay.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { journalLine } from '../../src/persistence/journal.ts';
import { call, percentile } from './lib.ts';

/**
 * PATCH answer latency with `writers` clients each sending one request at a time,
 * against `url` (the server, or the bare reference for the same-run baseline).
 */
export async function patchLatency(url: string, ids: string[], writers: number, perWriter: number) {
  const times: number[] = [];
  let failed = 0;
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    for (let i = 0; i < perWriter; i++) {
      const t0 = performance.now();
      const res = await call(url, 'PATCH', `/api/tasks/${ids[(w * perWriter + i) % ids.length]}`, { title: `Latency ${w}-${i}` });
      times.push(performance.now() - t0);
      if (res.status >= 300) failed++;
    }
  }));
  return { p50: percentile(times, 50), p99: percentile(times, 99), failed };
}

/**
 * A data folder with one project, no entity files for its tasks and a journal of about
 * `bytes` holding every task's creation and then patches, as a crash would leave it.
 */
export async function writeJournalDataset(dir: string, bytes: number, project: any, task: any) {
  await mkdir(join(dir, 'projects'), { recursive: true });
  await mkdir(join(dir, 'journal'), { recursive: true });
  await writeFile(join(dir, 'projects', `${project.id}.json`), JSON.stringify(project, null, 2));
  const lines: string[] = [];
  let size = 0;
  let seq = 0;
  const tasks = 10_000;
  while (size < bytes) {
    const n = seq % tasks;
    const entity = { ...task, id: `task_journal_${n}`, title: `Task ${n} v${Math.floor(seq / tasks)}`, version: 1 + Math.floor(seq / tasks) };
    const line = journalLine({ s: ++seq, k: 'task', i: entity.id, p: project.id, e: entity });
    lines.push(line, journalLine({ c: seq }));
    size += line.length + 40;
  }
  await writeFile(join(dir, 'journal', '00000001.log'), lines.join(''));
  return { records: seq, tasks: Math.min(seq, tasks) };
}
