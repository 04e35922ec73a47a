/**
 * SPEC §5/§15 with the original desktop UI and CLI (COMPAT.md): the spawn loop
 * without Claude. The UI's spawn body, the `session:spawn` it acts on, the
 * manifest the CLI validates (against a JSON Schema of COMPAT §2.2, with a real
 * validator), then the requests `maestro worker init` and its hooks make, in order.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { beforeEach, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import type { Project, Task } from '../../src/types.ts';
import { MANIFEST_SCHEMA } from '../fixtures/manifest-schema.ts';
import { type Api, client, entities, EventLog, type HttpResult, useApiServer, type WsMessage } from '../helpers.ts';

const validate = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true }).compile(MANIFEST_SCHEMA);
const SPAWN_EVENT_KEYS = ['command', 'cwd', 'envVars', 'manifest', 'parentSessionId', 'projectId', 'session', 'spawnSource', 'taskIds'];
/** What the UI reads of a session (COMPAT §4). */
const UI_SESSION_FIELDS = [
  'id', 'projectId', 'taskIds', 'name', 'status', 'strategy', 'startedAt', 'lastActivity', 'completedAt', 'hostname', 'platform',
  'timeline', 'role', 'spawnSource', 'spawnedBy', 'model', 'agentId',
];
/** The Tauri terminal drops env keys that do not match this (COMPAT §1.4). */
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The CLI sends this on every request, GET and DELETE too, and never Authorization. */
const CLI_HEADERS = { 'content-type': 'application/json' };

/** Every closed object of a manifest, as a path of keys, to put one unknown key into. */
function closedObjectPaths(manifest: any): string[][] {
  const paths: string[][] = [[], ['session'], ['context']];
  manifest.tasks.forEach((_: unknown, i: number) => paths.push(['tasks', String(i)]));
  return paths;
}

function withExtraKey(manifest: unknown, path: string[]) {
  const copy = structuredClone(manifest) as any;
  let at = copy;
  for (const key of path) at = at[key];
  at.unexpected = 1;
  return copy;
}

const schemaErrors = () => JSON.stringify(validate.errors);

describe('the JSON Schema of COMPAT §2.2 itself', () => {
  const example = {
    manifestVersion: '1.0', role: 'worker',
    tasks: [{
      id: 't1', title: 'Add login form', description: '', acceptanceCriteria: ['Task completion as described'], projectId: 'p1',
      createdAt: '2026-01-01T00:00:00.000Z', parentId: null, dependencies: [], priority: 'high',
    }],
    session: { model: 'sonnet', permissionMode: 'acceptEdits', thinkingMode: 'auto', workingDirectory: '/Users/alice/code/shop' },
    context: { custom: { taskIds: ['t1'], anything: { goes: true } } },
    skills: ['maestro-worker'], strategy: 'queue', templateId: 'tmpl_1',
  };

  it('accepts COMPAT §2.4 example shape and refuses each documented failure', () => {
    assert.equal(validate(example), true, schemaErrors());
    const failing: [string, (m: any) => void][] = [
      ['strategy tree', (m) => { m.strategy = 'tree'; }],
      ['strategy null', (m) => { m.strategy = null; }],
      ['status pending', (m) => { m.tasks[0].status = 'pending'; }],
      ['priority null', (m) => { m.tasks[0].priority = null; }],
      ['thinkingMode null', (m) => { m.session.thinkingMode = null; }],
      ['createdAt a number', (m) => { m.tasks[0].createdAt = 1767225600000; }],
      ['no acceptance criteria', (m) => { m.tasks[0].acceptanceCriteria = []; }],
      ['no tasks', (m) => { m.tasks = []; }],
      ['no model', (m) => { delete m.session.model; }],
      ['model gpt', (m) => { m.session.model = 'gpt'; }],
      ['role tester', (m) => { m.role = 'tester'; }],
      ['initialPrompt on a task', (m) => { m.tasks[0].initialPrompt = 'x'; }],
      ['sessionStatus on a task', (m) => { m.tasks[0].sessionStatus = 'working'; }],
      ['reason in context', (m) => { m.context.reason = 'x'; }],
    ];
    for (const [what, change] of failing) {
      const copy = structuredClone(example);
      change(copy);
      assert.equal(validate(copy), false, what);
    }
    for (const path of closedObjectPaths(example)) assert.equal(validate(withExtraKey(example, path)), false, path.join('.'));
    assert.equal(validate(withExtraKey(example, ['context', 'custom'])), true, 'context.custom is open');
  });
});

