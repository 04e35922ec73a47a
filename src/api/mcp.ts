import * as v from 'valibot';
import { ApiError } from '../errors.ts';
import { parseJson } from '../http/body.ts';
import type { Reply } from '../http/respond.ts';
import { VERSION } from '../version.ts';
import type { Ctx, RouteDef } from './context.ts';
import { buildTools, callTool, type Tool } from './mcp-tools.ts';
import { jsonObject } from './schemas.ts';

/** Newest first: an unknown version asked for in `initialize` gets the newest. */
export const PROTOCOL_VERSIONS = ['2025-06-18', '2025-03-26'];

const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;
const METHOD_NOT_FOUND = -32601;
const INVALID_PARAMS = -32602;

const RequestId = v.union([v.string(), v.number()]);
const JsonRpcMessage = v.object({
  jsonrpc: v.literal('2.0'),
  method: v.string(),
  id: v.optional(RequestId),
  params: v.optional(jsonObject),
});
/** A client's answer to a server request; a stateless server never asks, so these are taken and ignored. */
const JsonRpcResponse = v.object({ jsonrpc: v.literal('2.0'), id: RequestId });
const isClientResponse = (m: unknown) => v.is(JsonRpcResponse, m) && ('result' in m || 'error' in m);
const Initialize = v.object({ protocolVersion: v.string() });
const ToolCall = v.object({ name: v.string(), arguments: v.optional(jsonObject, {}) });

const JsonRpcAnswer = v.object({
  jsonrpc: v.literal('2.0'),
  id: v.nullable(RequestId),
  result: v.optional(v.unknown()),
  error: v.optional(v.object({ code: v.number(), message: v.string() })),
});

type Id = v.InferOutput<typeof RequestId> | null;
type Answer = v.InferOutput<typeof JsonRpcAnswer>;

const result = (id: Id, value: unknown): Answer => ({ jsonrpc: '2.0', id, result: value });
const failure = (id: Id, code: number, message: string): Answer => ({ jsonrpc: '2.0', id, error: { code, message } });

const idOf = (message: unknown): Id => {
  const id = (message as { id?: unknown } | null)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
};

const INSTRUCTIONS = 'Maestro coordinates AI coding agents: projects hold tasks, agents work in sessions. '
  + 'Find work with list_tasks or claim_next_task, report progress with report, finish with complete_task.';

/** One JSON-RPC message → its answer, or `undefined` for a notification or a client's response. */
async function answer(message: unknown, tools: Map<string, Tool>, ctx: Ctx): Promise<Answer | undefined> {
  const parsed = v.safeParse(JsonRpcMessage, message);
  if (!parsed.success) {
    return isClientResponse(message) ? undefined : failure(idOf(message), INVALID_REQUEST, 'Invalid JSON-RPC 2.0 request');
  }
  const { id, method, params = {} } = parsed.output;
  if (id === undefined) return undefined;
  switch (method) {
    case 'initialize': {
      if (!v.is(Initialize, params)) return failure(id, INVALID_PARAMS, 'initialize needs params.protocolVersion');
      const protocolVersion = PROTOCOL_VERSIONS.includes(params.protocolVersion) ? params.protocolVersion : PROTOCOL_VERSIONS[0];
      return result(id, {
        protocolVersion,
        capabilities: { tools: { listChanged: false } },
        serverInfo: { name: 'maestro-server', title: 'Maestro Server', version: VERSION },
        instructions: INSTRUCTIONS,
      });
    }
    case 'ping':
      return result(id, {});
    case 'tools/list':
      return result(id, { tools: [...tools.values()].map((t) => t.listing) });
    case 'tools/call': {
      const call = v.safeParse(ToolCall, params);
      if (!call.success) return failure(id, INVALID_PARAMS, 'tools/call needs params.name and an object params.arguments');
      const tool = tools.get(call.output.name);
      if (!tool) return failure(id, INVALID_PARAMS, `Unknown tool: ${call.output.name}`);
      return result(id, await callTool(tool, call.output.arguments, ctx));
    }
    default:
      return failure(id, METHOD_NOT_FOUND, `Method not found: ${method}`);
  }
}

const jsonRpcReply = (status: number, body: unknown): Reply => ({ status, json: JSON.stringify(body) });
/** Notifications and responses only: accepted, nothing to answer. */
const ACCEPTED: Reply = { status: 202, json: '' };

/** POST /mcp: stateless Streamable HTTP, every answer `application/json` (SPEC §13). */
async function handleMcp(ctx: Ctx, tools: Map<string, Tool>): Promise<Reply> {
  const version = ctx.req.headers['mcp-protocol-version'];
  if (typeof version === 'string' && !PROTOCOL_VERSIONS.includes(version)) {
    return jsonRpcReply(400, failure(null, INVALID_REQUEST, `Unsupported MCP-Protocol-Version: ${version}`));
  }
  if (ctx.body === undefined) return jsonRpcReply(400, failure(null, INVALID_REQUEST, 'Empty body: send a JSON-RPC message'));
  let message: unknown;
  try {
    message = parseJson(ctx.body as string);
  } catch (err) {
    return jsonRpcReply(400, failure(null, PARSE_ERROR, (err as ApiError).message));
  }
  if (!Array.isArray(message)) {
    const one = await answer(message, tools, ctx);
    return one === undefined ? ACCEPTED : jsonRpcReply(one.error?.code === INVALID_REQUEST ? 400 : 200, one);
  }
  // A batch (protocol 2025-03-26): answered in order, in one array.
  if (message.length === 0) return jsonRpcReply(400, failure(null, INVALID_REQUEST, 'Empty batch'));
  const answers: Answer[] = [];
  for (const m of message) {
    const one = await answer(m, tools, ctx);
    if (one) answers.push(one);
  }
  return answers.length ? jsonRpcReply(200, answers) : ACCEPTED;
}

/** The MCP route; its tools are built once, from the routes given. */
export function mcpRoute(routes: RouteDef[]): RouteDef {
  const tools = new Map(buildTools(routes).map((t) => [t.def.name, t]));
  return {
    method: 'POST', path: '/mcp', rpc: true,
    summary: 'Model Context Protocol (Streamable HTTP, stateless, JSON answers): initialize, ping, tools/list, tools/call',
    body: v.union([JsonRpcMessage, v.array(JsonRpcMessage)]), query: null,
    response: {
      status: 200, description: 'The JSON-RPC answer (or answers, to a batch)',
      schema: v.union([JsonRpcAnswer, v.array(JsonRpcAnswer)]),
      others: [
        { status: 202, description: 'Notifications and responses only: accepted, no body' },
        { status: 400, description: 'Not JSON (-32700), not JSON-RPC 2.0 (-32600), or an unsupported MCP-Protocol-Version', schema: JsonRpcAnswer },
      ],
    },
    errors: [],
    handler: (ctx) => handleMcp(ctx, tools),
  };
}
