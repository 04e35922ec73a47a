import { randomBytes } from 'node:crypto';

/** Ids become file names, so a client-supplied id must match this. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export const isValidId = (id: unknown): id is string => typeof id === 'string' && ID_PATTERN.test(id);

let lastMs = 0;
let counter = 0;

/**
 * `<prefix>_<ms>_<random base36>`. A per-millisecond counter is folded into the
 * random part so that ids made in one millisecond never collide.
 */
export function newId(prefix: string): string {
  const now = Date.now();
  if (now === lastMs) counter++;
  else { lastMs = now; counter = 0; }
  const random = randomBytes(6).readUIntBE(0, 6).toString(36);
  return `${prefix}_${now}_${counter.toString(36)}${random}`;
}
