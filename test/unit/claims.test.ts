/**
 * SPEC §10 claims in-process, against the store with an injectable clock: a
 * property test interleaving claims, releases, status changes, deletions,
 * links and lease expiries, and the exact effects of releases.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ApiError } from '../../src/errors.ts';
import { claimNextTask, claimTask, heartbeat, markStale, releaseBrokenClaims, releaseTask } from '../../src/store/claims.ts';
import { attachLeases } from '../../src/store/leases.ts';
import { link, unlink } from '../../src/store/links.ts';
import { createProject } from '../../src/store/projects.ts';
import { CLOSED_TASK_STATUSES } from '../../src/store/ready.ts';
import { createSession, deleteSession, updateSession } from '../../src/store/sessions.ts';
import { Store } from '../../src/store/store.ts';
import { createTask, deleteTask, listTasks, updateTask } from '../../src/store/tasks.ts';
import { isActiveSession, isEndedSession, type SessionStatus, type Task, type TaskStatus } from '../../src/types.ts';

const LEASE_MS = 1000;

function world(taskCount: number, deps: number[][], parents: (number | null)[]) {
  const store = new Store();
  let clock = 1_000_000;
  const leases = attachLeases(store, { leaseMs: LEASE_MS, spawnTimeoutMs: 3 * LEASE_MS, now: () => clock });
  const project = createProject(store, { name: 'p' });
  const taskIds: string[] = [];
  for (let i = 0; i < taskCount; i++) {
    const parentId = parents[i] !== null && parents[i]! < i ? taskIds[parents[i]!] : null;
    const dependencies = deps[i].filter((d) => d < i).map((d) => taskIds[d]);
    taskIds.push(createTask(store, { projectId: project.id, title: `t${i}`, parentId, dependencies }).id);
  }
  const sessionIds: string[] = [];
  const addSession = () => sessionIds.push(createSession(store, { projectId: project.id, taskIds: [] }).id);
  for (let i = 0; i < 4; i++) addSession();
  return {
    store, leases, project, taskIds, sessionIds, addSession,
    now: () => clock,
    advance: (ms: number) => { clock += ms; leases.tick(clock); },
  };
}

type World = ReturnType<typeof world>;

const op = fc.oneof(
  fc.record({ kind: fc.constant('claim' as const), t: fc.nat(7), s: fc.nat(5) }),
  fc.record({ kind: fc.constant('claimNext' as const), s: fc.nat(5), priority: fc.constantFrom(undefined, 'high', 'medium', 'low') }),
  fc.record({ kind: fc.constant('release' as const), t: fc.nat(7), s: fc.nat(5), force: fc.boolean() }),
  fc.record({ kind: fc.constant('taskStatus' as const), t: fc.nat(7), status: fc.constantFrom<TaskStatus>('todo', 'in_progress', 'completed', 'blocked', 'cancelled') }),
  fc.record({ kind: fc.constant('sessionStatus' as const), s: fc.nat(5), status: fc.constantFrom<SessionStatus>('running', 'needs_input', 'stale', 'completed', 'failed', 'stopped', 'spawning') }),
  fc.record({ kind: fc.constant('deleteTask' as const), t: fc.nat(7) }),
  fc.record({ kind: fc.constant('deleteSession' as const), s: fc.nat(5) }),
  fc.record({ kind: fc.constant('link' as const), t: fc.nat(7), s: fc.nat(5), on: fc.boolean() }),
  fc.record({ kind: fc.constant('heartbeat' as const), s: fc.nat(5) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 2 * LEASE_MS }) }),
  fc.record({ kind: fc.constant('newSession' as const) }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

const pick = (ids: string[], i: number) => ids[i % ids.length] ?? 'missing';

/** Runs one operation; refusals (ApiError) are part of the game, anything else is a bug. */
function apply(w: World, o: Op) {
  const { store } = w;
  const t = 't' in o ? pick(w.taskIds, o.t) : '';
  const s = 's' in o ? pick(w.sessionIds, o.s) : '';
  try {
    switch (o.kind) {
      case 'claim': {
        const before = store.get('task', t)?.claimedBy ?? null;
        const claimed = claimTask(store, t, s, w.now());
        assert.ok(before === null || before === s, `claim succeeded on a task held by ${before}`);
        assert.equal(claimed.claimedBy, s);
        break;
      }
      case 'claimNext': {
        const claimed = claimNextTask(store, { projectId: w.project.id, sessionId: s, priority: o.priority as Task['priority'] }, w.now());
        for (const dep of claimed.dependencies) assert.equal(store.get('task', dep)!.status, 'completed', 'claim-next handed out a blocked task');
        for (const child of store.childIdsOf(claimed.id)) assert.ok(CLOSED_TASK_STATUSES.includes(store.get('task', child)!.status));
        break;
      }
      case 'release': releaseTask(store, t, o.force ? { force: true } : { sessionId: s }, w.now()); break;
      case 'taskStatus': updateTask(store, t, { status: o.status }); break;
      case 'sessionStatus': updateSession(store, s, { status: o.status }); break;
      case 'deleteTask': deleteTask(store, t); break;
      case 'deleteSession': deleteSession(store, s); break;
      case 'link': (o.on ? link : unlink)(store, s, t); break;
      case 'heartbeat': heartbeat(store, s, w.now()); break;
      case 'advance': w.advance(o.ms); break;
      case 'newSession': w.addSession(); break;
    }
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
  }
}

