/**
 * The board page (SPEC §14) in real headless Chromium (Debian's `chromium`, driven by
 * playwright-core): found by role, label and visible text as the SPEC's conventions say,
 * checked against the server over HTTP.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Locator, type Page, type WebSocketRoute } from 'playwright-core';
import { CONTENT_SECURITY_POLICY } from '../../src/board/page.ts';
import {
  type Api, assertError, client, ROOT, sleep, startProcess, startTestServer, tempDir, type TestServer, waitFor,
} from '../helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const WIDE = { width: 1440, height: 900 };
const NARROW = { width: 390, height: 844 };
/** What the SPEC lets the browser itself log: refused or failed requests while down or before the token. */
const BROWSER_NETWORK_NOISE = [/ERR_CONNECTION_REFUSED/, /^WebSocket connection to .* failed/, /status of 401 \(Unauthorized\)/];

let browser: Browser;
before(async () => { browser = await chromium.launch({ executablePath: CHROMIUM }); });
after(async () => { await browser?.close(); });

interface Board {
  page: Page;
  /** Console errors and uncaught exceptions, in order. */
  errors: string[];
  /** Requests (HTTP and WebSocket) to any origin but the server's. */
  foreign: string[];
  close(options?: { allowNetworkNoise?: boolean }): Promise<void>;
}

/** Opens the board in a fresh browser context and watches what it logs and requests. */
async function openBoard(baseUrl: string, viewport = WIDE, prepare?: (page: Page) => Promise<void>): Promise<Board> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const origin = new URL(baseUrl).origin;
  const sameOrigin = (url: string) => new URL(url.replace(/^ws/, 'http')).origin === origin;
  const errors: string[] = [];
  const foreign: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  page.on('request', (r) => { if (!sameOrigin(r.url())) foreign.push(r.url()); });
  page.on('websocket', (ws) => { if (!sameOrigin(ws.url())) foreign.push(ws.url()); });
  await prepare?.(page);
  await page.goto(baseUrl);
  return {
    page, errors, foreign,
    async close({ allowNetworkNoise = false } = {}) {
      await context.close();
      const unexpected = errors.filter((e) => !(allowNetworkNoise && BROWSER_NETWORK_NOISE.some((re) => re.test(e))));
      assert.deepEqual(unexpected, [], 'no console errors');
      assert.deepEqual(foreign, [], 'no request to another origin');
    },
  };
}

const column = (page: Page, name: string) => page.getByRole('region', { name: new RegExp(`^${name}`, 'i') });
const card = (page: Page, title: string) => page.getByRole('article').filter({ has: page.getByRole('button', { name: title, exact: true }) });
const connection = (page: Page) => page.getByRole('status');

/** Waits (up to `timeoutMs`) for a locator to count `n` elements. */
async function countIs(locator: Locator, n: number, timeoutMs = 5000) {
  await waitFor(async () => (await locator.count()) === n, timeoutMs).catch(async () => {
    assert.fail(`expected ${n} elements, found ${await locator.count()}`);
  });
}

async function connected(page: Page, timeoutMs = 5000) {
  await page.getByRole('status').filter({ hasText: /^Connected$/ }).waitFor({ timeout: timeoutMs });
}

/** Marks the document, so a test can tell it was never reloaded or navigated away. */
const mark = (page: Page) => page.evaluate(() => { (window as any).boardMark = 42; });
const stillMarked = async (page: Page) => assert.equal(await page.evaluate(() => (window as any).boardMark), 42, 'the page was not reloaded');

// ---- Seed data ------------------------------------------------------------

interface Seeded {
  apollo: any;
  zephyr: any;
  tasks: Record<string, any>;
  sessions: Record<string, any>;
  /** §10/§15 fields this server build does not produce yet, to be added to its answers in the browser. */
  missing: { tasks: Record<string, Record<string, unknown>>; sessions: Record<string, Record<string, unknown>> };
}

/**
 * A project with a task in every status, subtasks, a timeline, sessions linked to
 * tasks, a claim, an agent report and a stale session. Claims (§10), `sessionStatus`
 * (§15) and `stale` are made through the real routes when this server has them; where
 * it does not yet, they are recorded in `missing` for `withSpecFields`.
 */