describe('§5 the spawn loop without Claude (COMPAT §1, §2.6)', () => {
  let api: Api;
  let cli: Api;
  let ui: EventLog;
  let project: Project;
  useApiServer(['shop'], (f) => {
    ({ api, projects: [project] } = f);
    ui = f.events;
    cli = client(f.server.url, { headers: CLI_HEADERS });
  });
  beforeEach(() => ui.clear());

  const newTask = (fields: object) => entities(api).create('task', { projectId: project.id, ...fields });
  const spawnEvent = (sessionId: string) => ui.next((m) => m.type === 'session:spawn' && m.data.session.id === sessionId);

  async function readManifest(path: string) {
    return JSON.parse(await readFile(path, 'utf8'));
  }

  /** The UI's "work on task" (COMPAT §1.1), then the session:spawn every UI acts on. */
  async function uiSpawn(task: Task, strategy: 'simple' | 'queue'): Promise<{ res: HttpResult; spawn: WsMessage }> {
    const res = await api.post('/api/sessions/spawn', {
      projectId: project.id, taskIds: [task.id], role: 'worker', strategy, spawnSource: 'ui', sessionName: task.title,
      skills: ['claude'], model: 'sonnet',
    }, { headers: { origin: 'tauri://localhost' } });
    assert.equal(res.status, 201, res.text);
    return { res, spawn: await spawnEvent(res.body.sessionId) };
  }

  it('the UI spawns: session:spawn once, with exactly its fields, after session:spawn_request; a terminal could open', async () => {
    await entities(api).update('project', project.id, { workingDir: '/Users/alice/code/shop' });
    const task = await newTask({ title: 'Add login form', description: 'Email and password on /login', priority: 'high' });
    const { res, spawn } = await uiSpawn(task, 'simple');
    await new Promise((r) => setTimeout(r, 50));
    const types = ui.types();
    assert.equal(types.filter((t) => t === 'session:spawn').length, 1, 'exactly once');
    assert.ok(types.indexOf('session:spawn_request') < types.indexOf('session:spawn'));
    assert.equal(spawn.event, 'session:spawn');
    assert.deepEqual(Object.keys(spawn.data).sort(), SPAWN_EVENT_KEYS);
    const { session, command, cwd, envVars, projectId } = spawn.data;
    assert.equal(command, 'maestro worker init');
    assert.equal(cwd, '/Users/alice/code/shop');
    assert.equal(projectId, project.id);
    assert.deepEqual(envVars, res.body.env);
    for (const [key, value] of Object.entries(envVars)) {
      assert.match(key, ENV_KEY);
      assert.equal(typeof value, 'string');
    }
    assert.equal(envVars.MAESTRO_SESSION_ID, session.id);
    assert.equal(envVars.MAESTRO_MANIFEST_PATH, res.body.manifestPath);
    assert.equal(envVars.MAESTRO_STRATEGY, 'simple');
    assert.doesNotMatch(envVars.MAESTRO_SERVER_URL, /\/api\/?$/);
    for (const field of UI_SESSION_FIELDS) assert.ok(field in session, field);
    assert.deepEqual([session.status, session.name, session.strategy, session.role, session.spawnSource, session.model],
      ['spawning', 'Add login form', 'simple', 'worker', 'ui', 'sonnet']);
    assert.deepEqual(session, (await api.get(`/api/sessions/${session.id}`)).body);
  });

  it('the manifest validates against COMPAT §2.2; one unknown key anywhere closed makes it fail', async () => {
    const parent = await newTask({ title: 'Checkout v2' });
    const task = await newTask({
      title: 'Validate input', description: 'Reject empty fields', parentId: parent.id, dependencies: [parent.id],
      initialPrompt: 'Start from the form component', status: 'pending',
    });
    await api.post(`/api/tasks/${task.id}/subtasks`, { title: 'Empty email is refused' });
    await api.post(`/api/tasks/${task.id}/subtasks`, { title: 'Empty password is refused' });
    const { res, spawn } = await uiSpawn(task, 'simple');
    const manifest = await readManifest(res.body.manifestPath);
    assert.equal(validate(manifest), true, schemaErrors());
    assert.deepEqual(spawn.data.manifest, manifest);
    assert.deepEqual(manifest.tasks[0], {
      id: task.id, title: 'Validate input', description: 'Reject empty fields',
      acceptanceCriteria: ['Empty email is refused', 'Empty password is refused'], projectId: project.id,
      createdAt: new Date(task.createdAt).toISOString(), parentId: parent.id, dependencies: [parent.id], priority: 'medium', status: 'todo',
    });
    assert.deepEqual(manifest.session, { model: 'sonnet', permissionMode: 'acceptEdits', thinkingMode: 'auto', workingDirectory: '/Users/alice/code/shop' });
    assert.deepEqual(manifest.context, { custom: { taskIds: [task.id], reason: null, initialPrompts: { [task.id]: 'Start from the form component' } } });
    assert.deepEqual([manifest.manifestVersion, manifest.role, manifest.strategy, manifest.skills], ['1.0', 'worker', 'simple', ['claude']]);
    const workerTemplate = (await api.get('/api/templates/role/worker')).body;
    assert.equal(manifest.templateId, workerTemplate.id);
    for (const path of closedObjectPaths(manifest)) {
      assert.equal(validate(withExtraKey(manifest, path)), false, `an unknown key at ${path.join('.') || 'the top'} must fail`);
    }
  });

  it('the orchestrator CLI spawn body (parent as sessionId, context with primaryTask) gives a valid manifest', async () => {
    const task = await newTask({ title: 'Worker task' });
    const parent = await entities(api).create('session', { projectId: project.id, taskIds: [task.id], status: 'running' });
    const res = await cli.post('/api/sessions/spawn', {
      projectId: project.id, taskIds: [task.id], role: 'worker', spawnSource: 'session', sessionId: parent.id,
      skills: ['maestro-worker'], sessionName: 'Worker: Worker task',
      context: { primaryTask: task, workflowSteps: ['a'], initialCommands: ['maestro whoami'], reason: 'split the work' },
      model: 'gpt-5', permissionMode: 'yolo',
    });
    assert.equal(res.status, 201, res.text);
    const manifest = await readManifest(res.body.manifestPath);
    assert.equal(validate(manifest), true, schemaErrors());
    assert.deepEqual([manifest.session.model, manifest.session.permissionMode], ['sonnet', 'acceptEdits']);
    assert.equal(manifest.context.custom.reason, 'split the work');
    assert.equal(res.body.session.spawnedBy, parent.id);
    const spawn = await spawnEvent(res.body.sessionId);
    assert.equal(spawn.data.parentSessionId, parent.id);
    assert.equal(spawn.data.spawnSource, 'session');
  });

  it('an orchestrator manifest validates too, with orchestrator init as the command', async () => {
    const task = await newTask({ title: 'Ship checkout v2', priority: 'high' });
    const res = await api.post('/api/sessions/spawn', { projectId: project.id, taskIds: [task.id], role: 'orchestrator', skills: ['maestro-orchestrator'] });
    const manifest = await readManifest(res.body.manifestPath);
    assert.equal(validate(manifest), true, schemaErrors());
    assert.equal(manifest.role, 'orchestrator');
    assert.equal(manifest.templateId, (await api.get('/api/templates/role/orchestrator')).body.id);
    assert.equal((await spawnEvent(res.body.sessionId)).data.command, 'maestro orchestrator init');
  });

  it('worker init and the hooks: every request the CLI makes succeeds, in order (COMPAT §2.6)', async () => {
    const [first, second] = [await newTask({ title: 'first' }), await newTask({ title: 'second' })];
    const spawned = await api.post('/api/sessions/spawn', {
      projectId: project.id, taskIds: [first.id, second.id], role: 'worker', strategy: 'simple', spawnSource: 'ui',
      sessionName: 'Multi-Task: first', skills: ['maestro-worker'],
    });
    const { env } = spawned.body;
    const sid = env.MAESTRO_SESSION_ID;
    const manifest = await readManifest(env.MAESTRO_MANIFEST_PATH);
    assert.equal(validate(manifest), true, schemaErrors());
    const steps: [string, Promise<HttpResult>, number][] = [];
    const step = async (what: string, call: Promise<HttpResult>, status: number) => {
      const res = await call;
      assert.equal(res.status, status, `${what}: ${res.text}`);
      steps.push([what, call, status]);
      return res.body;
    };
    // worker init: sessionStatus working on each manifest task, in order.
    for (const t of manifest.tasks) {
      const body = await step(`init ${t.id}`, cli.patch(`/api/tasks/${t.id}`, { sessionStatus: 'working', updateSource: 'session', sessionId: sid }), 200);
      assert.deepEqual([body.sessionStatus, body.status], ['working', 'todo']);
    }
    // SessionStart hook: maestro session register.
    assert.equal((await step('register: GET', cli.get(`/api/sessions/${sid}`), 200)).status, 'spawning');
    assert.equal((await step('register: PATCH running', cli.patch(`/api/sessions/${sid}`, { status: 'running' }), 200)).status, 'running');
    // PostToolUse Write/Edit.
    const event = await step('file_modified', cli.post(`/api/sessions/${sid}/events`, {
      type: 'file_modified', data: { file: 'src/login.tsx', timestamp: new Date().toISOString() },
    }), 201);
    assert.equal(event.events.at(-1).type, 'file_modified');
    // maestro report progress "x" --task first
    await step('report progress: task', cli.patch(`/api/tasks/${first.id}`, { sessionStatus: 'working', updateSource: 'session', sessionId: sid }), 200);
    await step('report progress: timeline', cli.post(`/api/sessions/${sid}/timeline`, { type: 'progress', message: 'x', taskId: first.id }), 201);
    // maestro report blocked / needs-input / error / complete --task …
    for (const [kind, sessionStatus, type] of [
      ['blocked', 'blocked', 'task_blocked'], ['needs-input', 'needs_input', 'needs_input'], ['error', 'failed', 'error'],
      ['complete', 'completed', 'task_completed'],
    ]) {
      const task = await step(`report ${kind}: task`, cli.patch(`/api/tasks/${second.id}`, { sessionStatus, updateSource: 'session', sessionId: sid }), 200);
      assert.equal(task.sessionStatus, sessionStatus);
      await step(`report ${kind}: timeline`, cli.post(`/api/sessions/${sid}/timeline`, { type, message: kind, taskId: second.id }), 201);
    }
    // maestro report complete without --task: the timeline post, then the session completed.
    await step('report complete: timeline', cli.post(`/api/sessions/${sid}/timeline`, { type: 'task_completed', message: 'all done' }), 201);
    await step('report complete: session', cli.patch(`/api/sessions/${sid}`, { status: 'completed' }), 200);
    // SessionEnd hook: maestro session complete.
    const ended = await step('session complete', cli.patch(`/api/sessions/${sid}`, { status: 'completed', completedAt: Date.now() }), 200);
    assert.equal(ended.status, 'completed');
    assert.ok(Number.isInteger(ended.completedAt));
    assert.equal(steps.length, 2 + 3 + 2 + 8 + 2 + 1);

    const [a, b] = [await entities(api).get('task', first.id), await entities(api).get('task', second.id)];
    assert.deepEqual([a.sessionStatus, a.status, b.sessionStatus, b.status], ['working', 'todo', 'completed', 'todo']);
    const timeline = (await entities(api).get('session', sid)).timeline;
    assert.deepEqual(timeline.map((e) => [e.type, e.taskId ?? null]), [
      ['progress', first.id], ['task_blocked', second.id], ['needs_input', second.id], ['error', second.id],
      ['task_completed', second.id], ['task_completed', null],
    ]);
    // The UI's tab for a task shows the session timeline events with its taskId.
    assert.ok(b.timeline.some((e) => e.type === 'task_completed' && e.sessionId === sid));
  });

  it('session register when the session is unknown: GET 404, then POST with the CLI\'s own id, strategy and metadata', async () => {
    const task = await newTask({ title: 'registered' });
    const sid = `session-${Date.now()}-0a1b2c3d`;
    assert.equal((await cli.get(`/api/sessions/${sid}`)).status, 404);
    const created = await cli.post('/api/sessions', {
      id: sid, projectId: project.id, taskIds: [task.id], name: `worker: ${sid.slice(0, 16)}`, status: 'running', strategy: 'queue',
      metadata: { role: 'worker' },
    });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual([created.body.id, created.body.strategy, created.body.status], [sid, 'queue', 'running']);
    assert.deepEqual(created.body.queue.items.map((i: any) => i.taskId), [task.id]);
  });

  it('a queue worker: manifest strategy queue, then maestro queue top, start, complete work (COMPAT §5)', async () => {
    const task = await newTask({ title: 'queued work' });
    const { res } = await uiSpawn(task, 'queue');
    const manifest = await readManifest(res.body.env.MAESTRO_MANIFEST_PATH);
    assert.equal(validate(manifest), true, schemaErrors());
    assert.equal(manifest.strategy, 'queue');
    const sid = res.body.sessionId;
    const top = await cli.get(`/api/sessions/${sid}/queue/top`);
    assert.deepEqual([top.status, top.body.hasMore, top.body.item.taskId], [200, true, task.id]);
    const start = await cli.post(`/api/sessions/${sid}/queue/start`);
    assert.deepEqual([start.status, start.body.success, start.body.item.taskId], [200, true, task.id]);
    const done = await cli.post(`/api/sessions/${sid}/queue/complete`);
    assert.deepEqual([done.status, done.body.completedItem.taskId, done.body.hasMore], [200, task.id, false]);
    const after = await entities(api).get('task', task.id);
    assert.deepEqual([after.status, after.sessionStatus], ['in_progress', 'completed']);
  });

  it('the UI ends the terminal: PATCH stopped or failed with completedAt works', async () => {
    const task = await newTask({ title: 'closed tab' });
    const { res } = await uiSpawn(task, 'simple');
    const stopped = await api.patch(`/api/sessions/${res.body.sessionId}`, { status: 'stopped', completedAt: Date.now() }, { headers: { origin: 'http://tauri.localhost' } });
    assert.equal(stopped.status, 200, stopped.text);
    assert.equal(stopped.body.status, 'stopped');
    assert.equal(stopped.headers['access-control-allow-origin'], 'http://tauri.localhost');
  });
});
