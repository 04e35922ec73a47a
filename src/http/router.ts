import { ApiError } from '../errors.ts';
import { isValidId } from '../ids.ts';

type Segment = string | { param: string };

interface Route<H> {
  pattern: string;
  segments: Segment[];
  handlers: Map<string, H>;
  /** Params are checked against the id pattern unless the route says otherwise. */
  rawParams: boolean;
}

export type Match<H> =
  | { handler: H; params: Record<string, string>; pattern: string }
  | { allow: string[] };

const splitPath = (path: string) => path.split('/').filter(Boolean);

/**
 * A tiny router: patterns like `/api/tasks/:id`, exact segment counts, static
 * segments beat parameters (so `POST /api/sessions/spawn` is never read as an id), and
 * a path that exists with another method gives its `Allow` list for a 405.
 */
export class Router<H> {
  private readonly byLength = new Map<number, Route<H>[]>();
  private readonly byPattern = new Map<string, Route<H>>();

  on(method: string, pattern: string, handler: H, options: { rawParams?: boolean } = {}) {
    let route = this.byPattern.get(pattern);
    if (!route) {
      const segments = splitPath(pattern).map((s) => (s.startsWith(':') ? { param: s.slice(1) } : s));
      route = { pattern, segments, handlers: new Map(), rawParams: options.rawParams ?? false };
      this.byPattern.set(pattern, route);
      const list = this.byLength.get(segments.length) ?? [];
      list.push(route);
      this.byLength.set(segments.length, list);
    }
    route.handlers.set(method, handler);
    return this;
  }

  match(method: string, path: string): Match<H> | undefined {
    const parts = splitPath(path);
    // The most static route that has the method wins; a static route without it never
    // hides a parameter route that has it (a session with id `spawn` stays reachable).
    let best: Route<H> | undefined;
    let bestScore = -1;
    let bestWithMethod: { route: Route<H>; handler: H } | undefined;
    let bestWithMethodScore = -1;
    for (const route of this.byLength.get(parts.length) ?? []) {
      const score = staticScore(route.segments, parts);
      if (score > bestScore) { best = route; bestScore = score; }
      const handler = route.handlers.get(method) ?? (method === 'HEAD' ? route.handlers.get('GET') : undefined);
      if (handler && score > bestWithMethodScore) { bestWithMethod = { route, handler }; bestWithMethodScore = score; }
    }
    if (!best) return undefined;
    if (!bestWithMethod) return { allow: [...best.handlers.keys()] };
    const { route, handler } = bestWithMethod;
    return { handler, params: readParams(route, parts), pattern: route.pattern };
  }
}

/** -1 when the route does not match; otherwise a bitmask, earlier static segments weigh more. */
function staticScore(segments: Segment[], parts: string[]): number {
  let score = 0;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    score *= 2;
    if (typeof seg === 'string') {
      if (seg !== parts[i]) return -1;
      score += 1;
    }
  }
  return score;
}

function readParams<H>(route: Route<H>, parts: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  route.segments.forEach((seg, i) => {
    if (typeof seg === 'string') return;
    let value: string;
    try {
      value = decodeURIComponent(parts[i]);
    } catch {
      throw new ApiError(400, 'VALIDATION_ERROR', `Malformed path parameter ${seg.param}`, { field: seg.param });
    }
    if (!route.rawParams && !isValidId(value)) {
      throw new ApiError(400, 'VALIDATION_ERROR', `${seg.param} must match [A-Za-z0-9_-]{1,128}`, { field: seg.param });
    }
    params[seg.param] = value;
  });
  return params;
}