async function seed(api: Api): Promise<Seeded> {
  const post = async (path: string, body: unknown) => {
    const res = await api.post(path, body);
    assert.ok(res.status === 201 || res.status === 200, `${path}: ${res.text}`);
    return res.body;
  };
  const apollo = await post('/api/projects', { name: 'Apollo' });
  const zephyr = await post('/api/projects', { name: 'Zephyr' });
  const task = (title: string, priority: string, extra: Record<string, unknown> = {}) =>
    post('/api/tasks', { projectId: apollo.id, title, priority, ...extra });
  const tasks: Record<string, any> = {
    plan: await task('Write the migration plan', 'high', { description: 'Cover the files written before v2 and the rollback.' }),
    login: await task('Design the login page', 'medium'),
    store: await task('Refactor the store', 'high'),
    flaky: await task('Fix the flaky upload test', 'high'),
    notes: await task('Release notes for 0.3', 'low'),
    proto: await task('Old prototype', 'low'),
    other: await post('/api/tasks', { projectId: zephyr.id, title: 'Zephyr landing page' }),
  };
  for (const [key, status] of [['store', 'in_progress'], ['flaky', 'blocked'], ['notes', 'completed'], ['proto', 'cancelled']]) {
    tasks[key] = (await api.patch(`/api/tasks/${tasks[key].id}`, { status })).body;
  }
  for (const [title, done] of [['Inventory the files', true], ['Write the converter', false], ['Dry run on a copy', false]] as const) {
    const sub = await post(`/api/tasks/${tasks.plan.id}/subtasks`, { title });
    if (done) await api.patch(`/api/tasks/${tasks.plan.id}/subtasks/${sub.id}`, { completed: true });
  }
  for (const title of ['Changelog', 'Upgrade guide']) {
    const sub = await post(`/api/tasks/${tasks.notes.id}/subtasks`, { title });
    await api.patch(`/api/tasks/${tasks.notes.id}/subtasks/${sub.id}`, { completed: true });
  }
  await post(`/api/tasks/${tasks.plan.id}/timeline`, { message: 'Found 14 files in the old format', type: 'progress' });
  const session = (name: string, taskIds: string[], status = 'running') => post('/api/sessions', { projectId: apollo.id, name, taskIds, status });
  const sessions: Record<string, any> = {
    worker: await session('worker-1', [tasks.store.id]),
    reviewer: await session('reviewer', [tasks.flaky.id], 'needs_input'),
    scout: await session('scout', [tasks.login.id]),
  };
  const missing: Seeded['missing'] = { tasks: {}, sessions: {} };
  const claim = await api.post(`/api/tasks/${tasks.store.id}/claim`, { sessionId: sessions.worker.id });
  if (claim.status !== 200) missing.tasks[tasks.store.id] = { claimedBy: sessions.worker.id, claimedAt: Date.now() };
  const report = await api.patch(`/api/tasks/${tasks.flaky.id}`, { sessionStatus: 'needs_input' });
  if (report.body?.sessionStatus !== 'needs_input') missing.tasks[tasks.flaky.id] = { ...missing.tasks[tasks.flaky.id], sessionStatus: 'needs_input' };
  const stale = await api.patch(`/api/sessions/${sessions.scout.id}`, { status: 'stale' });
  if (stale.body?.status !== 'stale') missing.sessions[sessions.scout.id] = { status: 'stale' };
  for (const key of Object.keys(tasks)) tasks[key] = (await api.get(`/api/tasks/${tasks[key].id}`)).body;
  return { apollo, zephyr, tasks, sessions, missing };
}

/** Adds the fields of `missing` to the server's real list answers, as a server with §10 and §15 sends them. */
async function withSpecFields(page: Page, missing: Seeded['missing']) {
  for (const [pattern, extra] of [['**/api/tasks?*', missing.tasks], ['**/api/sessions?*', missing.sessions]] as const) {
    if (Object.keys(extra).length === 0) continue;
    await page.route(pattern, async (route) => {
      const response = await route.fetch();
      const list = (await response.json()) as any[];
      await route.fulfill({ response, json: list.map((e) => ({ ...e, ...extra[e.id] })) });
    });
  }
}

