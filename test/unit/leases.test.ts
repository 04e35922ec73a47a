/** SPEC §10 leases in-process with a fake clock: start, renew, expiry, spawn timeout, restore, the timer. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attachLeases, leasesOf, renewLease, startLease } from '../../src/store/leases.ts';
import { createProject } from '../../src/store/projects.ts';
import { createSession, deleteSession, updateSession } from '../../src/store/sessions.ts';
import { Store } from '../../src/store/store.ts';
import { sleep } from '../helpers.ts';

function setup(leaseMs = 100, spawnTimeoutMs = 300) {
  const store = new Store();
  let clock = 0;
  let persisted = 0;
  const leases = attachLeases(store, { leaseMs, spawnTimeoutMs, now: () => clock, onLeasedChange: () => persisted++ });
  const { id: projectId } = createProject(store, { name: 'p' });
  const session = (status?: 'spawning') => createSession(store, { projectId, taskIds: [], status }).id;
  return { store, leases, session, at: (ms: number) => { clock = ms; leases.tick(ms); }, persisted: () => persisted };
}

describe('Leases', () => {
  it('a renewal only extends a lease the session has; a start leases it', () => {
    const { store, leases, session, at, persisted } = setup();
    const s = session();
    renewLease(store, s);
    assert.equal(leases.isLeased(s), false);
    assert.equal(startLease(store, s), 100);
    assert.equal(persisted(), 1);
    at(50);
    renewLease(store, s);
    assert.equal(leases.expiresAt(s), 150);
    assert.equal(persisted(), 1, 'a renewal writes nothing');
    at(149);
    assert.equal(store.get('session', s)!.status, 'running');
    at(150);
    assert.equal(store.get('session', s)!.status, 'stale');
    assert.equal(leases.isLeased(s), true, 'a stale session stays leased (it may come back)');
  });

  it('ended or deleted sessions leave the lease set; restore gives the rest a fresh lease', () => {
    const { store, leases, session, at } = setup();
    const [ended, deleted, kept] = [session(), session(), session()];
    for (const s of [ended, deleted, kept]) startLease(store, s);
    updateSession(store, ended, { status: 'completed' });
    deleteSession(store, deleted);
    assert.deepEqual(leases.leasedIds(), [kept]);
    at(1000);
    const restarted = attachLeases(store, { leaseMs: 100, spawnTimeoutMs: 300, now: () => 5000 });
    restarted.restore([ended, deleted, kept, 'sess_unknown']);
    assert.deepEqual(restarted.leasedIds(), [kept]);
    assert.equal(restarted.expiresAt(kept), 5100);
    assert.equal(leasesOf(store), restarted);
  });

  it('a session still spawning SPAWN_TIMEOUT_MS after its last change goes stale; a change restarts the wait', () => {
    const { store, session, at } = setup(100, 300);
    const s = session('spawning');
    const created = store.get('session', s)!.lastActivity;
    // Deadlines follow lastActivity (wall clock): move the fake clock relative to it.
    at(created + 299);
    assert.equal(store.get('session', s)!.status, 'spawning');
    at(created + 300);
    const stale = store.get('session', s)!;
    assert.deepEqual([stale.status, stale.timeline.at(-1)!.message], ['stale', 'spawn timed out']);
    const running = session('spawning');
    updateSession(store, running, { status: 'running' });
    at(created + 100_000);
    assert.equal(store.get('session', running)!.status, 'running');
  });

  it('a mass expiry is handled in batches of 500 a turn, none lost', () => {
    const { store, leases, session } = setup();
    const ids = Array.from({ length: 1200 }, () => session());
    for (const s of ids) startLease(store, s);
    const stale = () => ids.filter((s) => store.get('session', s)!.status === 'stale').length;
    assert.equal(leases.tick(100), true);
    assert.equal(stale(), 500);
    assert.equal(leases.tick(100), true);
    assert.equal(leases.tick(100), false);
    assert.equal(stale(), 1200);
  });

  it('the timer ticks on its own, never keeps the process alive, and stops', async () => {
    const store = new Store();
    const leases = attachLeases(store, { leaseMs: 40, spawnTimeoutMs: 40 });
    const { id: projectId } = createProject(store, { name: 'p' });
    const s = createSession(store, { projectId, taskIds: [] }).id;
    leases.start(s);
    leases.startTimer();
    try {
      for (let i = 0; i < 100 && store.get('session', s)!.status !== 'stale'; i++) await sleep(20);
      assert.equal(store.get('session', s)!.status, 'stale');
    } finally {
      leases.stopTimer();
    }
  });
});
