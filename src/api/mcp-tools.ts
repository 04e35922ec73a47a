import * as v from 'valibot';
import { validationError } from '../errors.ts';
import { ID_PATTERN } from '../ids.ts';
import { errorReply } from '../http/respond.ts';
import type { Ctx, RouteDef } from './context.ts';
import { type JsonSchema, jsonSchemaOf } from './json-schema.ts';
import { pathParams } from './openapi.ts';
import { UpdateTask } from './tasks.ts';

/**
 * An MCP tool is a route with friendlier argument names: its path parameters come
 * from the arguments named in `params`, the other arguments are the query (GET) or
 * the body, and the call goes through the same pipeline as an HTTP request.
 */
export interface ToolDef {
  name: string;
  description: string;
  method: string;
  path: string;
  /** The argument that fills each path parameter (`:id` ← `taskId`). */
  params?: Record<string, string>;
  /** Arguments of the tool's own, turned into the route's body (only complete_task: a body with fixed parts). */
  input?: { schema: v.ObjectSchema<v.ObjectEntries, undefined>; body: (args: Record<string, unknown>) => unknown };
}

const task = { id: 'taskId' };
const session = { id: 'sessionId' };
const timelineEntry = UpdateTask.entries.timeline.wrapped.item;

/** SPEC §13. Tools whose route this server does not have are not offered. */
export const TOOL_DEFS: ToolDef[] = [
  { name: 'list_projects', method: 'GET', path: '/api/projects', description: 'List all projects, oldest first.' },
  {
    name: 'list_tasks', method: 'GET', path: '/api/tasks',
    description: 'List tasks, oldest first; filter by projectId, status (comma list), parentId ("null": root tasks), ready ("true").',
  },
  { name: 'get_task', method: 'GET', path: '/api/tasks/:id', params: task, description: 'Get one task with its subtasks and timeline.' },
  { name: 'create_task', method: 'POST', path: '/api/tasks', description: 'Create a task in a project.' },
  {
    name: 'update_task', method: 'PATCH', path: '/api/tasks/:id', params: task,
    description: 'Change fields of a task; timeline entries given are appended.',
  },
  { name: 'add_subtask', method: 'POST', path: '/api/tasks/:id/subtasks', params: task, description: 'Add a subtask (a checklist item) to a task.' },
  {
    name: 'claim_task', method: 'POST', path: '/api/tasks/:id/claim', params: task,
    description: 'Claim a task for your session so no other agent takes it.',
  },
  {
    name: 'claim_next_task', method: 'POST', path: '/api/tasks/claim-next',
    description: 'Claim the next ready task of a project (priority, then oldest).',
  },
  { name: 'release_task', method: 'POST', path: '/api/tasks/:id/release', params: task, description: 'Give a claimed task back.' },
  {
    name: 'complete_task', method: 'PATCH', path: '/api/tasks/:id', params: task,
    description: 'Mark a task completed, with a task_completed event on its timeline.',
    input: {
      schema: v.pick(timelineEntry, ['sessionId', 'message']),
      body: ({ sessionId, message }) => ({
        status: 'completed', timeline: [{ type: 'task_completed', message: message ?? 'Task completed', sessionId }],
      }),
    },
  },
  {
    name: 'report', method: 'POST', path: '/api/sessions/:id/timeline', params: session,
    description: "Report progress on your session's timeline (with taskId also on that task's timeline).",
  },
  {
    name: 'heartbeat', method: 'POST', path: '/api/sessions/:id/heartbeat', params: session,
    description: "Renew your session's lease: tell the server you are alive.",
  },
  {
    name: 'list_sessions', method: 'GET', path: '/api/sessions',
    description: 'List agent sessions; filter by projectId, taskId, status, active ("true").',
  },
  {
    name: 'get_skill_prompt', method: 'GET', path: '/api/skills/prompt',
    description: 'Get the instructions (skill prompt) for a role, plus named skills.',
  },
];