// ---- HTTP: the page, its files, its headers ---------------------------------

async function assertPageHeaders(headers: Record<string, unknown>, type: RegExp) {
  assert.match(String(headers['content-type']), type);
  assert.equal(headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['referrer-policy'], 'no-referrer');
}

describe('the board page over HTTP', () => {
  let server: TestServer;
  let api: Api;
  before(async () => {
    server = await startTestServer({ MAESTRO_TOKEN: 'board-token-1' });
    api = client(server.url);
  });
  after(() => server.cleanup());

  it('serves the page, script and stylesheet without the token, with the security headers', async () => {
    const page = await api.get('/', undefined, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    assert.equal(page.status, 200);
    await assertPageHeaders(page.headers, /^text\/html; charset=utf-8$/);
    assert.match(page.text, /<script src="\/board\/board.js"/);
    assert.match(page.text, /<link rel="stylesheet" href="\/board\/board.css"/);
    const script = await api.get('/board/board.js');
    assert.equal(script.status, 200);
    await assertPageHeaders(script.headers, /^text\/javascript; charset=utf-8$/);
    const style = await api.get('/board/board.css');
    assert.equal(style.status, 200);
    await assertPageHeaders(style.headers, /^text\/css; charset=utf-8$/);
    const icon = await api.get('/board/icon.svg');
    assert.equal(icon.status, 200);
    await assertPageHeaders(icon.headers, /^image\/svg\+xml$/);
  });

  it('policy: only this origin for scripts, styles and connections; no framing', () => {
    const directives = new Map(CONTENT_SECURITY_POLICY.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));
    assert.equal(directives.get('default-src'), "'none'");
    for (const name of ['script-src', 'style-src', 'connect-src']) assert.equal(directives.get(name), "'self'", name);
    assert.equal(directives.get('frame-ancestors'), "'none'");
  });

  it('GET / without text/html in Accept stays the JSON 404; the API still wants the token', async () => {
    assertError(await api.get('/', undefined, { headers: { authorization: 'Bearer board-token-1', accept: 'application/json' } }), 404, 'NOT_FOUND');
    assertError(await api.get('/', undefined, { headers: { authorization: 'Bearer board-token-1' } }), 404, 'NOT_FOUND');
    assertError(await api.get('/', undefined, { headers: { accept: '*/*' } }), 401, 'UNAUTHORIZED');
    assertError(await api.get('/api/projects', undefined, { headers: { accept: 'text/html' } }), 401, 'UNAUTHORIZED');
    assertError(await api.post('/', {}, { headers: { authorization: 'Bearer board-token-1', accept: 'text/html' } }), 404, 'NOT_FOUND');
  });

  it('HEAD / answers the headers without a body; the Host and Origin checks still apply', async () => {
    const head = await api.request('HEAD', '/', undefined, { headers: { accept: 'text/html' } });
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
    assert.ok(Number(head.headers['content-length']) > 500);
    assertError(await api.get('/', undefined, { headers: { accept: 'text/html', host: 'evil.example' } }), 403, 'FORBIDDEN');
    assertError(await api.get('/board/board.js', undefined, { headers: { origin: 'https://evil.example' } }), 403, 'FORBIDDEN');
  });
});

// ---- In the browser ------------------------------------------------------------

