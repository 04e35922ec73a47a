import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isValidId, newId } from '../../src/ids.ts';

describe('§1 ids', () => {
  it('are <prefix>_<ms>_<base36> and unique within one millisecond', () => {
    const ids = Array.from({ length: 10_000 }, () => newId('task'));
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids.slice(0, 50)) assert.match(id, /^task_\d{13}_[0-9a-z]+$/);
    assert.ok(ids.every(isValidId));
  });

  it('client ids must match [A-Za-z0-9_-]{1,128}', () => {
    assert.equal(isValidId('sess-ABC_123'), true);
    for (const bad of ['', 'a.b', '../x', 'a/b', 'a b', 'x'.repeat(129), 5, null]) assert.equal(isValidId(bad), false, String(bad));
  });
});
