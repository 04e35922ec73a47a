import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from '../errors.ts';
import { LOOPBACK_NAMES } from '../loopback.ts';

/** What the guards need to know; built once from the Config. */
export interface GuardOptions {
  allowedHosts: Set<string>;
  corsOrigins: Set<string>;
  token: string | undefined;
}

const TAURI_WINDOWS_HOST = 'tauri.localhost';

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);

export function guardOptions(config: { host: string; allowedHosts: string[]; corsOrigins: string[]; token?: string }): GuardOptions {
  const allowedHosts = new Set(config.allowedHosts);
  // A server bound to one address answers to it as a host name too.
  const bound = config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host;
  if (!WILDCARD_HOSTS.has(config.host)) allowedHosts.add(bound.toLowerCase());
  return { allowedHosts, corsOrigins: new Set(config.corsOrigins), token: config.token };
}

/** `localhost:3000` → `localhost`, `[::1]:80` → `[::1]`. */
export function hostName(hostHeader: string): string {
  const host = hostHeader.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

const forbidden = (message: string) => new ApiError(403, 'FORBIDDEN', message);

/** DNS rebinding: a page on evil.example resolving to 127.0.0.1 still sends `Host: evil.example`. */
export function checkHost(headers: IncomingHttpHeaders, options: GuardOptions) {
  const header = headers.host;
  if (header === undefined) return;
  const name = hostName(header);
  if (!LOOPBACK_NAMES.has(name) && !options.allowedHosts.has(name)) throw forbidden(`Host not allowed: ${name}`);
}

export function isAllowedOrigin(origin: string, options: GuardOptions): boolean {
  if (options.corsOrigins.has(origin)) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol === 'tauri:') return true;
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.username || url.password) return false;
  // The Windows webview of a Tauri app sends http(s)://tauri.localhost, without a port.
  return LOOPBACK_NAMES.has(url.hostname) || (url.hostname === TAURI_WINDOWS_HOST && url.port === '');
}

/**
 * A page this server served itself (the board, opened as http://maestro.lan:3000/) calls
 * back with an Origin naming the very host and port it asks for. Only meaningful after
 * `checkHost` passed: a rebinding page has its own name in both, which the Host check refuses.
 */
export function isSameOrigin(origin: string, hostHeader: string | undefined): boolean {
  if (hostHeader === undefined) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === origin && url.host === hostHeader.trim().toLowerCase();
}

/** Browsers send Origin on cross-site requests; a request without one (CLI, curl) passes. Call after `checkHost`. */
export function checkOrigin(headers: IncomingHttpHeaders, options: GuardOptions): string | undefined {
  const origin = headers.origin;
  if (origin === undefined) return undefined;
  if (!isAllowedOrigin(origin, options) && !isSameOrigin(origin, headers.host)) throw forbidden(`Origin not allowed: ${origin}`);
  return origin;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time: both sides are hashed to equal lengths before comparing. */
export function tokenMatches(given: string | undefined, expected: string): boolean {
  return given !== undefined && timingSafeEqual(digest(given), digest(expected));
}

export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '');
  return match ? match[1].trim() : undefined;
}

export function checkToken(given: string | undefined, options: GuardOptions) {
  if (options.token === undefined) return;
  if (!tokenMatches(given, options.token)) {
    throw new ApiError(401, 'UNAUTHORIZED', 'Missing or wrong token: send Authorization: Bearer <MAESTRO_TOKEN>', undefined, {
      'WWW-Authenticate': 'Bearer',
    });
  }
}

export function corsHeaders(origin: string | undefined): Record<string, string> {
  if (origin === undefined) return {};
  return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': 'ETag', Vary: 'Origin' };
}

export const PREFLIGHT_HEADERS = {
  'Access-Control-Allow-Methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
  'Access-Control-Allow-Headers': 'Content-Type, Authorization, If-Match',
  'Access-Control-Max-Age': '600',
};