describe('the board in Chromium', () => {
  let server: TestServer;
  let api: Api;
  let data: Seeded;
  before(async () => {
    server = await startTestServer();
    api = client(server.url);
    data = await seed(api);
  });
  after(() => server.cleanup());

  it('shows the populated board as the conventions describe, wide and narrow, and screenshots it', async () => {
    const shots = await tempDir('maestro-board-shots-');
    for (const [name, viewport] of [['wide', WIDE], ['narrow', NARROW]] as const) {
      const board = await openBoard(server.url, viewport, (page) => withSpecFields(page, data.missing));
      const { page } = board;
      await connected(page);

      const picker = page.getByLabel('Project', { exact: true });
      await countIs(picker.locator('option'), 2);
      assert.deepEqual(await picker.locator('option').allTextContents(), ['Apollo', 'Zephyr']);
      assert.equal(await picker.inputValue(), data.apollo.id);

      const expected: Record<string, string[]> = {
        'To do': ['Write the migration plan', 'Design the login page'],
        'In progress': ['Refactor the store'],
        Blocked: ['Fix the flaky upload test'],
        Completed: ['Release notes for 0.3'],
        Cancelled: ['Old prototype'],
      };
      for (const [status, titles] of Object.entries(expected)) {
        const region = column(page, status);
        await countIs(region, 1);
        await countIs(region.getByRole('article'), titles.length);
        assert.match((await region.getAttribute('aria-label'))!, new RegExp(`^${status} \\(${titles.length}\\)$`));
        for (const title of titles) await countIs(region.getByRole('article').filter({ hasText: title }), 1);
      }

      const plan = card(page, 'Write the migration plan');
      assert.match(await plan.innerText(), /\bhigh\b/);
      assert.match(await plan.innerText(), /\b1\/3\b/);
      assert.match(await card(page, 'Release notes for 0.3').innerText(), /\b2\/2\b/);
      assert.match(await card(page, 'Design the login page').innerText(), /\bmedium\b/);
      assert.match(await card(page, 'Old prototype').innerText(), /\blow\b/);

      const store = card(page, 'Refactor the store');
      const claim = store.getByText('Claimed by worker-1', { exact: true });
      await countIs(claim, 1);
      assert.equal(await store.getByRole('list', { name: 'Linked sessions' }).getByText('worker-1').count(), 1, 'linked session apart from the claim');
      const flaky = card(page, 'Fix the flaky upload test');
      assert.match(await flaky.innerText(), /reviewer/);
      assert.match(await flaky.innerText(), /needs input/, 'the agent report as a badge');

      const sessions = page.getByRole('complementary', { name: /^Sessions/ });
      const entry = (name: string) => sessions.getByRole('listitem').filter({ hasText: name });
      await countIs(sessions.getByRole('listitem'), 3);
      assert.match(await entry('worker-1').innerText(), /running/);
      assert.match(await entry('reviewer').innerText(), /needs input/);
      assert.match(await entry('scout').innerText(), /stale/);
      const look = (l: Locator) => l.evaluate((node) => {
        const s = getComputedStyle(node);
        return `${s.backgroundColor} ${s.borderStyle} ${s.borderLeftColor}`;
      });
      const running = await look(entry('worker-1'));
      assert.notEqual(await look(entry('reviewer')), running, 'needs_input stands out');
      assert.notEqual(await look(entry('scout')), running, 'stale stands out');

      const screenshot = join(shots, `board-${name}.png`);
      await page.screenshot({ path: screenshot, fullPage: true });
      assert.ok((await stat(screenshot)).size > 10_000);
      if (process.env.UPDATE_BOARD_SCREENSHOT && name === 'wide') {
        await mkdir(join(ROOT, 'docs'), { recursive: true });
        const bottom = await page.evaluate(() => Math.ceil(document.querySelector('main')!.getBoundingClientRect().bottom));
        await page.screenshot({ path: join(ROOT, 'docs', 'board.png'), clip: { x: 0, y: 0, width: viewport.width, height: Math.min(viewport.height, bottom) } });
      }
      if (name === 'narrow') {
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `no sideways scrolling on a narrow window (${overflow}px)`);
      }
      await board.close();
    }
    if (!process.env.KEEP_BOARD_SHOTS) await rm(shots, { recursive: true, force: true });
    else console.log(`screenshots in ${shots}`);
  });

  it('shows a task\'s description and timeline on click; Escape and Close close them; the picker switches projects', async () => {
    const board = await openBoard(server.url);
    const { page } = board;
    await connected(page);
    await mark(page);
    await page.getByRole('button', { name: 'Write the migration plan', exact: true }).click();
    const details = page.getByRole('dialog');
    await details.waitFor();
    assert.match(await details.innerText(), /Cover the files written before v2 and the rollback\./);
    assert.match(await details.innerText(), /Found 14 files in the old format/);
    assert.match(await details.innerText(), /Inventory the files/);
    await page.keyboard.press('Escape');
    await details.waitFor({ state: 'hidden' });
    await page.getByRole('button', { name: 'Refactor the store', exact: true }).click();
    await details.getByRole('button', { name: 'Close' }).click();
    await details.waitFor({ state: 'hidden' });

    await page.getByLabel('Project', { exact: true }).selectOption({ label: 'Zephyr' });
    await countIs(column(page, 'To do').getByRole('article'), 1);
    await countIs(column(page, 'To do').getByText('Zephyr landing page'), 1);
    await countIs(page.getByRole('article'), 1);
    await stillMarked(page);
    await page.getByLabel('Project', { exact: true }).selectOption({ label: 'Apollo' });
    await countIs(page.getByRole('article'), 6);
    await board.close();
  });

  it('creates a task and changes a status through the page, in place; checked over HTTP', async () => {
    const board = await openBoard(server.url);
    const { page } = board;
    await connected(page);
    await mark(page);
    await page.getByPlaceholder('Title').fill('Write the board tests');
    await page.getByLabel('Priority').selectOption('high');
    await page.getByRole('button', { name: 'Add task' }).click();
    const created = card(page, 'Write the board tests');
    await countIs(column(page, 'To do').getByRole('article').filter({ hasText: 'Write the board tests' }), 1);
    assert.equal(await page.getByPlaceholder('Title').inputValue(), '', 'the form is cleared');

    const listed = (await api.get(`/api/tasks?projectId=${data.apollo.id}`)).body.filter((t: any) => t.title === 'Write the board tests');
    assert.equal(listed.length, 1);
    assert.ok(['todo', 'pending'].includes(listed[0].status));
    assert.equal(listed[0].priority, 'high');

    await created.getByRole('combobox', { name: 'Status' }).selectOption('in_progress');
    await countIs(column(page, 'In progress').getByRole('article').filter({ hasText: 'Write the board tests' }), 1);
    await countIs(column(page, 'To do').getByRole('article').filter({ hasText: 'Write the board tests' }), 0);
    assert.equal((await api.get(`/api/tasks/${listed[0].id}`)).body.status, 'in_progress');

    await page.getByRole('button', { name: 'Write the board tests', exact: true }).click();
    await page.getByRole('dialog').getByRole('combobox', { name: 'Status' }).selectOption('completed');
    await countIs(column(page, 'Completed').getByRole('article').filter({ hasText: 'Write the board tests' }), 1);
    assert.equal((await api.get(`/api/tasks/${listed[0].id}`)).body.status, 'completed');
    await page.keyboard.press('Escape');
    await stillMarked(page);
    await board.close();
  });

  it('shows changes made over HTTP within 2 s, without a reload', async () => {
    const board = await openBoard(server.url);
    const { page } = board;
    await connected(page);
    await mark(page);
    const fresh = (await api.post('/api/tasks', { projectId: data.apollo.id, title: 'Made by curl', priority: 'low' })).body;
    await countIs(column(page, 'To do').getByRole('article').filter({ hasText: 'Made by curl' }), 1, 2000);
    await api.patch(`/api/tasks/${fresh.id}`, { status: 'blocked', title: 'Made by curl, then blocked' });
    await countIs(column(page, 'Blocked').getByRole('article').filter({ hasText: 'Made by curl, then blocked' }), 1, 2000);
    await api.post(`/api/tasks/${fresh.id}/subtasks`, { title: 'one step' });
    await waitFor(async () => /\b0\/1\b/.test(await card(page, 'Made by curl, then blocked').innerText()), 2000);
    await api.post('/api/sessions', { projectId: data.apollo.id, name: 'late-joiner', taskIds: [fresh.id] });
    await countIs(page.getByRole('complementary', { name: /^Sessions/ }).getByRole('listitem').filter({ hasText: 'late-joiner' }), 1, 2000);
    await waitFor(async () => /late-joiner/.test(await card(page, 'Made by curl, then blocked').innerText()), 2000);
    await api.delete(`/api/tasks/${fresh.id}`);
    await countIs(page.getByRole('article').filter({ hasText: 'Made by curl' }), 0, 2000);
    await api.post('/api/projects', { name: 'Yet another project' });
    await countIs(page.getByLabel('Project', { exact: true }).locator('option', { hasText: 'Yet another project' }), 1, 2000);
    await stillMarked(page);
    await board.close();
  });
});

