/**
 * SPEC §15 role templates: seeded defaults with the server's own texts, every
 * route with its exact codes, events and files.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { BUILTIN_TEMPLATES } from '../../src/templates/builtin.ts';
import type { Template } from '../../src/types.ts';
import { type Api, assertError, client, EventLog, startTestServer, type TestServer, waitFor } from '../helpers.ts';

const TEMPLATE_KEYS = ['content', 'createdAt', 'id', 'isDefault', 'name', 'role', 'updatedAt', 'version'];
const PLACEHOLDERS = ['TASK_ID', 'TASK_TITLE', 'TASK_DESCRIPTION', 'TASK_PRIORITY', 'ACCEPTANCE_CRITERIA', 'CODEBASE_CONTEXT', 'RELATED_TASKS', 'PROJECT_STANDARDS'];
/** The UI sends this on reset, with no body. */
const UI_HEADERS = { 'content-type': 'application/json' };

describe('§15 role templates', () => {
  let server: TestServer;
  let api: Api;
  let events: EventLog;
  let defaults: Template[];
  let helloSeq: number;

  before(async () => {
    server = await startTestServer();
    api = client(server.url);
    events = await EventLog.connect(server.url);
    helloSeq = events.messages[0].data.seq;
    defaults = (await api.get('/api/templates')).body;
  });
  beforeEach(() => events.clear());
  after(async () => {
    events.close();
    await server.cleanup();
  });

  const byRole = (role: string) => defaults.find((t) => t.role === role)!;
  const create = async (body: object) => {
    const res = await api.post('/api/templates', body);
    assert.equal(res.status, 201, res.text);
    return res.body as Template;
  };

  describe('seeded defaults', () => {
    it('a new data folder gets one default per role, with the built-in texts, on disk, without events', async () => {
      assert.deepEqual(defaults.map((t) => [t.role, t.name, t.isDefault]).sort(), [
        ['orchestrator', 'Default Orchestrator Template', true], ['worker', 'Default Worker Template', true],
      ]);
      for (const t of defaults) {
        assert.deepEqual(Object.keys(t).sort(), TEMPLATE_KEYS);
        assert.match(t.id, /^tmpl_\d+_[a-z0-9]+$/);
        assert.equal(t.content, BUILTIN_TEMPLATES[t.role].content);
        assert.equal(t.version, 1);
        const file = join(server.dataDir, 'templates', `${t.id}.json`);
        await waitFor(() => readFile(file, 'utf8').then(() => true, () => false));
        assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), t);
      }
      assert.equal(helloSeq, 0, 'seeding broadcasts nothing');
    });

    it('the built-in texts use every placeholder (the worker also ALL_TASKS) and tell the agent to report', () => {
      for (const role of ['worker', 'orchestrator'] as const) {
        const { content } = BUILTIN_TEMPLATES[role];
        for (const name of PLACEHOLDERS) assert.ok(content.includes(`\${${name}}`), `${role}: ${name}`);
        assert.match(content, /maestro report complete/);
        assert.match(content, /maestro report (blocked|needs-input)/);
      }
      assert.ok(BUILTIN_TEMPLATES.worker.content.includes('${ALL_TASKS}'));
    });
  });

  describe('GET', () => {
    it('GET /api/templates/:id answers the template with its ETag; unknown → 404 TEMPLATE_NOT_FOUND', async () => {
      const res = await api.get(`/api/templates/${byRole('worker').id}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.etag, '"1"');
      assert.deepEqual(res.body, byRole('worker'));
      assertError(await api.get('/api/templates/tmpl_0_missing'), 404, 'TEMPLATE_NOT_FOUND');
      assertError(await api.get('/api/templates/bad%20id'), 400, 'VALIDATION_ERROR');
    });

    it('GET /api/templates/role/:role answers the default; an unknown role → 400', async () => {
      await create({ name: 'Older? no, newer', role: 'worker', content: 'x' });
      for (const role of ['worker', 'orchestrator']) {
        const res = await api.get(`/api/templates/role/${role}`);
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, byRole(role));
      }
      assertError(await api.get('/api/templates/role/admin'), 400, 'VALIDATION_ERROR');
    });

    it('GET /api/templates/default/:role answers {role, content} with the built-in text; an unknown role → 400', async () => {
      for (const role of ['worker', 'orchestrator'] as const) {
        const res = await api.get(`/api/templates/default/${role}`);
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, { role, content: BUILTIN_TEMPLATES[role].content });
      }
      assertError(await api.get('/api/templates/default/Worker'), 400, 'VALIDATION_ERROR');
    });
  });

  describe('POST /api/templates', () => {
    it('creates {name, role, content}: 201, isDefault false, template:created, a file', async () => {
      const res = await api.post('/api/templates', { name: 'Terse worker', role: 'worker', content: '# ${TASK_TITLE}', isDefault: true, id: 'tmpl_mine' });
      assert.equal(res.status, 201);
      assert.equal(res.headers.etag, '"1"');
      const t = res.body;
      assert.deepEqual(Object.keys(t).sort(), TEMPLATE_KEYS);
      assert.deepEqual([t.name, t.role, t.content, t.isDefault, t.version], ['Terse worker', 'worker', '# ${TASK_TITLE}', false, 1]);
      assert.notEqual(t.id, 'tmpl_mine');
      assert.equal(t.updatedAt, t.createdAt);
      const seen = await events.settled();
      assert.deepEqual(seen.map((e) => [e.type, e.data]), [['template:created', t]]);
      assert.deepEqual((await api.get('/api/templates')).body.at(-1), t);
      const file = join(server.dataDir, 'templates', `${t.id}.json`);
      await waitFor(() => readFile(file, 'utf8').then(() => true, () => false));
    });

    it('name, role and content are required and checked: 400 VALIDATION_ERROR, nothing created', async () => {
      const count = (await api.get('/api/templates')).body.length;
      for (const body of [
        {}, { role: 'worker', content: 'x' }, { name: 'n', content: 'x' }, { name: 'n', role: 'worker' },
        { name: '', role: 'worker', content: 'x' }, { name: 'n', role: 'tester', content: 'x' }, { name: 'n', role: 'worker', content: 1 },
      ]) {
        assertError(await api.post('/api/templates', body), 400, 'VALIDATION_ERROR');
      }
      assertError(await api.post('/api/templates'), 400, 'VALIDATION_ERROR');
      assert.equal((await api.get('/api/templates')).body.length, count);
      assert.deepEqual(await events.settled(), []);
    });
  });

  describe('PUT / PATCH /api/templates/:id', () => {
    it('PUT and PATCH change name and content (not role, not isDefault): 200, version +1, template:updated', async () => {
      const t = await create({ name: 'a', role: 'orchestrator', content: 'one' });
      events.clear();
      const put = await api.put(`/api/templates/${t.id}`, { content: 'two', role: 'worker', isDefault: true });
      assert.equal(put.status, 200);
      assert.equal(put.headers.etag, '"2"');
      assert.deepEqual([put.body.content, put.body.role, put.body.isDefault, put.body.version], ['two', 'orchestrator', false, 2]);
      assert.ok(put.body.updatedAt >= t.updatedAt);
      const patch = await api.patch(`/api/templates/${t.id}`, { name: 'b' });
      assert.equal(patch.status, 200);
      assert.deepEqual([patch.body.name, patch.body.content, patch.body.version], ['b', 'two', 3]);
      const seen = await events.settled();
      assert.deepEqual(seen.map((e) => e.type), ['template:updated', 'template:updated']);
      assert.deepEqual(seen[1].data, patch.body);
    });

    it('the same values or {} change nothing: 200, same version, no event', async () => {
      const t = await create({ name: 'same', role: 'worker', content: 'c' });
      events.clear();
      for (const body of [{}, { name: 'same', content: 'c' }]) {
        const res = await api.put(`/api/templates/${t.id}`, body);
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, t);
      }
      assert.deepEqual(await events.settled(), []);
    });

    it('an empty name, a non-string content, no body → 400; unknown id → 404; wrong If-Match → 412', async () => {
      const t = await create({ name: 'v', role: 'worker', content: 'c' });
      assertError(await api.patch(`/api/templates/${t.id}`, { name: '' }), 400, 'VALIDATION_ERROR');
      assertError(await api.put(`/api/templates/${t.id}`, { content: null }), 400, 'VALIDATION_ERROR');
      assertError(await api.put(`/api/templates/${t.id}`), 400, 'VALIDATION_ERROR');
      assertError(await api.put('/api/templates/tmpl_0_missing', { name: 'x' }), 404, 'TEMPLATE_NOT_FOUND');
      assertError(await api.patch(`/api/templates/${t.id}`, { name: 'x' }, { headers: { 'if-match': '"7"' } }), 412, 'VERSION_CONFLICT');
    });
  });

  describe('POST /api/templates/:id/reset', () => {
    it('takes no body (the UI sends the JSON content type and none): content back to the built-in text, name kept', async () => {
      const t = await create({ name: 'Mine', role: 'orchestrator', content: 'custom' });
      events.clear();
      const res = await api.post(`/api/templates/${t.id}/reset`, undefined, { headers: UI_HEADERS });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual([res.body.name, res.body.content, res.body.isDefault, res.body.version],
        ['Mine', BUILTIN_TEMPLATES.orchestrator.content, false, 2]);
      const seen = await events.settled();
      assert.deepEqual(seen.map((e) => [e.type, e.data]), [['template:updated', res.body]]);
    });

    it('resets a default template too; a second reset changes nothing', async () => {
      const worker = byRole('worker');
      await api.patch(`/api/templates/${worker.id}`, { content: 'edited' });
      const res = await api.post(`/api/templates/${worker.id}/reset`, undefined, { headers: { ...UI_HEADERS, 'content-length': '0' } });
      assert.equal(res.status, 200);
      assert.equal(res.body.content, BUILTIN_TEMPLATES.worker.content);
      assert.equal(res.body.isDefault, true);
      events.clear();
      const again = await api.post(`/api/templates/${worker.id}/reset`, { ignored: true });
      assert.deepEqual(again.body, res.body);
      assert.deepEqual(await events.settled(), []);
    });

    it('an unknown template → 404 TEMPLATE_NOT_FOUND', async () => {
      assertError(await api.post('/api/templates/tmpl_0_missing/reset', undefined, { headers: UI_HEADERS }), 404, 'TEMPLATE_NOT_FOUND');
    });
  });

  describe('DELETE /api/templates/:id', () => {
    it('deletes: 200 {success, id}, template:deleted {id}, the file removed', async () => {
      const t = await create({ name: 'gone', role: 'worker', content: 'c' });
      const file = join(server.dataDir, 'templates', `${t.id}.json`);
      await waitFor(() => readFile(file, 'utf8').then(() => true, () => false));
      events.clear();
      const res = await api.delete(`/api/templates/${t.id}`, undefined, { headers: UI_HEADERS });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { success: true, id: t.id });
      assert.deepEqual((await events.settled()).map((e) => [e.type, e.data]), [['template:deleted', { id: t.id }]]);
      assertError(await api.get(`/api/templates/${t.id}`), 404, 'TEMPLATE_NOT_FOUND');
      await waitFor(async () => !(await readdir(join(server.dataDir, 'templates'))).includes(`${t.id}.json`));
    });

    it('a default template → 400 TEMPLATE_IS_DEFAULT and stays; unknown → 404', async () => {
      for (const t of defaults) {
        assertError(await api.delete(`/api/templates/${t.id}`), 400, 'TEMPLATE_IS_DEFAULT');
        assert.equal((await api.get(`/api/templates/${t.id}`)).status, 200);
      }
      assertError(await api.delete('/api/templates/tmpl_0_missing'), 404, 'TEMPLATE_NOT_FOUND');
      assert.deepEqual(await events.settled(), []);
    });
  });

  it('other methods → 405 with Allow', async () => {
    const res = await api.delete(`/api/templates/${byRole('worker').id}/reset`);
    assertError(res, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(res.headers.allow, 'POST');
    assertError(await api.post('/api/templates/role/worker', {}), 405, 'METHOD_NOT_ALLOWED');
  });
});

describe('§15 templates across restarts', () => {
  it('loads stored templates, seeds no second default, and seeds only a role that has none', async () => {
    const first = await startTestServer();
    const api = client(first.url);
    const initial: Template[] = (await api.get('/api/templates')).body;
    const custom = (await api.post('/api/templates', { name: 'c', role: 'worker', content: 'x' })).body;
    await first.stop();
    const second = await startTestServer({ DATA_DIR: first.dataDir });
    try {
      const again: Template[] = (await client(second.url).get('/api/templates')).body;
      assert.deepEqual(again, [...initial, custom]);
    } finally {
      await second.stop();
    }
    // With the orchestrator default gone from disk, only that role gets a new default.
    const orchestrator = initial.find((t) => t.role === 'orchestrator')!;
    const { rm } = await import('node:fs/promises');
    await rm(join(first.dataDir, 'templates', `${orchestrator.id}.json`));
    const third = await startTestServer({ DATA_DIR: first.dataDir });
    try {
      const now: Template[] = (await client(third.url).get('/api/templates')).body;
      assert.equal(now.filter((t) => t.role === 'worker').length, 2);
      const seeded = now.filter((t) => t.role === 'orchestrator');
      assert.equal(seeded.length, 1);
      assert.notEqual(seeded[0].id, orchestrator.id);
      assert.equal(seeded[0].isDefault, true);
    } finally {
      await third.cleanup();
    }
  });
});