function checkInvariants(w: World) {
  const { store } = w;
  for (const task of store.all('task')) {
    assert.equal(task.claimedBy === null, task.claimedAt === null, 'claimedBy and claimedAt go together');
    if (task.claimedBy !== null) {
      const holder = store.get('session', task.claimedBy);
      assert.ok(holder, `${task.id} is claimed by a deleted session`);
      assert.ok(isActiveSession(holder.status), `${task.id} is claimed by a ${holder.status} session`);
      assert.ok(holder.taskIds.includes(task.id) && task.sessionIds.includes(holder.id), 'a holder is linked');
      assert.ok(!CLOSED_TASK_STATUSES.includes(task.status), 'a closed task holds no claim');
    }
    for (const sessionId of task.sessionIds) assert.ok(store.get('session', sessionId)?.taskIds.includes(task.id), 'links agree');
  }
  for (const session of store.all('session')) {
    if (isEndedSession(session.status)) assert.equal(w.leases.isLeased(session.id), false, 'an ended session is not leased');
    if (isActiveSession(session.status) && w.leases.isLeased(session.id)) {
      assert.ok(w.leases.expiresAt(session.id)! > w.now(), 'a live leased session has a lease that has not run out');
    }
  }
  for (const ready of listTasks(store, { projectId: w.project.id, ready: true })) {
    assert.equal(ready.status, 'todo');
    assert.equal(ready.claimedBy, null);
    for (const dep of ready.dependencies) assert.equal(store.get('task', dep)!.status, 'completed', 'a ready task waits on nothing');
    for (const child of store.childIdsOf(ready.id)) assert.ok(CLOSED_TASK_STATUSES.includes(store.get('task', child)!.status));
  }
}

describe('§10 claims (property)', () => {
  it('never two holders, never a claim held by an ended, stale or deleted session, never a ready task a dependency blocks', () => {
    const shape = fc.record({
      deps: fc.array(fc.array(fc.nat(7), { maxLength: 3 }), { minLength: 8, maxLength: 8 }),
      parents: fc.array(fc.option(fc.nat(7)), { minLength: 8, maxLength: 8 }),
      ops: fc.array(op, { minLength: 1, maxLength: 80 }),
    });
    fc.assert(fc.property(shape, ({ deps, parents, ops }) => {
      const w = world(8, deps, parents);
      for (const o of ops) {
        apply(w, o);
        checkInvariants(w);
      }
    }), { numRuns: 300, seed: 11 });
  });
});

describe('§10 claims (examples)', () => {
  it('a lease that runs out makes the session stale and releases its claims with "lease expired"', () => {
    const w = world(1, [[]], [null]);
    const [t] = w.taskIds;
    const [s] = w.sessionIds;
    claimTask(w.store, t, s, w.now());
    w.advance(LEASE_MS - 1);
    assert.equal(w.store.get('session', s)!.status, 'running');
    w.advance(1);
    const stale = w.store.get('session', s)!;
    assert.equal(stale.status, 'stale');
    assert.deepEqual([stale.timeline.at(-1)!.type, stale.timeline.at(-1)!.message], ['stale', 'lease expired']);
    const task = w.store.get('task', t)!;
    assert.deepEqual([task.claimedBy, task.status, task.timeline.at(-1)!.message], [null, 'todo', 'lease expired']);
    assert.equal(heartbeat(w.store, s, w.now()).status, 'running');
  });

  it('at start, claims whose holder is gone, ended, stale or unlinked are released; a sound one stays', () => {
    const w = world(5, [[], [], [], [], []], [null, null, null, null, null]);
    const [gone, ended, stale, unlinked, sound] = w.taskIds;
    const [, s1, s2, s3] = w.sessionIds;
    claimTask(w.store, ended, s1, w.now());
    claimTask(w.store, stale, s2, w.now());
    claimTask(w.store, sound, s3, w.now());
    claimTask(w.store, unlinked, s3, w.now());
    // What a crash between two file writes can leave: the task side still claimed.
    const raw = (id: string, changes: Partial<Task>) => w.store.save('task', w.store.get('task', id)!, changes);
    raw(gone, { claimedBy: 'sess_gone', claimedAt: 1, status: 'in_progress' });
    w.store.save('session', w.store.get('session', s1)!, { status: 'failed' });
    w.store.save('session', w.store.get('session', s2)!, { status: 'stale' });
    w.store.save('session', w.store.get('session', s3)!, { taskIds: [sound] });
    assert.equal(releaseBrokenClaims(w.store, w.now()), 4);
    const why = (id: string) => w.store.get('task', id)!.timeline.at(-1)!.message;
    assert.deepEqual([gone, ended, stale, unlinked].map(why), ['session deleted', 'session ended', 'session stale', 'session unlinked']);
    for (const id of [gone, ended, stale, unlinked]) assert.deepEqual([w.store.get('task', id)!.claimedBy, w.store.get('task', id)!.status], [null, 'todo']);
    assert.equal(w.store.get('task', sound)!.claimedBy, s3);
    assert.equal(releaseBrokenClaims(w.store), 0);
  });

  it('markStale leaves a closed or done session alone when called late', () => {
    const w = world(0, [], []);
    const [s] = w.sessionIds;
    markStale(w.store, s, 'test');
    const stale = w.store.get('session', s)!;
    assert.equal(stale.status, 'stale');
    assert.equal(stale.completedAt, null);
  });
});
