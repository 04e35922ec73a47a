import { isActiveSession, isEndedSession, type Session } from '../types.ts';
import { markStale } from './claims.ts';
import { DeadlineQueue } from './deadlines.ts';
import type { EntityChange, Store } from './store.ts';

export interface LeaseOptions {
  /** `SESSION_LEASE_MS`: how long a heartbeat or claim keeps a session alive. */
  leaseMs: number;
  /** `SPAWN_TIMEOUT_MS`: how long a session may stay `spawning` after its last change. */
  spawnTimeoutMs: number;
  now?: () => number;
  /** Called when the set of leased sessions changes (it is persisted for restarts). */
  onLeasedChange?: () => void;
}

/**
 * SPEC §10 leases. A session is leased from its first heartbeat or claim until it
 * ends or is deleted; each lease has an expiry in a deadline queue, and so has each
 * `spawning` session. `tick` handles only what is due, so its cost does not grow
 * with the number of leased sessions. Kept beside the store (one per store), since a
 * lease renewal is not a change of the session: no version, no event, no file.
 */
export class Leases {
  private readonly leased = new Set<string>();
  private readonly expiries = new DeadlineQueue();
  private readonly spawnDeadlines = new DeadlineQueue();
  private timer: NodeJS.Timeout | undefined;
  readonly now: () => number;

  constructor(private readonly store: Store, private readonly options: LeaseOptions) {
    this.now = options.now ?? Date.now;
    for (const session of store.all('session')) this.watchSpawning(session);
    store.onChange((change) => this.onChange(change));
  }

  /** Ids of the leased sessions (what a restart needs). */
  leasedIds(): string[] { return [...this.leased]; }

  isLeased(sessionId: string): boolean { return this.leased.has(sessionId); }

  expiresAt(sessionId: string): number | undefined { return this.expiries.get(sessionId); }

  /** Starts or renews the lease of an existing, not ended session; returns its expiry. */
  start(sessionId: string): number {
    if (!this.leased.has(sessionId)) {
      this.leased.add(sessionId);
      this.options.onLeasedChange?.();
    }
    const at = this.now() + this.options.leaseMs;
    this.expiries.set(sessionId, at);
    return at;
  }

  /** Renews a lease the session already has; a session never leased stays unleased. */
  renew(sessionId: string) {
    if (this.leased.has(sessionId)) this.start(sessionId);
  }

  /** After a restart: every leased session that still exists and has not ended gets a fresh lease. */
  restore(sessionIds: Iterable<string>) {
    for (const id of sessionIds) {
      const session = this.store.get('session', id);
      if (session && !isEndedSession(session.status)) this.start(id);
    }
  }

  /**
   * Sessions whose lease ran out, or that stayed `spawning` too long, become `stale`.
   * At most `TICK_BATCH` of each a turn (thousands can expire at once, e.g. after the
   * machine slept); the rest follow in the next turn of the event loop, so requests
   * in between are not held up. Returns whether some were left for later.
   */
  tick(now = this.now()): boolean {
    const expired = this.expiries.popDue(now, TICK_BATCH);
    for (const id of expired) {
      const session = this.store.get('session', id);
      if (session && isActiveSession(session.status)) markStale(this.store, id, 'lease expired', now);
    }
    const timedOut = this.spawnDeadlines.popDue(now, TICK_BATCH);
    for (const id of timedOut) {
      if (this.store.get('session', id)?.status === 'spawning') markStale(this.store, id, 'spawn timed out', now);
    }
    return expired.length === TICK_BATCH || timedOut.length === TICK_BATCH;
  }

  /** One unref'd timer, at least once a second (SPEC §10), sooner for short leases. */
  startTimer() {
    const shortest = Math.min(this.options.leaseMs, this.options.spawnTimeoutMs);
    const everyMs = Math.max(MIN_TICK_MS, Math.min(MAX_TICK_MS, Math.floor(shortest / TICKS_PER_LEASE)));
    const run = () => {
      if (this.tick() && this.timer) setImmediate(run);
    };
    this.timer = setInterval(run, everyMs);
    this.timer.unref();
  }

  stopTimer() {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private onChange(change: EntityChange) {
    if (change.kind !== 'session') return;
    const session = change.entity as Session | null;
    if (!session || isEndedSession(session.status)) this.forget(change.id);
    if (session) this.watchSpawning(session);
    else this.spawnDeadlines.delete(change.id);
  }

  private forget(sessionId: string) {
    this.expiries.delete(sessionId);
    if (this.leased.delete(sessionId)) this.options.onLeasedChange?.();
  }

  private watchSpawning(session: Session) {
    if (session.status === 'spawning') this.spawnDeadlines.set(session.id, session.lastActivity + this.options.spawnTimeoutMs);
    else this.spawnDeadlines.delete(session.id);
  }
}

/** Sessions turned stale in one turn of the event loop at most (each is a store update, a broadcast, a write). */
const TICK_BATCH = 500;
const MAX_TICK_MS = 1000;
const MIN_TICK_MS = 10;
/** A lease is checked this many times over its length at least, so it runs out at most a quarter late. */
const TICKS_PER_LEASE = 4;

const registry = new WeakMap<Store, Leases>();

/** Gives a store its leases; the claim, heartbeat and write paths find them through the store. */
export function attachLeases(store: Store, options: LeaseOptions): Leases {
  const leases = new Leases(store, options);
  registry.set(store, leases);
  return leases;
}

export const leasesOf = (store: Store): Leases | undefined => registry.get(store);

/**
 * SPEC §10/§15: every write naming a leased session renews its lease (also when the
 * write is refused: the agent is alive). A session never leased stays unleased.
 */
export function renewLease(store: Store, sessionId: string) {
  registry.get(store)?.renew(sessionId);
}

/** Starts (or renews) a session's lease; returns its expiry, `null` when the store has no leases. */
export function startLease(store: Store, sessionId: string): number | null {
  return registry.get(store)?.start(sessionId) ?? null;
}
