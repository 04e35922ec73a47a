/**
 * SPEC §5 — POST /api/sessions/spawn: validation, the created session, its env,
 * the broadcast order and the answer.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Logger } from '../../src/log.ts';
import { access, readdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { assertError, client, EventLog, FIXTURE_SKILLS, startTestServer, type TestServer, waitFor } from '../helpers.ts';

const exists = (path: string) => access(path).then(() => true, () => false);

const SERVER_URL = 'http://maestro.example.test:4545';
const MAESTRO_KEYS = [
  'MAESTRO_MANIFEST_PATH', 'MAESTRO_PROJECT_ID', 'MAESTRO_ROLE', 'MAESTRO_SERVER_URL', 'MAESTRO_SESSION_ID', 'MAESTRO_SKILLS',
  'MAESTRO_STRATEGY', 'MAESTRO_TASK_IDS',
];

describe('§5 POST /api/sessions/spawn', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  let events: EventLog;
  const warnings: string[] = [];
  const logger: Logger = { error() {}, warn: (m) => void warnings.push(m), info() {}, debug() {} };
  let project: any;
  let other: any;
  let t1: any;
  let t2: any;
  let foreign: any;

  before(async () => {
    server = await startTestServer({ SKILLS_DIR: FIXTURE_SKILLS, SERVER_URL, MAX_ACTIVE_SESSIONS: '0' }, { logger });
    api = client(server.url);
    project = (await api.post('/api/projects', { name: 'app', workingDir: '/home/dev/app' })).body;
    other = (await api.post('/api/projects', { name: 'other', workingDir: '/home/dev/other' })).body;
    t1 = (await api.post('/api/tasks', { projectId: project.id, title: 'one' })).body;
    t2 = (await api.post('/api/tasks', { projectId: project.id, title: 'two' })).body;
    foreign = (await api.post('/api/tasks', { projectId: other.id, title: 'elsewhere' })).body;
    events = await EventLog.connect(server.url);
  });
  beforeEach(() => events.clear());
  after(async () => {
    events.close();
    await server.cleanup();
  });

  const spawn = (body: Record<string, unknown>) => api.post('/api/sessions/spawn', body);
  const sessionCount = async () => (await api.get('/api/sessions')).body.length;

  /** A refused spawn creates nothing and broadcasts nothing. */
  async function assertRefused(body: Record<string, unknown>, status: number, code: string) {
    const before = await sessionCount();
    const res = await spawn(body);
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(res.body.error, true);
    assert.equal(res.body.code, code);
    assert.equal(await sessionCount(), before);
    assert.deepEqual(events.types(), []);
    return res;
  }

  describe('validation', () => {
    it('missing taskIds → 400 VALIDATION_ERROR', async () => {
      await assertRefused({ projectId: project.id }, 400, 'VALIDATION_ERROR');
    });

    it('empty taskIds → 400 VALIDATION_ERROR', async () => {
      await assertRefused({ projectId: project.id, taskIds: [] }, 400, 'VALIDATION_ERROR');
    });

    it('missing projectId → 400 VALIDATION_ERROR', async () => {
      await assertRefused({ taskIds: [t1.id] }, 400, 'VALIDATION_ERROR');
    });

    it('no body at all → 400 VALIDATION_ERROR', async () => {
      const res = await api.post('/api/sessions/spawn');
      assert.equal(res.status, 400);
      assert.equal(res.body.code, 'VALIDATION_ERROR');
    });

    it('unknown project → 404 PROJECT_NOT_FOUND', async () => {
      await assertRefused({ projectId: 'proj_nope', taskIds: [t1.id] }, 404, 'PROJECT_NOT_FOUND');
    });

    it('unknown task → 404 TASK_NOT_FOUND', async () => {
      await assertRefused({ projectId: project.id, taskIds: [t1.id, 'task_nope'] }, 404, 'TASK_NOT_FOUND');
      assert.deepEqual((await api.get(`/api/tasks/${t1.id}`)).body.sessionIds, []);
    });

    it('a task of another project → 400 VALIDATION_ERROR', async () => {
      await assertRefused({ projectId: project.id, taskIds: [t1.id, foreign.id] }, 400, 'VALIDATION_ERROR');
      assert.deepEqual((await api.get(`/api/tasks/${t1.id}`)).body.sessionIds, []);
    });

    it('a bad role → 400 VALIDATION_ERROR', async () => {
      for (const role of ['admin', 'Worker', '', 3]) {
        await assertRefused({ projectId: project.id, taskIds: [t1.id], role }, 400, 'VALIDATION_ERROR');
      }
    });

    it('a bad spawnSource → 400 VALIDATION_ERROR', async () => {
      for (const spawnSource of ['terminal', 'API', '', null]) {
        await assertRefused({ projectId: project.id, taskIds: [t1.id], spawnSource }, 400, 'VALIDATION_ERROR');
      }
    });

    it('a named skill that is not a plain folder name → 400 VALIDATION_ERROR', async () => {
      for (const skill of ['..', '../git-flow', 'a\\b', '']) {
        await assertRefused({ projectId: project.id, taskIds: [t1.id], skills: [skill] }, 400, 'VALIDATION_ERROR');
      }
    });

    it('every documented spawnSource is accepted', async () => {
      for (const spawnSource of ['manual', 'orchestrator', 'ui', 'cli', 'api', 'session']) {
        const res = await spawn({ projectId: project.id, taskIds: [t1.id], spawnSource });
        assert.equal(res.status, 201, spawnSource);
        assert.equal(res.body.session.metadata.spawnSource, spawnSource);
      }
    });
  });

  describe('the created session', () => {
    it('answers 201 {success, sessionId, session, env, manifestPath, missingSkills} and the session is stored', async () => {
      const res = await spawn({ projectId: project.id, taskIds: [t1.id] });
      assert.equal(res.status, 201);
      assert.deepEqual(Object.keys(res.body).sort(), ['env', 'manifestPath', 'missingSkills', 'session', 'sessionId', 'success']);
      assert.equal(res.body.manifestPath, join(server.dataDir, 'manifests', `${res.body.sessionId}.json`));
      assert.equal(res.body.success, true);
      assert.equal(res.body.sessionId, res.body.session.id);
      assert.match(res.body.sessionId, /^sess_\d+_[a-z0-9]+$/);
      assert.deepEqual(res.body.env, res.body.session.env);
      assert.deepEqual(res.body.missingSkills, []);
      const stored = await api.get(`/api/sessions/${res.body.sessionId}`);
      assert.equal(stored.status, 200);
      assert.deepEqual(stored.body, res.body.session);
    });

    it('has status spawning, the project, the tasks and the session defaults', async () => {
      const res = await spawn({ projectId: project.id, taskIds: [t1.id, t2.id], sessionName: 'Fix the login' });
      const s = res.body.session;
      assert.equal(s.status, 'spawning');
      assert.equal(s.projectId, project.id);
      assert.deepEqual(s.taskIds, [t1.id, t2.id]);
      assert.equal(s.name, 'Fix the login');
      assert.equal(s.completedAt, null);
      assert.equal(s.version, 1);
      assert.deepEqual(s.events, []);
      assert.deepEqual([s.strategy, s.role, s.spawnSource, s.spawnedBy, s.model, s.queue], ['simple', 'worker', 'api', null, null, null]);
    });

    it('carries role, spawnSource, spawnedBy and model top-level too (what the original UI reads)', async () => {
      const res = await spawn({
        projectId: project.id, taskIds: [t1.id], role: 'orchestrator', spawnSource: 'ui', spawnedBy: 'sess_p', model: 'opus',
      });
      const s = res.body.session;
      assert.deepEqual([s.role, s.spawnSource, s.spawnedBy, s.model], ['orchestrator', 'ui', 'sess_p', 'opus']);
    });

    it('strategy: simple by default, queue makes the queue from taskIds in order, tree is refused with 400', async () => {
      const queued = await spawn({ projectId: project.id, taskIds: [t2.id, t1.id], strategy: 'queue' });
      assert.equal(queued.status, 201);
      assert.equal(queued.body.session.strategy, 'queue');
      assert.equal(queued.body.env.MAESTRO_STRATEGY, 'queue');
      assert.deepEqual(queued.body.session.queue.items.map((i: any) => [i.taskId, i.status]), [[t2.id, 'queued'], [t1.id, 'queued']]);
      assert.equal(queued.body.session.queue.currentIndex, -1);
      events.clear();
      const res = await assertRefused({ projectId: project.id, taskIds: [t1.id], strategy: 'tree' }, 400, 'VALIDATION_ERROR');
      assert.match(res.body.message, /strategy/);
      for (const strategy of ['Simple', '', null, 1]) {
        await assertRefused({ projectId: project.id, taskIds: [t1.id], strategy }, 400, 'VALIDATION_ERROR');
      }
    });

    it('records role, skills, spawnSource, spawnedBy, spawnReason, context, model and permissionMode in metadata', async () => {
      const context = { reason: 'split the work', files: ['a.ts'], depth: 2 };
      const res = await spawn({
        projectId: project.id, taskIds: [t1.id], role: 'orchestrator', skills: ['git-flow', 'nope'],
        spawnSource: 'orchestrator', spawnedBy: 'sess_parent_1', context, model: 'opus', permissionMode: 'acceptEdits',
      });
      assert.equal(res.status, 201);
      assert.deepEqual(res.body.session.metadata, {
        role: 'orchestrator', skills: ['git-flow', 'nope'], spawnSource: 'orchestrator', spawnedBy: 'sess_parent_1',
        spawnReason: 'split the work', context, model: 'opus', permissionMode: 'acceptEdits',
      });
    });

    it('defaults: role worker, spawnSource api, no skills, no parent', async () => {
      const res = await spawn({ projectId: project.id, taskIds: [t1.id] });
      const m = res.body.session.metadata;
      assert.equal(m.role, 'worker');
      assert.equal(m.spawnSource, 'api');
      assert.deepEqual(m.skills, []);
      assert.equal(m.spawnedBy ?? null, null);
      assert.equal(m.spawnReason ?? null, null);
      assert.equal(res.body.env.MAESTRO_ROLE, 'worker');
      assert.equal(res.body.env.MAESTRO_SKILLS, 'maestro-worker');
    });

    it('the parent sent as sessionId is recorded as spawnedBy', async () => {
      const res = await spawn({ projectId: project.id, taskIds: [t1.id], spawnSource: 'session', sessionId: 'sess_gone_parent' });
      assert.equal(res.status, 201);
      assert.equal(res.body.session.metadata.spawnedBy, 'sess_gone_parent');
      assert.notEqual(res.body.sessionId, 'sess_gone_parent');
    });

    it('spawnedBy wins over sessionId when both are sent', async () => {
      const res = await spawn({ projectId: project.id, taskIds: [t1.id], spawnedBy: 'sess_a', sessionId: 'sess_b' });
      assert.equal(res.status, 201);
      assert.equal(res.body.session.metadata.spawnedBy, 'sess_a');
    });
  });

  describe('env', () => {
    it('holds exactly the eight MAESTRO_* variables, the manifest path absolute', async () => {
      const res = await spawn({ projectId: project.id, taskIds: [t2.id, t1.id], role: 'orchestrator', skills: ['deploy'] });
      assert.deepEqual(res.body.env, {
        MAESTRO_SESSION_ID: res.body.sessionId,
        MAESTRO_PROJECT_ID: project.id,
        MAESTRO_TASK_IDS: `${t2.id},${t1.id}`,
        MAESTRO_SERVER_URL: SERVER_URL,
        MAESTRO_SKILLS: 'maestro-orchestrator,deploy',
        MAESTRO_ROLE: 'orchestrator',
        MAESTRO_STRATEGY: 'simple',
        MAESTRO_MANIFEST_PATH: res.body.manifestPath,
      });
      assert.ok(isAbsolute(res.body.env.MAESTRO_MANIFEST_PATH));
      assert.deepEqual(Object.keys(res.body.session.env).sort(), MAESTRO_KEYS);
    });

    it('MAESTRO_SKILLS: role skill first, then the named ones in order, missing included, no duplicates', async () => {
      const res = await spawn({
        projectId: project.id, taskIds: [t1.id], skills: ['git-flow', 'nope', 'maestro-worker', 'git-flow', 'deploy'],
      });
      assert.equal(res.status, 201);
      assert.equal(res.body.env.MAESTRO_SKILLS, 'maestro-worker,git-flow,nope,deploy');
    });
  });

  describe('missing skills', () => {
    it('a named skill not in the folder does not fail the spawn: missingSkills lists it, a warning is logged', async () => {
      warnings.length = 0;
      const res = await spawn({ projectId: project.id, taskIds: [t1.id], skills: ['git-flow', 'kubectl', 'nope'] });
      assert.equal(res.status, 201);
      assert.deepEqual(res.body.missingSkills, ['kubectl', 'nope']);
      const request = events.events.find((e) => e.type === 'session:spawn_request');
      assert.deepEqual(request?.data.missingSkills, ['kubectl', 'nope']);
      assert.ok(warnings.some((w) => w.includes('kubectl') && w.includes('nope')), JSON.stringify(warnings));
    });

    it('skills that are all present give an empty missingSkills and no warning', async () => {
      warnings.length = 0;
      const res = await spawn({ projectId: project.id, taskIds: [t1.id], skills: ['git-flow', 'deploy'] });
      assert.deepEqual(res.body.missingSkills, []);
      assert.deepEqual(warnings, []);
    });
  });

  describe('links and events', () => {
    it('links every task (§4) with a session_started event', async () => {
      const res = await spawn({ projectId: project.id, taskIds: [t1.id, t2.id] });
      for (const t of [t1, t2]) {
        const task = (await api.get(`/api/tasks/${t.id}`)).body;
        assert.ok(task.sessionIds.includes(res.body.sessionId));
        const last = task.timeline.at(-1);
        assert.equal(last.type, 'session_started');
        assert.equal(last.sessionId, res.body.sessionId);
      }
    });

    it('broadcasts session:created, the link events, session:spawn_request, then session:spawn, each once', async () => {
      const res = await spawn({ projectId: project.id, taskIds: [t1.id, t2.id] });
      const sid = res.body.sessionId;
      // The session is created with its taskIds, so a session:updated for it is allowed but not required.
      const relevant = events.events.filter((e) => e.type !== 'session:updated');
      assert.deepEqual(relevant.map((e) => e.type), [
        'session:created',
        'session:task_added', 'task:session_added', 'task:updated',
        'session:task_added', 'task:session_added', 'task:updated',
        'session:spawn_request',
        'session:spawn',
      ]);
      assert.deepEqual(relevant[1].data, { sessionId: sid, taskId: t1.id });
      assert.deepEqual(relevant[2].data, { taskId: t1.id, sessionId: sid });
      assert.deepEqual(relevant[3].data, (await api.get(`/api/tasks/${t1.id}`)).body);
      assert.deepEqual(relevant[4].data, { sessionId: sid, taskId: t2.id });
      assert.deepEqual(relevant[5].data, { taskId: t2.id, sessionId: sid });
      assert.deepEqual(relevant[6].data, (await api.get(`/api/tasks/${t2.id}`)).body);
      assert.equal(relevant[0].data.id, sid);
      assert.equal(relevant[0].data.status, 'spawning');
      for (const u of events.events.filter((e) => e.type === 'session:updated')) assert.equal(u.data.id, sid);
      assert.equal(events.events.at(-1)!.type, 'session:spawn');
    });

    it('session:spawn carries {session, command, cwd, envVars, manifest, projectId, taskIds, spawnSource, parentSessionId}', async () => {
      const res = await spawn({ projectId: project.id, taskIds: [t2.id], role: 'orchestrator', spawnSource: 'session', sessionId: 'sess_up' });
      const message = events.events.find((e) => e.type === 'session:spawn')!;
      assert.equal(message.event, 'session:spawn');
      const manifest = JSON.parse(await readFile(res.body.manifestPath, 'utf8'));
      assert.deepEqual(message.data, {
        session: res.body.session, command: 'maestro orchestrator init', cwd: '/home/dev/app', envVars: res.body.env, manifest,
        projectId: project.id, taskIds: [t2.id], spawnSource: 'session', parentSessionId: 'sess_up',
      });
      events.clear();
      const plain = await spawn({ projectId: project.id, taskIds: [t1.id] });
      const second = events.events.find((e) => e.type === 'session:spawn')!;
      assert.equal(second.data.command, 'maestro worker init');
      assert.equal(second.data.parentSessionId, null);
      assert.equal(second.data.session.id, plain.body.sessionId);
    });

    it('the manifest is on disk when the answer comes, and goes with its session', async () => {
      const res = await spawn({ projectId: project.id, taskIds: [t1.id] });
      const manifest = JSON.parse(await readFile(res.body.manifestPath, 'utf8'));
      assert.deepEqual(manifest.tasks.map((t: any) => t.id), [t1.id]);
      assert.equal((await api.delete(`/api/sessions/${res.body.sessionId}`)).status, 200);
      await waitFor(async () => !(await exists(res.body.manifestPath)));
    });

    it('a refused spawn writes no manifest', async () => {
      const before = await readdir(join(server.dataDir, 'manifests'));
      await spawn({ projectId: project.id, taskIds: [t1.id, foreign.id] });
      await spawn({ projectId: project.id, taskIds: [t1.id], strategy: 'tree' });
      assert.deepEqual(await readdir(join(server.dataDir, 'manifests')), before);
    });

    it('session:spawn_request carries {session, projectId, taskIds, skillIds, name, role, workingDir, env, missingSkills}', async () => {
      const res = await spawn({
        projectId: project.id, taskIds: [t1.id], skills: ['deploy', 'nope', 'deploy'], sessionName: 'Ship it', role: 'worker',
      });
      const request = events.events.find((e) => e.type === 'session:spawn_request');
      assert.ok(request);
      assert.equal(request.event, 'session:spawn_request');
      assert.deepEqual(request.data, {
        session: res.body.session,
        projectId: project.id,
        taskIds: [t1.id],
        skillIds: ['maestro-worker', 'deploy', 'nope'],
        name: 'Ship it',
        role: 'worker',
        workingDir: '/home/dev/app',
        env: res.body.env,
        missingSkills: ['nope'],
      });
      assert.deepEqual(request.data.session, (await api.get(`/api/sessions/${res.body.sessionId}`)).body);
    });

    it('a refused spawn broadcasts no spawn_request', async () => {
      await spawn({ projectId: project.id, taskIds: ['task_nope'] });
      await spawn({ projectId: 'proj_nope', taskIds: [t1.id] });
      assert.ok(!events.types().includes('session:spawn_request'));
    });
  });
});

