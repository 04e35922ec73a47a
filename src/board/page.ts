import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import type { Reply } from '../http/respond.ts';

/**
 * The board page (SPEC §14): three static files next to this module (copied
 * into dist/board/ by the build), served without the token since they hold no
 * data; the script fetches everything over the public API.
 */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/board/board.js': { file: 'board.js', type: 'text/javascript; charset=utf-8' },
  '/board/board.css': { file: 'board.css', type: 'text/css; charset=utf-8' },
  '/board/icon.svg': { file: 'icon.svg', type: 'image/svg+xml' },
};

/**
 * Only this origin, for everything: 'self' covers ws:/wss: to the same host and
 * port in CSP Level 3 browsers, so the Host header is never echoed into a header.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const PAGE_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-cache',
};

/** Read once, at the first request for each: start-up does not wait for them. */
const cache = new Map<string, Promise<Buffer>>();

function load(file: string): Promise<Buffer> {
  let bytes = cache.get(file);
  if (!bytes) {
    bytes = readFile(new URL(file, import.meta.url));
    cache.set(file, bytes);
  }
  return bytes;
}

/** `GET /` is the page only for a browser; an API client asking for `/` still gets the JSON 404. */
export function isBoardRequest(method: string, path: string, headers: IncomingHttpHeaders): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  if (path === '/') return (headers.accept ?? '').toLowerCase().includes('text/html');
  return Object.hasOwn(FILES, path);
}

/** The reply for a path `isBoardRequest` accepted. */
export async function boardReply(path: string): Promise<Reply> {
  const { file, type } = FILES[path];
  return { status: 200, json: await load(file), headers: { ...PAGE_HEADERS, 'Content-Type': type } };
}
