import type { ServerResponse } from 'node:http';
import { ApiError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** What a handler answers: a status and a JSON text (or its bytes, when cached), with an ETag for single entities. */
export interface Reply {
  status: number;
  json: string | Buffer;
  headers?: Record<string, string>;
  /** A long-lived answer (the event feed) that writes the response itself, given the headers it must carry. */
  stream?: (res: ServerResponse, headers: Record<string, string>) => void;
}

export function send(res: ServerResponse, reply: Reply, extraHeaders: Record<string, string> = {}) {
  if (res.headersSent) return;
  if (reply.stream) return reply.stream(res, extraHeaders);
  const body = typeof reply.json === 'string' ? Buffer.from(reply.json) : reply.json;
  res.writeHead(reply.status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
    ...extraHeaders,
    ...reply.headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export function errorReply(err: unknown, logger: Logger): Reply {
  if (err instanceof ApiError) {
    const body: Record<string, unknown> = { error: true, message: err.message, code: err.code };
    if (err.details !== undefined) body.details = err.details;
    return { status: err.status, json: JSON.stringify(body), headers: err.headers };
  }
  logger.error(`unexpected error: ${(err as Error)?.stack ?? String(err)}`);
  return {
    status: 500,
    json: JSON.stringify({ error: true, message: 'Internal server error', code: 'INTERNAL_ERROR' }),
  };
}