describe('§5 MAESTRO_SERVER_URL without SERVER_URL', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ SKILLS_DIR: FIXTURE_SKILLS }); });
  after(() => server.cleanup());

  it('defaults to http://localhost:<port>', async () => {
    const api = client(server.url);
    const project = (await api.post('/api/projects', { name: 'p' })).body;
    const task = (await api.post('/api/tasks', { projectId: project.id, title: 't' })).body;
    const res = await api.post('/api/sessions/spawn', { projectId: project.id, taskIds: [task.id] });
    assert.equal(res.status, 201);
    assert.equal(res.body.env.MAESTRO_SERVER_URL, `http://localhost:${server.port}`);
  });
});

describe('§5 a manifest that cannot be written', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ SKILLS_DIR: FIXTURE_SKILLS }); });
  after(() => server.cleanup());

  it('fails the spawn with 500: no session, no link, nothing broadcast', async () => {
    const api = client(server.url);
    const project = (await api.post('/api/projects', { name: 'p' })).body;
    const task = (await api.post('/api/tasks', { projectId: project.id, title: 't' })).body;
    // A file where the manifests folder must be.
    await writeFile(join(server.dataDir, 'manifests'), 'not a folder');
    const events = await EventLog.connect(server.url);
    const res = await api.post('/api/sessions/spawn', { projectId: project.id, taskIds: [task.id] });
    assertError(res, 500, 'INTERNAL_ERROR');
    assert.deepEqual((await api.get('/api/sessions')).body, []);
    assert.deepEqual((await api.get(`/api/tasks/${task.id}`)).body.sessionIds, []);
    assert.deepEqual(await events.settled(), []);
    events.close();
  });
});
