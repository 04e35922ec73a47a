/**
 * Ids with a deadline each, soonest first: a binary min-heap with lazy deletion.
 * Setting a new deadline pushes a new entry and forgets the old one (it is
 * skipped when it surfaces), so a renewal costs O(log n) and finding what is
 * due costs O(due · log n): nothing ever scans every id.
 */
interface Entry { at: number; id: string }

export class DeadlineQueue {
  private heap: Entry[] = [];
  private readonly due = new Map<string, number>();

  get size(): number { return this.due.size; }

  get(id: string): number | undefined { return this.due.get(id); }

  set(id: string, at: number) {
    this.due.set(id, at);
    this.push({ at, id });
    // Stale entries from renewals pile up; rebuild once they outnumber live ones.
    if (this.heap.length > 2 * this.due.size + 64) this.rebuild();
  }

  delete(id: string) { this.due.delete(id); }

  /** Removes and returns the ids whose deadline is at or before `now`, soonest first, at most `limit`. */
  popDue(now: number, limit = Infinity): string[] {
    const out: string[] = [];
    while (out.length < limit && this.heap.length > 0 && this.heap[0].at <= now) {
      const { at, id } = this.pop();
      if (this.due.get(id) === at) {
        this.due.delete(id);
        out.push(id);
      }
    }
    return out;
  }

  private rebuild() {
    this.heap = [];
    for (const [id, at] of this.due) this.push({ at, id });
  }

  private push(entry: Entry) {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].at <= entry.at) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): Entry {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const child = left + 1 < heap.length && heap[left + 1].at < heap[left].at ? left + 1 : left;
      if (heap[child].at >= last.at) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = last;
    return top;
  }
}