describe('the board resuming a WebSocket (SPEC §12, the server side played by the test)', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer(); });
  after(() => server.cleanup());

  it('reconnects with since/serverId; a hello with `replayed` keeps the state, one with `resync` reloads it', async () => {
    const api = client(server.url);
    const project = (await api.post('/api/projects', { name: 'Replay' })).body;
    const task = (await api.post('/api/tasks', { projectId: project.id, title: 'As the server has it' })).body;
    const sockets: { url: string; route: WebSocketRoute }[] = [];
    const fromServer: any[] = [];
    let taskLoads = 0;
    const board = await openBoard(server.url, WIDE, async (page) => {
      page.on('request', (r) => { if (new URL(r.url()).pathname === '/api/tasks') taskLoads++; });
      await page.routeWebSocket(/.*/, (route) => {
        sockets.push({ url: route.url(), route });
        if (sockets.length > 1) return; // later connections are answered by the test
        const upstream = route.connectToServer();
        upstream.onMessage((m) => { fromServer.push(JSON.parse(String(m))); route.send(m); });
      });
    });
    const { page } = board;
    await connected(page);
    await countIs(card(page, 'As the server has it'), 1);
    const serverId = fromServer[0].data.serverId;
    await api.patch(`/api/tasks/${task.id}`, { priority: 'high' });
    await waitFor(() => fromServer.some((m) => m.type === 'task:updated'));
    const lastSeq = fromServer.at(-1).seq;
    await waitFor(async () => /\bhigh\b/.test(await card(page, 'As the server has it').innerText()), 2000);
    assert.equal(new URL(sockets[0].url).search, '', 'a first connection has nothing to resume');

    const loadsBefore = taskLoads;
    sockets[0].route.close();
    await waitFor(() => sockets.length === 2);
    const resume = new URL(sockets[1].url).searchParams;
    assert.equal(resume.get('since'), String(lastSeq));
    assert.equal(resume.get('serverId'), serverId);
    const current = (await api.get(`/api/tasks/${task.id}`)).body;
    const missed = { ...current, title: 'Renamed while away', version: current.version + 1 };
    sockets[1].route.send(JSON.stringify({ type: 'hello', data: { serverId, seq: lastSeq + 1, replayed: 1 } }));
    sockets[1].route.send(JSON.stringify({ type: 'task:updated', event: 'task:updated', data: missed, seq: lastSeq + 1, timestamp: Date.now() }));
    await connected(page);
    await countIs(card(page, 'Renamed while away'), 1, 2000);
    assert.equal(taskLoads, loadsBefore, 'a replay is applied without reloading over HTTP');

    sockets[1].route.close();
    await waitFor(() => sockets.length === 3);
    assert.equal(new URL(sockets[2].url).searchParams.get('since'), String(lastSeq + 1));
    sockets[2].route.send(JSON.stringify({ type: 'hello', data: { serverId, seq: lastSeq + 1, resync: true } }));
    await countIs(card(page, 'As the server has it'), 1, 2000);
    assert.equal(taskLoads, loadsBefore + 1, 'a resync reloads the state over HTTP');
    await countIs(card(page, 'Renamed while away'), 0);
    await board.close();
  });
});

