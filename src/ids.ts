import { randomFillSync } from 'node:crypto';

/** Ids become file names, so a client-supplied id must match this. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export const isValidId = (id: unknown): id is string => typeof id === 'string' && ID_PATTERN.test(id);

let lastMs = 0;
let counter = 0;

// Random bytes drawn 1,024 ids at a time: one call into the system's generator
// per id showed in profiles of the create path.
const pool = Buffer.alloc(6 * 1024);
let poolOffset = pool.length;

function random48(): number {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += 6;
  return pool.readUIntBE(poolOffset - 6, 6);
}

/**
 * `<prefix>_<ms>_<random base36>`. A per-millisecond counter is folded into the
 * random part so that ids made in one millisecond never collide.
 */
export function newId(prefix: string): string {
  const now = Date.now();
  if (now === lastMs) counter++;
  else { lastMs = now; counter = 0; }
  const random = random48().toString(36);
  return `${prefix}_${now}_${counter.toString(36)}${random}`;
}