export interface Tool {
  def: ToolDef;
  route: RouteDef;
  /** What tools/list shows. */
  listing: { name: string; description: string; inputSchema: JsonSchema; annotations: Record<string, boolean> };
}

/** Properties and required names of an object schema, or of every object in a union (none then required). */
function objectShape(json: JsonSchema): { properties: Record<string, JsonSchema>; required: string[] } {
  if (json.properties) return { properties: json.properties as Record<string, JsonSchema>, required: json.required ?? [] };
  const alternatives = (json.anyOf ?? json.oneOf ?? []) as JsonSchema[];
  return { properties: Object.assign({}, ...alternatives.map((a) => objectShape(a).properties)), required: [] };
}

/** The tool's JSON Schema: its path arguments, then the route's query or body schema (or the tool's own). */
function inputSchema(def: ToolDef, route: RouteDef): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const param of pathParams(def.path)) {
    const arg = def.params?.[param] ?? param;
    properties[arg] = { type: 'string', pattern: ID_PATTERN.source, description: `fills :${param} of ${def.path}` };
    required.push(arg);
  }
  const source = def.input?.schema ?? (def.method === 'GET' ? route.query : route.body);
  if (source) {
    const shape = objectShape(jsonSchemaOf(source));
    for (const name of Object.keys(shape.properties)) {
      if (name in properties) throw new Error(`tool ${def.name}: argument ${name} is both a path parameter and a field`);
    }
    Object.assign(properties, shape.properties);
    required.push(...shape.required);
  }
  return { type: 'object', properties, ...(required.length ? { required } : {}) };
}

export function buildTools(routes: RouteDef[], defs: ToolDef[] = TOOL_DEFS): Tool[] {
  const tools: Tool[] = [];
  for (const def of defs) {
    const route = routes.find((r) => r.method === def.method && r.path === def.path);
    if (!route) continue;
    const readOnly = def.method === 'GET';
    tools.push({
      def, route,
      listing: {
        name: def.name, description: def.description, inputSchema: inputSchema(def, route),
        annotations: { readOnlyHint: readOnly, destructiveHint: false, openWorldHint: false },
      },
    });
  }
  return tools;
}

const queryValue = (value: unknown) => (Array.isArray(value) ? value.join(',') : String(value));

/** The route's path with the arguments filled in; a missing one is refused like a missing body field. */
function fillPath(def: ToolDef, args: Record<string, unknown>): string {
  return def.path.replace(/:([A-Za-z0-9_]+)/g, (_, param: string) => {
    const arg = def.params?.[param] ?? param;
    const value = args[arg];
    if (typeof value !== 'string') {
      throw validationError(`${arg} is required (a string)`, { fields: [{ field: arg, message: 'must be a string' }] });
    }
    return encodeURIComponent(value);
  });
}

/** A tools/call: the route's answer as text, `isError` when it refused. */
export async function callTool(tool: Tool, args: Record<string, unknown>, ctx: Pick<Ctx, 'dispatch' | 'req' | 'services'>) {
  const { def, route } = tool;
  const pathArgs = new Set(pathParams(def.path).map((p) => def.params?.[p] ?? p));
  const rest = Object.fromEntries(Object.entries(args).filter(([name]) => !pathArgs.has(name)));
  let reply;
  try {
    const path = fillPath(def, args);
    const query = new URLSearchParams();
    if (def.method === 'GET') for (const [name, value] of Object.entries(rest)) if (value !== undefined) query.set(name, queryValue(value));
    const body = def.method === 'GET' || !route.body ? undefined : def.input ? def.input.body(rest) : rest;
    reply = await ctx.dispatch({ method: def.method, path, query, body, req: ctx.req });
  } catch (err) {
    reply = errorReply(err, ctx.services.logger);
  }
  return { content: [{ type: 'text', text: reply.json.toString() }], isError: reply.status >= 400 };
}
