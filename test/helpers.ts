/**
 * Shared test helpers: an in-process server on a temp folder, a tiny HTTP client
 * over real sockets, a WebSocket client that records events, and a real
 * `bin/maestro-server` process.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { WebSocket } from 'ws';
import { type Config, loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/log.ts';
import { type MaestroServer, type StartOptions, startServer } from '../src/server.ts';
import type { EntityKind, EntityOf, Project } from '../src/types.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'maestro-server');
export const FIXTURE_SKILLS = join(ROOT, 'test', 'fixtures', 'skills');

export const tempDir = (prefix = 'maestro-test-') => mkdtemp(join(tmpdir(), prefix));

export interface TestServer extends MaestroServer {
  dataDir: string;
  config: Config;
  /** Stops the server (if still running) and removes its folder. */
  cleanup(): Promise<void>;
}

/** A server on 127.0.0.1, a free port and a fresh temp data folder; env overrides config. */
export async function startTestServer(env: Record<string, string> = {}, options: StartOptions = {}): Promise<TestServer> {
  const dataDir = env.DATA_DIR ?? (await tempDir());
  const config = loadConfig({ PORT: '0', SKILLS_DIR: join(dataDir, 'no-skills'), ...env, DATA_DIR: dataDir });
  const server = await startServer(config, { logger: silentLogger, ...options });
  let stopped = false;
  const stop = async () => {
    if (stopped) return { unsaved: [] };
    stopped = true;
    return server.stop();
  };
  return Object.assign(Object.create(server), server, {
    dataDir,
    config,
    stop,
    cleanup: async () => {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  });
}

export interface HttpResult<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The parsed body; `undefined` when it is not JSON. */
  body: T;
}

export interface HttpOptions {
  headers?: Record<string, string>;
  /** A raw body; sent as is (no Content-Type added). */
  raw?: string | Buffer;
}

/** One request over a fresh socket. A `body` is sent as JSON with its Content-Type. */
export function http(baseUrl: string, method: string, path: string, body?: unknown, options: HttpOptions = {}): Promise<HttpResult> {
  const url = new URL(path, baseUrl);
  const headers: Record<string, string> = { ...options.headers };
  let payload: Buffer | undefined;
  if (options.raw !== undefined) payload = Buffer.from(options.raw);
  else if (body !== undefined) {
    payload = Buffer.from(JSON.stringify(body));
    headers['content-type'] ??= 'application/json';
  }
  if (payload) headers['content-length'] = String(payload.length);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * SPEC §2 error body: the status and code given, JSON, exactly `{error: true, message,
 * code, details?}` with a message, and never a stack trace.
 */
export function assertError(res: { status: number; text: string; body: any; headers?: HttpResult['headers'] }, status: number, code: string) {
  const text = res.text.slice(0, 500);
  assert.equal(res.status, status, text);
  if (res.headers) assert.match(String(res.headers['content-type']), /^application\/json/, `JSON content type: ${text}`);
  assert.equal(res.body?.error, true, text);
  assert.equal(res.body.code, code, text);
  assert.equal(typeof res.body.message, 'string', text);
  assert.ok(res.body.message.length > 0, text);
  for (const key of Object.keys(res.body)) assert.ok(['error', 'message', 'code', 'details'].includes(key), `unexpected key ${key}`);
  assert.ok(!/\n\s+at |\.ts:\d+/.test(res.text), `no stack trace: ${text}`);
}

/** A client bound to one server: `api.post('/api/projects', {...})`. */
export function client(baseUrl: string, defaults: HttpOptions = {}) {
  const call = (method: string) => (path: string, body?: unknown, options: HttpOptions = {}) =>
    http(baseUrl, method, path, body, { ...defaults, ...options, headers: { ...defaults.headers, ...options.headers } });
  return { get: call('GET'), post: call('POST'), put: call('PUT'), patch: call('PATCH'), delete: call('DELETE'), request: http.bind(null, baseUrl) };
}

export type Api = ReturnType<typeof client>;

const ENTITY_PATHS: Record<EntityKind, string> = {
  project: '/api/projects', task: '/api/tasks', session: '/api/sessions', template: '/api/templates',
};

/**
 * Typed calls for the entity routes, for set-up and checks: each asserts the
 * success status and returns the entity as the server sent it.
 */
export function entities(api: Api) {
  const expect = async <T>(call: Promise<HttpResult>, status: number): Promise<T> => {
    const res = await call;
    assert.equal(res.status, status, res.text.slice(0, 500));
    return res.body as T;
  };
  return {
    create: <K extends EntityKind>(kind: K, body: object) => expect<EntityOf<K>>(api.post(ENTITY_PATHS[kind], body), 201),
    get: <K extends EntityKind>(kind: K, id: string) => expect<EntityOf<K>>(api.get(`${ENTITY_PATHS[kind]}/${id}`), 200),
    list: <K extends EntityKind>(kind: K, query = '') => expect<EntityOf<K>[]>(api.get(`${ENTITY_PATHS[kind]}${query}`), 200),
    update: <K extends EntityKind>(kind: K, id: string, patch: object, options: HttpOptions = {}) =>
      expect<EntityOf<K>>(api.patch(`${ENTITY_PATHS[kind]}/${id}`, patch, options), 200),
    remove: (kind: EntityKind, id: string) => expect<{ success: true; id: string }>(api.delete(`${ENTITY_PATHS[kind]}/${id}`), 200),
  };
}

export interface ApiServer {
  server: TestServer;
  api: Api;
  events: EventLog;
  /** One project per name given, created in order after the event log connected. */
  projects: Project[];
}

/**
 * The usual set-up of a describe block: a server, a client, a connected event log and
 * some projects, made in `before` and handed to `ready`; closed in `after`.
 */
export function useApiServer(projectNames: string[], ready: (fixture: ApiServer) => void) {
  let fixture: ApiServer;
  before(async () => {
    const server = await startTestServer();
    const api = client(server.url);
    const events = await EventLog.connect(server.url);
    const projects: Project[] = [];
    for (const name of projectNames) projects.push(await entities(api).create('project', { name }));
    fixture = { server, api, events, projects };
    ready(fixture);
  });
  after(async () => {
    fixture.events.close();
    await fixture.server.cleanup();
  });
}

export interface WsMessage {
  type: string;
  event?: string;
  data: any;
  seq?: number;
  timestamp?: number;
}

/** A WebSocket client that keeps every message, with a way to wait for one. */
export class EventLog {
  readonly messages: WsMessage[] = [];
  private waiters: { test: (m: WsMessage) => boolean; resolve: (m: WsMessage) => void }[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as WsMessage;
      this.messages.push(message);
      this.waiters = this.waiters.filter((w) => (w.test(message) ? (w.resolve(message), false) : true));
    });
  }

  static async connect(baseUrl: string, options: { headers?: Record<string, string>; path?: string } = {}): Promise<EventLog> {
    const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + (options.path ?? '/'), { headers: options.headers });
    const log = new EventLog(ws);
    await log.next((m) => m.type === 'hello');
    return log;
  }

  /** Events (not hello/pong) received so far. */
  get events(): WsMessage[] {
    return this.messages.filter((m) => m.type !== 'hello' && m.type !== 'pong');
  }

  types(): string[] {
    return this.events.map((m) => m.type);
  }

  clear() {
    this.messages.length = 0;
  }

  next(test: (m: WsMessage) => boolean, timeoutMs = 3000): Promise<WsMessage> {
    const seen = this.messages.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a WebSocket message')), timeoutMs);
      this.waiters.push({ test, resolve: (m) => { clearTimeout(timer); resolve(m); } });
    });
  }

  close() {
    this.ws.terminate();
  }

  /** The events so far, after letting messages already on their way arrive. */
  async settled(): Promise<WsMessage[]> {
    await new Promise((r) => setImmediate(r));
    return this.events;
  }
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/** Children still running when the test process exits are killed, never left behind. */
const children = new Set<ChildProcess>();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

