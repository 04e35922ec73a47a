import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { textFrame } from '../../src/events/hub.ts';
import { Store } from '../../src/store/store.ts';

const { Receiver } = createRequire(import.meta.url)('ws') as typeof import('ws') & { Receiver: any };

/** Decodes frames the way a real client does, with ws's own receiver. */
function decode(frame: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const receiver = new Receiver({ isServer: false, maxPayload: 0 });
    receiver.on('message', (data: Buffer, isBinary: boolean) => (isBinary ? reject(new Error('binary')) : resolve(data.toString())));
    receiver.on('error', reject);
    receiver.write(frame);
  });
}

describe('textFrame (RFC 6455 §5.2)', () => {
  for (const [size, headerLength, lengthByte] of [[0, 2, 0], [125, 2, 125], [126, 4, 126], [65_535, 4, 126], [65_536, 10, 127], [200_000, 10, 127]]) {
    it(`frames ${size} bytes with a ${headerLength}-byte header that ws decodes`, async () => {
      const text = 'é'.repeat(size >> 1) + 'x'.repeat(size & 1);
      const frame = textFrame(Buffer.from(text));
      assert.equal(frame.length, headerLength + size);
      assert.equal(frame[0], 0x81, 'final text frame');
      assert.equal(frame[1], lengthByte, 'unmasked, length code');
      assert.equal(await decode(frame), text);
    });
  }
});

describe('Store.cachedList', () => {
  it('builds a list once per generation and filter, and again after a change', () => {
    const store = new Store();
    let builds = 0;
    const build = () => `[${++builds}]`;
    assert.equal(store.cachedList('a', build).toString(), '[1]');
    assert.equal(store.cachedList('a', build).toString(), '[1]');
    assert.equal(store.cachedList('b', build).toString(), '[2]');
    store.generation++;
    assert.equal(store.cachedList('a', build).toString(), '[3]');
  });

  it('keeps many distinct small filters (the bound is in bytes, see list-cache.test.ts)', () => {
    const store = new Store();
    let builds = 0;
    const build = () => `[${++builds}]`;
    for (let i = 0; i < 100; i++) store.cachedList(`filter-${i}`, build);
    assert.equal(store.cachedList('filter-0', build).toString(), '[1]');
    assert.equal(builds, 100);
  });
});