describe('the board on a first connection', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer(); });
  after(() => server.cleanup());

  it('loads the state even if the first hello claims a replay, since it asked for none', async () => {
    const api = client(server.url);
    const project = (await api.post('/api/projects', { name: 'Fresh' })).body;
    await api.post('/api/tasks', { projectId: project.id, title: 'Loaded over HTTP' });
    const urls: string[] = [];
    const board = await openBoard(server.url, WIDE, (page) => page.routeWebSocket(/.*/, (route) => {
      urls.push(route.url());
      route.send(JSON.stringify({ type: 'hello', data: { serverId: 'some-server', seq: 7, replayed: 0 } }));
    }));
    await connected(board.page);
    await countIs(card(board.page, 'Loaded over HTTP'), 1);
    assert.equal(new URL(urls[0]).search, '');
    await board.close();
  });
});

describe('the board from an empty server to a long column', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer(); });
  after(() => server.cleanup());

  it('says there are no projects, shows the first one live, draws 100 cards a column until "Show all"', async () => {
    const api = client(server.url);
    const board = await openBoard(server.url);
    const { page } = board;
    await connected(page);
    await page.getByText('No projects yet.').waitFor();
    const project = (await api.post('/api/projects', { name: 'First' })).body;
    await countIs(page.getByLabel('Project', { exact: true }).locator('option', { hasText: 'First' }), 1, 2000);
    for (let i = 1; i <= 105; i++) await api.post('/api/tasks', { projectId: project.id, title: `Chore ${i}`, priority: 'low' });
    const todo = column(page, 'To do');
    await waitFor(async () => (await todo.getAttribute('aria-label')) === 'To do (105)', 5000);
    await countIs(todo.getByRole('article'), 100);
    assert.equal(await todo.getByText('Chore 101', { exact: true }).count(), 0, 'the oldest wait behind "Show all"');
    await todo.getByRole('button', { name: 'Show all 105' }).click();
    await countIs(todo.getByRole('article'), 105);
    await board.close();
  });
});