// A failed assertion must end the test file, not leave it waiting on a server nobody stops.
after(() => { for (const c of children) c.kill('SIGKILL'); });

function track(child: ChildProcess) {
  children.add(child);
  child.on('exit', () => children.delete(child));
}

/** Runs the real `bin/maestro-server` (from dist/) and waits for its start line. */
export function startProcess(env: Record<string, string>, args: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE, PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal!)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 10_000);
    const onData = () => {
      const match = /listening on (\S+)/.exec(out);
      if (!match) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve({ child, url: match[1], stdout: () => out, stderr: () => err, exited });
    };
    child.stdout!.on('data', onData);
    exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited (${code}) before starting: ${err}`)); });
  });
}

/** Runs `bin/maestro-server` expecting it to exit; returns its code and output. */
export function runToExit(env: Record<string, string>, args: string[] = [], timeoutMs = 10_000) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('process did not exit')); }, timeoutMs);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout: out, stderr: err }); });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns truthy or the time is up. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 5000, everyMs = 20): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error('waitFor: timed out');
    await sleep(everyMs);
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  body: any;
}

/** Splits HTTP/1.1 responses (Content-Length framed) out of raw bytes read from a socket. */
export function parseResponses(raw: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = raw;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) return out;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const text = rest.slice(end + 4, end + 4 + length);
    if (Buffer.byteLength(text) < length) return out;
    let body: unknown;
    try { body = JSON.parse(text); } catch { body = undefined; }
    out.push({ status: Number(statusLine.split(' ')[1]), headers, text, body });
    rest = rest.slice(end + 4 + length);
  }
}

/**
 * Writes raw bytes on one fresh socket and reads until `done(text so far)` says
 * enough, the server closes, or `timeoutMs` passes; returns all that was read.
 */
export function rawExchange(baseUrl: string, bytes: string | Buffer, done: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
  const { port, hostname } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = netConnect(Number(port), hostname.replace(/^\[|\]$/g, ''));
    let text = '';
    const finish = () => { clearTimeout(timer); socket.destroy(); resolve(text); };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (d) => { text += d; if (done(text)) finish(); });
    socket.on('close', finish);
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
    socket.write(bytes);
  });
}
