import type { Priority, Task } from '../types.ts';
import type { EntityChange, Store } from './store.ts';

/**
 * The to-do, unclaimed tasks of each project, kept in claim order (one array per
 * priority, sorted by `createdAt`, then id), so `claim-next` walks from the front
 * instead of scanning every task of the project. Dependencies and children are
 * still checked on the walk (they change through other tasks); usually the first
 * candidate is the answer. Kept up to date from the store's change feed; one per
 * store, made at first use.
 */
interface Entry { id: string; projectId: string; priority: Priority; createdAt: number }

const PRIORITY_ORDER: readonly Priority[] = ['high', 'medium', 'low'];

const before = (a: Entry, b: Entry) => a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id);

/** The index of the first entry not before `entry`. */
function lowerBound(list: Entry[], entry: Entry): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(list[mid], entry)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class ReadyQueue {
  private readonly byProject = new Map<string, Record<Priority, Entry[]>>();
  private readonly entries = new Map<string, Entry>();

  constructor(todo: (task: Task) => boolean, store: Store) {
    this.isCandidate = todo;
    for (const task of store.all('task')) this.track(task.id, task);
    store.onChange((change: EntityChange) => {
      if (change.kind === 'task') this.track(change.id, change.entity as Task | null);
    });
  }

  private readonly isCandidate: (task: Task) => boolean;

  /** Candidate task ids of a project in claim order, optionally of one priority. */
  *candidates(projectId: string, priority?: Priority): Generator<string> {
    const lists = this.byProject.get(projectId);
    if (!lists) return;
    for (const p of priority ? [priority] : PRIORITY_ORDER) {
      for (const entry of lists[p]) yield entry.id;
    }
  }

  private track(id: string, task: Task | null) {
    const old = this.entries.get(id);
    const wanted = task !== null && this.isCandidate(task);
    if (old && wanted && old.priority === task.priority && old.createdAt === task.createdAt) return;
    if (old) this.remove(old);
    if (wanted) this.insert({ id, projectId: task.projectId, priority: task.priority, createdAt: task.createdAt });
  }

  private insert(entry: Entry) {
    let lists = this.byProject.get(entry.projectId);
    if (!lists) this.byProject.set(entry.projectId, (lists = { high: [], medium: [], low: [] }));
    const list = lists[entry.priority];
    list.splice(lowerBound(list, entry), 0, entry);
    this.entries.set(entry.id, entry);
  }

  private remove(entry: Entry) {
    const lists = this.byProject.get(entry.projectId)!;
    const list = lists[entry.priority];
    list.splice(lowerBound(list, entry), 1);
    this.entries.delete(entry.id);
    if (lists.high.length + lists.medium.length + lists.low.length === 0) this.byProject.delete(entry.projectId);
  }
}
