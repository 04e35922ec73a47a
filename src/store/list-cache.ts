/** Cached list answers are bounded by this many bytes (the newest answer is always kept). */
export const LIST_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * Serialised list answers for one state of the data (a store generation), keyed
 * by a normalised filter, so an answer is built once however many clients ask and
 * however they spell the filter. Bounded in bytes, least recently used first out;
 * the newest answer is kept even past the bound (it is being sent anyway).
 */
export class ListCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;
  private generation = -1;

  constructor(private readonly maxBytes = LIST_CACHE_BYTES) {}

  get size(): number {
    return this.bytes;
  }

  get(generation: number, key: string, build: () => string): Buffer {
    if (generation !== this.generation) {
      this.entries.clear();
      this.bytes = 0;
      this.generation = generation;
    }
    let answer = this.entries.get(key);
    if (answer !== undefined) {
      this.entries.delete(key);
    } else {
      answer = Buffer.from(build());
      this.bytes += answer.length;
      for (const [oldKey, old] of this.entries) {
        if (this.bytes <= this.maxBytes) break;
        this.entries.delete(oldKey);
        this.bytes -= old.length;
      }
    }
    this.entries.set(key, answer);
    return answer;
  }
}

/**
 * A status filter in one spelling: known statuses only, each once, sorted; `undefined`
 * (no filter) when none was asked for or all are. An empty list matches nothing.
 */
export function normalStatuses(requested: string[] | undefined, known: readonly string[]): string[] | undefined {
  if (requested === undefined) return undefined;
  const asked = new Set(requested);
  const statuses = known.filter((s) => asked.has(s)).sort();
  return statuses.length === known.length ? undefined : statuses;
}