describe('the board watching a silent WebSocket', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer(); });
  after(() => server.cleanup());

  it('pings; a connection that stays silent is replaced, one that answers is kept', async () => {
    const sockets: WebSocketRoute[] = [];
    const pings: string[] = [];
    const board = await openBoard(server.url, WIDE, async (page) => {
      await page.addInitScript(() => { (window as any).MAESTRO_BOARD_QUIET_MS = 250; });
      await page.routeWebSocket(/.*/, (route) => {
        sockets.push(route);
        if (sockets.length > 1) return void route.connectToServer();
        route.onMessage((m) => pings.push(String(m)));
        route.send(JSON.stringify({ type: 'hello', data: { serverId: 'a-server-that-went-quiet', seq: 0 } }));
      });
    });
    const { page } = board;
    await waitFor(() => sockets.length === 2, 5000);
    assert.ok(pings.length >= 1 && pings.every((m) => m === '{"type":"ping"}'), `pings sent: ${pings}`);
    await connected(page);
    await sleep(1500);
    assert.equal(sockets.length, 2, 'a connection that answers its pings is kept');
    assert.match(await connection(page).innerText(), /^Connected$/);
    await board.close();
  });
});

describe('the board opened through an allowed host name (ALLOWED_HOSTS)', () => {
  it('works from its own origin: the page\'s writes and WebSocket carry that Origin', async () => {
    const server = await startTestServer({ ALLOWED_HOSTS: 'board.test', MAESTRO_TOKEN: 'lan-token' });
    const lan = await chromium.launch({ executablePath: CHROMIUM, args: ['--host-resolver-rules=MAP board.test 127.0.0.1'] });
    try {
      const api = client(server.url, { headers: { authorization: 'Bearer lan-token' } });
      const project = (await api.post('/api/projects', { name: 'On the LAN' })).body;
      const context = await lan.newContext();
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.goto(`http://board.test:${server.port}/`);
      await page.getByLabel('Token').fill('lan-token');
      await page.getByLabel('Token').press('Enter');
      await connected(page);
      await page.getByPlaceholder('Title').fill('Made from the LAN');
      await page.getByRole('button', { name: 'Add task' }).click();
      await countIs(card(page, 'Made from the LAN'), 1);
      const tasks = (await api.get(`/api/tasks?projectId=${project.id}`)).body;
      assert.deepEqual(tasks.map((t: any) => t.title), ['Made from the LAN']);
      assert.deepEqual(errors.filter((e) => !/status of 401/.test(e)), []);
      const foreign = await api.get('/api/projects', undefined, { headers: { host: `board.test:${server.port}`, origin: `http://board.test:${server.port + 1}` } });
      assertError(foreign, 403, 'FORBIDDEN');
    } finally {
      await lan.close();
      await server.cleanup();
    }
  });
});

