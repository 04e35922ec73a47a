/** Manifest files (SPEC §5, §7): written durably as 2-space JSON, removed, orphans cleared at start. */
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { silentLogger } from '../../src/log.ts';
import { manifestPath, removeManifest, removeOrphanManifests, writeManifest } from '../../src/persistence/manifest.ts';
import { tempDir } from '../helpers.ts';

describe('§5 manifest files', () => {
  let dir: string;
  beforeEach(async () => { dir = await tempDir(); });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('writes DATA_DIR/manifests/<sessionId>.json, making the folder, as 2-space JSON; leaves no temporary file', async () => {
    const path = await writeManifest(dir, 'sess_1', { a: { b: 1 } });
    assert.equal(path, join(dir, 'manifests', 'sess_1.json'));
    assert.equal(path, manifestPath(dir, 'sess_1'));
    assert.equal(await readFile(path, 'utf8'), '{\n  "a": {\n    "b": 1\n  }\n}\n');
    await writeManifest(dir, 'sess_2', {});
    assert.deepEqual((await readdir(join(dir, 'manifests'))).sort(), ['sess_1.json', 'sess_2.json']);
  });

  it('removing is idempotent', async () => {
    await writeManifest(dir, 'sess_1', {});
    await removeManifest(dir, 'sess_1');
    await removeManifest(dir, 'sess_1');
    assert.deepEqual(await readdir(join(dir, 'manifests')), []);
  });

  it('at start, removes manifests without a session and leftover temporary files, keeps the rest', async () => {
    await mkdir(join(dir, 'manifests'));
    for (const name of ['sess_live.json', 'sess_gone.json', 'sess_live.json.tmp-9-1', 'notes.txt']) {
      await writeFile(join(dir, 'manifests', name), '{}');
    }
    await removeOrphanManifests(dir, (id) => id === 'sess_live', silentLogger);
    assert.deepEqual((await readdir(join(dir, 'manifests'))).sort(), ['notes.txt', 'sess_live.json']);
  });

  it('no manifests folder is nothing to clear', async () => {
    await removeOrphanManifests(dir, () => false, silentLogger);
    assert.deepEqual(await readdir(dir), []);
  });
});
