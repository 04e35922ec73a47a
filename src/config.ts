import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { LogLevel } from './log.ts';
import { isLoopbackAddress } from './loopback.ts';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  skillsDir: string;
  /** `SERVER_URL`, or `http://localhost:<port>` (the bound port when `PORT` is 0). */
  serverUrl: string;
  serverUrlSet: boolean;
  token: string | undefined;
  writeDebounceMs: number;
  bodyLimitBytes: number;
  corsOrigins: string[];
  allowedHosts: string[];
  wsPingMs: number;
  wsMaxBufferBytes: number;
  maxPendingWrites: number;
  /** SPEC §16: how often entity files are made durable and old journal files deleted. */
  checkpointMs: number;
  /** A journal file past this size forces a checkpoint. */
  journalMaxBytes: number;
  /** SPEC §12: how many broadcasts, and how many bytes of them, a reconnecting client can get back. */
  eventBuffer: number;
  eventBufferBytes: number;
  /** WebSocket and event-feed clients at once. */
  maxEventClients: number;
  maxConnections: number;
  /** Entries of each timeline and event list kept in the entity; older ones are archived. */
  timelineKeep: number;
  /** SPEC §10: how long a heartbeat or claim keeps a session alive. */
  sessionLeaseMs: number;
  spawnTimeoutMs: number;
  /** Active sessions a project may have before spawn answers 429; 0 = no limit. */
  maxActiveSessions: number;
  /** SPEC §11: idempotency keys remembered at once. */
  idempotencyKeys: number;
  logLevel: LogLevel;
}

export class ConfigError extends Error {}


type Env = Record<string, string | undefined>;

function intFrom(env: Env, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

const listFrom = (raw: string | undefined) => (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/** Flags `--port N`, `--host H`, `--data-dir D` (or `--flag=value`) override their variables. */
export function parseFlags(argv: string[]): Env {
  const names: Record<string, string> = { '--port': 'PORT', '--host': 'HOST', '--data-dir': 'DATA_DIR' };
  const out: Env = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const name = names[flag];
    if (!name) throw new ConfigError(`unknown option: ${argv[i]} (use --port, --host, --data-dir)`);
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw new ConfigError(`${flag} needs a value`);
    out[name] = value;
  }
  return out;
}

function logLevelFrom(env: Env): LogLevel {
  if (env.DEBUG === '1' || env.DEBUG === 'true') return 'debug';
  const level = (env.LOG_LEVEL ?? 'info').toLowerCase();
  if (level === 'error' || level === 'warn' || level === 'info' || level === 'debug') return level;
  throw new ConfigError(`LOG_LEVEL must be error, warn, info or debug, got "${env.LOG_LEVEL}"`);
}

export function loadConfig(env: Env = process.env, argv: string[] = []): Config {
  const all = { ...env, ...parseFlags(argv) };
  const port = intFrom(all, 'PORT', 3000, 0);
  if (port > 65535) throw new ConfigError(`PORT must be at most 65535, got ${port}`);
  const host = all.HOST || '127.0.0.1';
  const token = all.MAESTRO_TOKEN || undefined;
  if (!isLoopbackAddress(host) && !token) {
    throw new ConfigError(`HOST ${host} is reachable from the network: set MAESTRO_TOKEN to start on it`);
  }
  return {
    port,
    host,
    dataDir: resolve(all.DATA_DIR || join(homedir(), '.maestro', 'data')),
    skillsDir: resolve(all.SKILLS_DIR || join(homedir(), '.agents-ui', 'maestro-skills')),
    serverUrl: (all.SERVER_URL || `http://localhost:${port}`).replace(/\/+$/, ''),
    serverUrlSet: Boolean(all.SERVER_URL),
    token,
    writeDebounceMs: intFrom(all, 'WRITE_DEBOUNCE_MS', 50, 0),
    bodyLimitBytes: intFrom(all, 'BODY_LIMIT_BYTES', 1024 * 1024, 1),
    corsOrigins: listFrom(all.CORS_ORIGINS),
    allowedHosts: listFrom(all.ALLOWED_HOSTS).map((h) => h.toLowerCase()),
    wsPingMs: intFrom(all, 'WS_PING_MS', 30_000, 10),
    wsMaxBufferBytes: intFrom(all, 'WS_MAX_BUFFER_BYTES', 8 * 1024 * 1024, 1024),
    maxPendingWrites: intFrom(all, 'MAX_PENDING_WRITES', 2000, 1),
    checkpointMs: intFrom(all, 'CHECKPOINT_MS', 5000, 10),
    journalMaxBytes: intFrom(all, 'JOURNAL_MAX_BYTES', 64 * 1024 * 1024, 1024),
    eventBuffer: intFrom(all, 'EVENT_BUFFER', 10_000, 0),
    eventBufferBytes: intFrom(all, 'EVENT_BUFFER_BYTES', 64 * 1024 * 1024, 0),
    maxEventClients: intFrom(all, 'MAX_EVENT_CLIENTS', 1000, 1),
    maxConnections: intFrom(all, 'MAX_CONNECTIONS', 1000, 1),
    timelineKeep: intFrom(all, 'TIMELINE_KEEP', 500, 1),
    sessionLeaseMs: intFrom(all, 'SESSION_LEASE_MS', 60_000, 1),
    spawnTimeoutMs: intFrom(all, 'SPAWN_TIMEOUT_MS', 120_000, 1),
    maxActiveSessions: intFrom(all, 'MAX_ACTIVE_SESSIONS', 20, 0),
    idempotencyKeys: intFrom(all, 'IDEMPOTENCY_KEYS', 10_000, 1),
    logLevel: logLevelFrom(all),
  };
}
