/**
 * SPEC §9 shutdown, as the adversarial review broke it (issue 9): a change arriving
 * once shutdown began is refused (1), SIGHUP is SIGTERM (5).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertError, client, parseResponses, sleep, startProcess, tempDir, waitFor } from '../helpers.ts';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

async function freshDir() {
  const dir = await tempDir('maestro-shutdown-');
  dirs.push(dir);
  return dir;
}

describe('§9 once shutdown begins no change is accepted (item 1)', () => {
  it('a POST whose body completes after SIGTERM answers 503 BUSY, and nothing answered is lost', async () => {
    const dir = await freshDir();
    const proc = await startProcess({ DATA_DIR: dir, LOG_LEVEL: 'info' });
    const { port, hostname, host } = new URL(proc.url);
    const body = JSON.stringify({ name: 'late' });
    const socket = connect(Number(port), hostname);
    let text = '';
    socket.on('data', (d) => (text += d));
    const closed = new Promise((r) => socket.on('close', r));
    await new Promise((r) => socket.once('connect', r));
    socket.write(`POST /api/projects HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`);
    await sleep(100);
    proc.child.kill('SIGTERM');
    await waitFor(() => proc.stderr().includes('SIGTERM received'));
    await sleep(100); // the final flush of an idle server is done by now
    socket.write(body.slice(5));
    await closed;
    const [res] = parseResponses(text);
    assert.ok(res, `an answer before the close: ${JSON.stringify(text)}`);
    assertError(res, 503, 'BUSY');
    assert.equal(await proc.exited, 0);

    const again = await startProcess({ DATA_DIR: dir });
    const names = (await client(again.url).get('/api/projects')).body.map((p: any) => p.name);
    assert.deepEqual(names, [], 'the refused change was not made');
    again.child.kill('SIGTERM');
    assert.equal(await again.exited, 0);
  });
});

describe('§9/§13 an MCP tool call is a write like any other', () => {
  it('a tools/call whose body completes after SIGTERM is refused by the write gate: isError with BUSY, nothing made', async () => {
    const dir = await freshDir();
    const proc = await startProcess({ DATA_DIR: dir, LOG_LEVEL: 'info' });
    const project = (await client(proc.url).post('/api/projects', { name: 'p' })).body;
    const { port, hostname, host } = new URL(proc.url);
    const body = JSON.stringify({
      jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'create_task', arguments: { projectId: project.id, title: 'late' } },
    });
    const socket = connect(Number(port), hostname);
    let text = '';
    socket.on('data', (d) => (text += d));
    const closed = new Promise((r) => socket.on('close', r));
    await new Promise((r) => socket.once('connect', r));
    socket.write(`POST /mcp HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n`
      + `Content-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`);
    await sleep(100);
    proc.child.kill('SIGTERM');
    await waitFor(() => proc.stderr().includes('SIGTERM received'));
    await sleep(100);
    socket.write(body.slice(5));
    await closed;
    const [res] = parseResponses(text);
    assert.ok(res, `an answer before the close: ${JSON.stringify(text)}`);
    assert.equal(res.status, 200);
    const result = res.body.result;
    assert.equal(result.isError, true);
    assert.equal(JSON.parse(result.content[0].text).code, 'BUSY');
    assert.equal(await proc.exited, 0);

    const again = await startProcess({ DATA_DIR: dir });
    assert.deepEqual((await client(again.url).get('/api/tasks')).body, [], 'the refused call made nothing');
    again.child.kill('SIGTERM');
    assert.equal(await again.exited, 0);
  });
});

describe('§9 SIGHUP is treated like SIGTERM (item 5)', () => {
  it('flushes the last debounce window, removes the lock and exits 0', async () => {
    const dir = await freshDir();
    const proc = await startProcess({ DATA_DIR: dir, WRITE_DEBOUNCE_MS: '60000' });
    const created = await client(proc.url).post('/api/projects', { name: 'kept' });
    assert.equal(created.status, 201);
    assert.ok(!existsSync(join(dir, 'projects', `${created.body.id}.json`)), 'still in the debounce window');
    proc.child.kill('SIGHUP');
    assert.equal(await proc.exited, 0);
    assert.ok(existsSync(join(dir, 'projects', `${created.body.id}.json`)), 'flushed on SIGHUP');
    assert.ok(!existsSync(join(dir, '.lock')), 'lock removed');
  });
});
