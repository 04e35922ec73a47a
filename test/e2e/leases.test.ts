/**
 * SPEC §10 leases with a short SESSION_LEASE_MS and SPAWN_TIMEOUT_MS: expiry to
 * `stale` (event, timeline, claims released), revival, what renews a lease, the
 * spawn timeout, and a restart giving every leased session a fresh lease.
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { leasesOf } from '../../src/store/leases.ts';
import type { Session } from '../../src/types.ts';
import {
  type Api, client, entities, EventLog, sleep, startTestServer, type TestServer, tempDir, waitFor,
} from '../helpers.ts';

const LEASE_MS = 1500;

describe('§10 leases', () => {
  let server: TestServer;
  let api: Api;
  let events: EventLog;
  let projectId: string;
  before(async () => {
    server = await startTestServer({ SESSION_LEASE_MS: String(LEASE_MS), SPAWN_TIMEOUT_MS: String(LEASE_MS) });
    api = client(server.url);
    events = await EventLog.connect(server.url);
    projectId = (await entities(api).create('project', { name: 'leases' })).id;
  });
  after(async () => {
    events.close();
    await server.cleanup();
  });

  const session = (body: object = {}) => entities(api).create('session', { projectId, taskIds: [], ...body });
  const task = () => entities(api).create('task', { projectId, title: 't' });
  const staleEvent = (id: string) =>
    events.next((m) => m.type === 'session:updated' && m.data.id === id && m.data.status === 'stale', 10_000);

  it('a claim starts a lease; when it runs out the session goes stale (broadcast, stale timeline event) and its claims are released', async () => {
    const s = await session();
    const t = await task();
    assert.equal((await api.post(`/api/tasks/${t.id}/claim`, { sessionId: s.id })).status, 200);
    const update = await staleEvent(s.id);
    const stale: Session = update.data;
    assert.equal(stale.completedAt, null);
    const last = stale.timeline.at(-1)!;
    assert.deepEqual([last.type, last.message], ['stale', 'lease expired']);
    const released = await entities(api).get('task', t.id);
    assert.deepEqual([released.claimedBy, released.status], [null, 'todo']);
    assert.deepEqual([released.timeline.at(-1)!.type, released.timeline.at(-1)!.message], ['claim_released', 'lease expired']);
    const heartbeat = await api.post(`/api/sessions/${s.id}/heartbeat`);
    assert.deepEqual([heartbeat.status, heartbeat.body.status], [200, 'running']);
    assert.equal((await entities(api).get('session', s.id)).status, 'running');
  });

  it('heartbeats keep a session alive; one that never heartbeats or claims is never leased', async () => {
    const beating = await session();
    const silent = await session();
    const until = Date.now() + 2 * LEASE_MS;
    while (Date.now() < until) {
      assert.equal((await api.post(`/api/sessions/${beating.id}/heartbeat`)).status, 200);
      await sleep(150);
    }
    assert.equal((await entities(api).get('session', beating.id)).status, 'running');
    assert.equal((await entities(api).get('session', silent.id)).status, 'running');
    assert.equal(leasesOf(server.store)!.isLeased(silent.id), false);
  });

  it('every write naming a leased session renews its lease, refused ones too', async () => {
    const s = await session();
    const t = await task();
    const other = await session();
    await api.post(`/api/tasks/${t.id}/claim`, { sessionId: other.id });
    await api.post(`/api/sessions/${s.id}/heartbeat`);
    const leases = leasesOf(server.store)!;
    const writes: [string, () => Promise<unknown>][] = [
      ['PATCH', () => api.patch(`/api/sessions/${s.id}`, { name: 'renamed' })],
      ['events', () => api.post(`/api/sessions/${s.id}/events`, { type: 'x' })],
      ['timeline', () => api.post(`/api/sessions/${s.id}/timeline`, { message: 'm' })],
      ['task timeline', () => api.post(`/api/tasks/${t.id}/timeline`, { message: 'm', sessionId: s.id })],
      ['refused claim', () => api.post(`/api/tasks/${t.id}/claim`, { sessionId: s.id })],
      ['refused release', () => api.post(`/api/tasks/${t.id}/release`, { sessionId: s.id })],
      ['claim-next', () => api.post('/api/tasks/claim-next', { projectId, sessionId: s.id })],
      ['link', () => api.post(`/api/sessions/${s.id}/tasks/${t.id}`)],
      ['refused PATCH', () => api.patch(`/api/sessions/${s.id}`, { name: 'x' }, { headers: { 'If-Match': '"999"' } })],
    ];
    for (const [name, write] of writes) {
      const before = leases.expiresAt(s.id)!;
      await sleep(5);
      await write();
      assert.ok(leases.expiresAt(s.id)! > before, `${name} renews the lease`);
    }
  });

  it('a session still spawning SPAWN_TIMEOUT_MS after its last change goes stale ("spawn timed out")', async () => {
    const t = await task();
    const spawned = await api.post('/api/sessions/spawn', { projectId, taskIds: [t.id] });
    assert.equal(spawned.status, 201);
    const stale: Session = (await staleEvent(spawned.body.sessionId)).data;
    assert.deepEqual([stale.timeline.at(-1)!.type, stale.timeline.at(-1)!.message], ['stale', 'spawn timed out']);
  });

  it('an ended session is no longer leased', async () => {
    const s = await session();
    await api.post(`/api/sessions/${s.id}/heartbeat`);
    await entities(api).update('session', s.id, { status: 'completed' });
    assert.equal(leasesOf(server.store)!.isLeased(s.id), false);
    await sleep(LEASE_MS + 300);
    assert.equal((await entities(api).get('session', s.id)).status, 'completed');
  });
});

describe('§10 leases across a restart', () => {
  it('a restarted server gives every leased session a fresh lease, then lets it run out', async () => {
    const dataDir = await tempDir();
    const env = { DATA_DIR: dataDir, SESSION_LEASE_MS: String(LEASE_MS) };
    let server = await startTestServer(env);
    let api = client(server.url);
    const { id: projectId } = await entities(api).create('project', { name: 'restart' });
    const t = await entities(api).create('task', { projectId, title: 't' });
    const leased = await entities(api).create('session', { projectId, taskIds: [] });
    const unleased = await entities(api).create('session', { projectId, taskIds: [] });
    assert.equal((await api.post(`/api/tasks/${t.id}/claim`, { sessionId: leased.id })).status, 200);
    await server.stop();
    assert.deepEqual(JSON.parse(await readFile(join(dataDir, 'leases.json'), 'utf8')), { leased: [leased.id] });

    await sleep(LEASE_MS + 200); // longer than the lease: only a fresh lease keeps it alive now
    server = await startTestServer(env);
    try {
      api = client(server.url);
      const restarted = Date.now();
      assert.equal((await entities(api).get('session', leased.id)).status, 'running');
      assert.equal((await entities(api).get('task', t.id)).claimedBy, leased.id);
      const expiry = leasesOf(server.store)!.expiresAt(leased.id)!;
      assert.ok(expiry >= restarted - 1000 + LEASE_MS, 'the lease counts from the restart');
      await waitFor(async () => (await entities(api).get('session', leased.id)).status === 'stale', 10_000);
      assert.equal((await entities(api).get('task', t.id)).claimedBy, null);
      assert.equal((await entities(api).get('session', unleased.id)).status, 'running');
      // Revival works after a restart too.
      assert.equal((await api.post(`/api/sessions/${leased.id}/heartbeat`)).body.status, 'running');
    } finally {
      await server.cleanup();
    }
  });

  it('a claim whose holder a crash left ended or deleted is released at start and written back', async () => {
    const dataDir = await tempDir();
    let server = await startTestServer({ DATA_DIR: dataDir });
    let api = client(server.url);
    const { id: projectId } = await entities(api).create('project', { name: 'crash' });
    const [t1, t2] = [await entities(api).create('task', { projectId, title: '1' }), await entities(api).create('task', { projectId, title: '2' })];
    const [ended, deleted] = [await entities(api).create('session', { projectId, taskIds: [] }), await entities(api).create('session', { projectId, taskIds: [] })];
    await api.post(`/api/tasks/${t1.id}/claim`, { sessionId: ended.id });
    await api.post(`/api/tasks/${t2.id}/claim`, { sessionId: deleted.id });
    await server.stop();
    // As if the server died after writing the sessions but before the tasks.
    const endedFile = join(dataDir, 'sessions', `${ended.id}.json`);
    await writeFile(endedFile, JSON.stringify({ ...JSON.parse(await readFile(endedFile, 'utf8')), status: 'completed', completedAt: Date.now() }));
    await rm(join(dataDir, 'sessions', `${deleted.id}.json`));
    server = await startTestServer({ DATA_DIR: dataDir });
    try {
      api = client(server.url);
      for (const [t, why] of [[t1, 'session ended'], [t2, 'session deleted']] as const) {
        const now = await entities(api).get('task', t.id);
        assert.deepEqual([now.claimedBy, now.status, now.timeline.at(-1)!.message], [null, 'todo', why]);
      }
      await server.writer.flush();
      const onDisk = JSON.parse(await readFile(join(dataDir, 'tasks', projectId, `${t1.id}.json`), 'utf8'));
      assert.equal(onDisk.claimedBy, null);
    } finally {
      await server.cleanup();
    }
  });
});
