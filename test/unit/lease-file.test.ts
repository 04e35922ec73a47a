/** The leased-session set on disk (SPEC §10 restarts): read back, unreadable files ignored, failed writes retried. */
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FileSystem } from '../../src/persistence/fs.ts';
import { realFs } from '../../src/persistence/fs.ts';
import { LEASE_FILE, LeaseFile, readLeasedIds } from '../../src/persistence/lease-file.ts';
import type { Logger } from '../../src/log.ts';
import { tempDir } from '../helpers.ts';

function recordingLogger() {
  const lines: string[] = [];
  const logger: Logger = { error: (m) => void lines.push(m), warn: (m) => void lines.push(m), info() {}, debug() {} };
  return { logger, lines };
}

describe('lease file', () => {
  it('writes the set once per change (debounced), and reads it back', async () => {
    const dir = await tempDir();
    try {
      const { logger } = recordingLogger();
      let ids = ['sess_a'];
      const file = new LeaseFile({ dataDir: dir, debounceMs: 5, logger, ids: () => ids });
      assert.equal(await file.flush(), true, 'nothing to write is a success');
      assert.deepEqual(await readLeasedIds(dir, logger), []);
      file.mark();
      ids = ['sess_a', 'sess_b'];
      file.mark();
      assert.equal(await file.flush(), true);
      assert.deepEqual(await readLeasedIds(dir, logger), ['sess_a', 'sess_b']);
      assert.deepEqual(JSON.parse(await readFile(join(dir, LEASE_FILE), 'utf8')), { leased: ['sess_a', 'sess_b'] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an unreadable file is ignored with a warning', async () => {
    const dir = await tempDir();
    try {
      const { logger, lines } = recordingLogger();
      for (const text of ['{not json', '{"leased": 5}']) {
        await writeFile(join(dir, LEASE_FILE), text);
        assert.deepEqual(await readLeasedIds(dir, logger), []);
      }
      await writeFile(join(dir, LEASE_FILE), '{"leased": ["sess_a", 7]}');
      await writeFile(join(dir, `${LEASE_FILE}.tmp-1-a`), '{"leased": [');
      assert.deepEqual(await readLeasedIds(dir, logger), ['sess_a']);
      assert.deepEqual(await readdir(dir), [LEASE_FILE], 'a temporary file left by a crash is removed');
      assert.equal(lines.length, 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a failed write is logged, reported and retried by the next flush', async () => {
    const dir = await tempDir();
    try {
      const { logger, lines } = recordingLogger();
      let failing = true;
      const fs: FileSystem = {
        ...realFs,
        open: ((...args: Parameters<typeof realFs.open>) => (failing
          ? Promise.reject(Object.assign(new Error('full'), { code: 'ENOSPC' }))
          : realFs.open(...args))) as typeof realFs.open,
      };
      const file = new LeaseFile({ dataDir: dir, debounceMs: 1000, logger, fs, ids: () => ['sess_a'] });
      file.mark();
      assert.equal(await file.flush(), false);
      assert.match(lines[0], /ENOSPC/);
      failing = false;
      assert.equal(await file.flush(), true);
      assert.deepEqual(await readLeasedIds(dir, logger), ['sess_a']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
