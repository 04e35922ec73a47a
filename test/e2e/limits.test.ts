/**
 * SPEC §8 "no client can take the server's memory or connections", as the
 * adversarial review broke it (issue 9): connection cap and header timeout (11).
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { client, sleep, startProcess, tempDir, waitFor } from '../helpers.ts';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

function openIdle(url: string): Promise<{ socket: Socket; closed: () => boolean; text: () => string }> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let closed = false;
    let text = '';
    socket.on('data', (d) => (text += d));
    socket.on('close', () => (closed = true));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, closed: () => closed, text: () => text }));
    socket.once('error', reject);
  });
}

describe('§8 connection cap and header timeout (item 11)', () => {
  it('connections past MAX_CONNECTIONS are closed at once; idle ones are dropped after 10 s, then /health answers', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const proc = await startProcess({ DATA_DIR: dir, MAX_CONNECTIONS: '20' });
    const idle: Awaited<ReturnType<typeof openIdle>>[] = [];
    for (let i = 0; i < 20; i++) idle.push(await openIdle(proc.url));
    await sleep(200);
    const extra: Awaited<ReturnType<typeof openIdle>>[] = [];
    for (let i = 0; i < 5; i++) extra.push(await openIdle(proc.url));
    await waitFor(() => extra.every((c) => c.closed()), 3000);
    assert.ok(idle.every((c) => !c.closed()), 'the first 20 are kept');
    const started = Date.now();
    await waitFor(() => idle.every((c) => c.closed()), 14_000, 100);
    const waited = Date.now() - started;
    assert.ok(waited > 7000, `dropped after the header timeout, not before (${waited} ms)`);
    assert.match(idle[0].text(), /^HTTP\/1\.1 408/);
    assert.equal((await client(proc.url).get('/health')).status, 200);
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);
  });
});