describe('the board across a server restart (real bin/maestro-server from dist/)', () => {
  it('says so while the server is down, reconnects on the same port and shows what changed meanwhile', async () => {
    const dataDir = await tempDir();
    const start = (port: string) => startProcess({ DATA_DIR: dataDir, PORT: port, SKILLS_DIR: join(dataDir, 'none') });
    let first = await start('0');
    const port = new URL(first.url).port;
    const firstApi = client(first.url);
    const served = await firstApi.get('/board/board.js');
    assert.equal(served.text, await readFile(join(ROOT, 'src', 'board', 'board.js'), 'utf8'), 'dist/ serves the files of src/board');
    const project = (await firstApi.post('/api/projects', { name: 'Restart' })).body;
    const kept = (await firstApi.post('/api/tasks', { projectId: project.id, title: 'Survives the restart' })).body;

    const board = await openBoard(first.url);
    const { page } = board;
    await connected(page);
    await mark(page);
    await countIs(page.getByRole('article'), 1);

    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    await connection(page).filter({ hasText: /^(Reconnecting…|Disconnected|Offline)$/ }).waitFor({ timeout: 5000 });

    // Changes made while the page cannot hear them: another process on another port, same data.
    const meanwhile = await start('0');
    const meanwhileApi = client(meanwhile.url);
    await meanwhileApi.patch(`/api/tasks/${kept.id}`, { status: 'completed' });
    await meanwhileApi.post('/api/tasks', { projectId: project.id, title: 'Added while the page was away' });
    meanwhile.child.kill('SIGTERM');
    assert.equal(await meanwhile.exited, 0);
    assert.match(await connection(page).innerText(), /^(Reconnecting…|Disconnected|Offline)$/);

    first = await start(port);
    await connected(page, 10_000);
    await countIs(column(page, 'Completed').getByRole('article').filter({ hasText: 'Survives the restart' }), 1);
    await countIs(column(page, 'To do').getByRole('article').filter({ hasText: 'Added while the page was away' }), 1);
    await client(first.url).post('/api/tasks', { projectId: project.id, title: 'Live again' });
    await countIs(column(page, 'To do').getByRole('article').filter({ hasText: 'Live again' }), 1, 2000);
    await stillMarked(page);

    first.child.kill('SIGTERM');
    await first.exited;
    await board.close({ allowNetworkNoise: true });
    await rm(dataDir, { recursive: true, force: true });
  });
});

describe('the board on a server with MAESTRO_TOKEN', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ MAESTRO_TOKEN: 'tok-secret-42' });
    const api = client(server.url, { headers: { authorization: 'Bearer tok-secret-42' } });
    const project = (await api.post('/api/projects', { name: 'Guarded' })).body;
    await api.post('/api/tasks', { projectId: project.id, title: 'Behind the token' });
  });
  after(() => server.cleanup());

  it('asks for the token once, keeps it in sessionStorage only, and not again on reload', async () => {
    const board = await openBoard(server.url);
    const { page } = board;
    const field = page.getByLabel('Token');
    await field.waitFor();
    assert.equal(await page.getByRole('article').count(), 0);

    await field.fill('wrong-token');
    await field.press('Enter');
    await page.getByText('The server refused that token.').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused token is not kept');

    await field.fill('tok-secret-42');
    await field.press('Enter');
    await connected(page);
    await countIs(page.getByRole('article').filter({ hasText: 'Behind the token' }), 1);
    const storage = await page.evaluate(() => ({
      session: Object.values(sessionStorage), local: localStorage.length, cookie: document.cookie,
    }));
    assert.deepEqual(storage, { session: ['tok-secret-42'], local: 0, cookie: '' });

    await page.reload();
    await connected(page);
    await countIs(page.getByRole('article').filter({ hasText: 'Behind the token' }), 1);
    assert.equal(await page.getByLabel('Token').isVisible(), false, 'not asked again in this tab');
    const api = client(server.url, { headers: { authorization: 'Bearer tok-secret-42' } });
    const project = (await api.get('/api/projects')).body[0];
    await api.post('/api/tasks', { projectId: project.id, title: 'Live behind the token' });
    await countIs(page.getByRole('article').filter({ hasText: 'Live behind the token' }), 1, 2000);
    await board.close({ allowNetworkNoise: true });
  });

  it('a new tab asks again', async () => {
    const board = await openBoard(server.url);
    await board.page.getByLabel('Token').waitFor();
    await sleep(200);
    assert.equal(await board.page.getByRole('article').count(), 0);
    await board.close({ allowNetworkNoise: true });
  });
});
