/**
 * SPEC §7: the lock is taken atomically (issue 9 item 3). Many processes racing
 * for one data folder, with no lock or a stale one: exactly one wins each round.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT, runToExit, startProcess, tempDir, waitFor } from '../helpers.ts';

const RACERS = 6;
const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

/**
 * A process that takes the lock (the real lock code) at `startAt` exactly. A winner
 * keeps it until killed, so a racer that a loaded machine starts late still meets it.
 */
const RACER = `
import { acquireLock } from ${JSON.stringify(join(ROOT, 'src/persistence/lock.ts'))};
const startAt = Number(process.argv.at(-1));
while (Date.now() < startAt) {}
try {
  await acquireLock(process.env.DATA_DIR);
  process.stdout.write('won');
  setInterval(() => {}, 1000);
} catch (err) {
  process.stdout.write('refused: ' + err.message);
}`;

/** Starts the racers; resolves with what each said once all have, then kills the winners. */
async function race(dir: string, startAt: number): Promise<string[]> {
  const children = Array.from({ length: RACERS }, () => spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', RACER, String(startAt)], {
    cwd: ROOT, env: { ...process.env, DATA_DIR: dir }, stdio: ['ignore', 'pipe', 'inherit'],
  }));
  const outputs = children.map(() => '');
  children.forEach((child, i) => child.stdout.on('data', (d) => (outputs[i] += d)));
  await waitFor(() => outputs.every((o) => o.length > 0), 30_000, 50).finally(() => {
    for (const child of children) child.kill('SIGKILL');
  });
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.on('exit', r)))));
  return outputs;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

describe('§7 the lock is atomic (item 3)', () => {
  for (const stale of [false, true]) {
    it(`${RACERS} starters at once${stale ? ' on a stale lock' : ''}: exactly one wins, three rounds running`, async () => {
      for (let round = 0; round < 3; round++) {
        const dir = await tempDir('maestro-lock-');
        dirs.push(dir);
        if (stale) await writeFile(join(dir, '.lock'), `${await deadPid()}\n`);
        const startAt = Date.now() + 2500;
        const results = await race(dir, startAt);
        const winners = results.filter((r) => r === 'won');
        assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(results)}`);
        for (const r of results.filter((x) => x !== 'won')) assert.match(r, /^refused: data folder .* is locked by pid \d+/);
      }
    });
  }

  it('whole servers on a stale lock: one runs, the others exit 1 with one line naming its pid', async () => {
    const dir = await tempDir('maestro-lock-');
    dirs.push(dir);
    await writeFile(join(dir, '.lock'), `${await deadPid()}\n`);
    const starts = await Promise.allSettled(Array.from({ length: 4 }, () => startProcess({ DATA_DIR: dir })));
    const running = starts.filter((s) => s.status === 'fulfilled');
    assert.equal(running.length, 1, JSON.stringify(starts.map((s) => s.status === 'rejected' ? String(s.reason) : 'ok')));
    const server = running[0].value;
    for (const s of starts) {
      if (s.status === 'rejected') assert.match(String(s.reason), new RegExp(`locked by pid ${server.child.pid}`));
    }
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
  });

  it('a lock naming a live process that is not a server says so, with its pid', async () => {
    const dir = await tempDir('maestro-lock-');
    dirs.push(dir);
    await writeFile(join(dir, '.lock'), `${process.pid}\n`);
    const result = await runToExit({ DATA_DIR: dir });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `maestro-server: data folder ${dir} is locked by pid ${process.pid}, which is running `
      + `but may not be a maestro-server; if no server uses this folder, delete ${join(dir, '.lock')}\n`);
  });
});
