/** The deadline queue behind leases: what is due comes out soonest first, renewals replace, deletions stick. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DeadlineQueue } from '../../src/store/deadlines.ts';

describe('DeadlineQueue', () => {
  it('agrees with a plain Map model under random sets, deletes and pops', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), id: fc.nat(30), at: fc.nat(1000) }),
      fc.record({ kind: fc.constant('delete' as const), id: fc.nat(30) }),
      fc.record({ kind: fc.constant('pop' as const), now: fc.nat(1000) }),
    );
    fc.assert(fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
      const queue = new DeadlineQueue();
      const model = new Map<string, number>();
      for (const s of steps) {
        if (s.kind === 'set') { queue.set(`s${s.id}`, s.at); model.set(`s${s.id}`, s.at); }
        if (s.kind === 'delete') { queue.delete(`s${s.id}`); model.delete(`s${s.id}`); }
        if (s.kind === 'pop') {
          const due = [...model].filter(([, at]) => at <= s.now);
          const got = queue.popDue(s.now);
          assert.deepEqual(new Set(got), new Set(due.map(([id]) => id)));
          const times = got.map((id) => model.get(id)!);
          assert.deepEqual(times, [...times].sort((a, b) => a - b), 'soonest first');
          for (const [id] of due) model.delete(id);
        }
        assert.equal(queue.size, model.size);
        for (const [id, at] of model) assert.equal(queue.get(id), at);
      }
    }), { numRuns: 300, seed: 7 });
  });

  it('stays compact when one id is renewed many times', () => {
    const queue = new DeadlineQueue();
    for (let i = 0; i < 10_000; i++) queue.set('a', i);
    assert.equal(queue.size, 1);
    assert.deepEqual(queue.popDue(9_998), []);
    assert.deepEqual(queue.popDue(9_999), ['a']);
    assert.deepEqual(queue.popDue(Infinity), []);
  });
});
