import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ListCache, normalStatuses } from '../../src/store/list-cache.ts';

describe('list cache (SPEC §8: one answer per state of the data, bounded in bytes)', () => {
  it('builds once per generation and key, and starts again when the data changes', () => {
    const cache = new ListCache(100);
    let builds = 0;
    const build = () => { builds++; return '[1,2,3]'; };
    const a = cache.get(1, 'k', build);
    assert.equal(cache.get(1, 'k', build), a, 'the same bytes');
    assert.equal(builds, 1);
    cache.get(2, 'k', build);
    assert.equal(builds, 2);
    assert.equal(cache.size, 7);
  });

  it('evicts the least recently used past the byte bound, and keeps the newest even when larger', () => {
    const cache = new ListCache(10);
    cache.get(1, 'a', () => 'aaaa');
    cache.get(1, 'b', () => 'bbbb');
    cache.get(1, 'a', () => 'never');
    cache.get(1, 'c', () => 'cccc');
    assert.equal(cache.size, 8, 'b went: a was used more recently');
    assert.equal(cache.get(1, 'a', () => 'rebuilt').toString(), 'aaaa');
    assert.equal(cache.get(1, 'huge', () => 'x'.repeat(50)).length, 50);
    assert.equal(cache.size, 50, 'only the newest, larger than the bound, is kept');
    assert.equal(cache.get(1, 'huge', () => 'rebuilt').length, 50);
  });
});

describe('status filter spelling', () => {
  const known = ['b', 'a', 'c'] as const;
  it('keeps known statuses once, sorted; all of them is no filter; none known matches nothing', () => {
    assert.deepEqual(normalStatuses(['c', 'a', 'c', 'zz'], known), ['a', 'c']);
    assert.equal(normalStatuses(['a', 'b', 'c', 'a'], known), undefined);
    assert.equal(normalStatuses(undefined, known), undefined);
    assert.deepEqual(normalStatuses(['zz'], known), []);
  });
});
