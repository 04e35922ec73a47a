import * as v from 'valibot';
import { KEY_PATTERN } from '../http/idempotency.ts';
import { ID_PATTERN } from '../ids.ts';
import { PRIORITIES, SESSION_STATUSES, STRATEGIES, TASK_SESSION_STATUSES, TASK_STATUSES } from '../types.ts';
import { describedAs } from './json-schema.ts';

const TIMELINE_TYPE = /^[a-z][a-z0-9_]{0,63}$/;

// trim() and \S agree on what white space is (ECMAScript WhiteSpace and LineTerminator).
export const nonEmptyString = v.pipe(v.string(), describedAs(v.check((s: string) => s.trim().length > 0, 'must not be empty'), { pattern: '\\S' }));
export const id = v.pipe(v.string(), v.regex(ID_PATTERN, 'must match [A-Za-z0-9_-]{1,128}'));
export const idList = v.array(id);
export const nameList = v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(128)));
/** `pending` is an input synonym of `todo` (SPEC §1). */
export const taskStatusInput = (s: string) => (s === 'pending' ? 'todo' : s);
export const taskStatus = v.pipe(
  v.picklist([...TASK_STATUSES, 'pending']),
  v.transform((s) => taskStatusInput(s) as (typeof TASK_STATUSES)[number]),
);
export const priority = v.picklist(PRIORITIES);
export const sessionStatus = v.picklist(SESSION_STATUSES);
export const strategy = v.picklist(STRATEGIES);
export const taskSessionStatus = v.nullable(v.picklist(TASK_SESSION_STATUSES));
export const timelineType = v.pipe(v.string(), v.regex(TIMELINE_TYPE, 'must match ^[a-z][a-z0-9_]{0,63}$'));
// valibot's record() takes an array for an object with keys "0", "1", …: refuse arrays first.
const plainObject = () => v.custom<Record<string, unknown>>(
  (x) => typeof x === 'object' && x !== null && !Array.isArray(x), 'must be a JSON object');
export const jsonObject = v.pipe(describedAs(plainObject(), { type: 'object' }), v.record(v.string(), v.unknown()));
export const stringMap = v.pipe(
  describedAs(plainObject(), { type: 'object', additionalProperties: { type: 'string' } }), v.record(v.string(), v.string()));

/** A query parameter: always an optional string; the description goes into the OpenAPI document and MCP tools. */
export const queryParam = (description: string) => v.optional(v.pipe(v.string(), v.description(description)));

/** SPEC §11: a body's idempotency key (the request pipeline acts on it; here it is described and checked). */
export const clientRequestId = v.optional(v.pipe(v.string(), v.regex(KEY_PATTERN, 'must be 1-255 printable ASCII characters')));

export const timelineEntry = (defaultType: string) =>
  v.object({
    type: v.optional(timelineType, defaultType),
    message: v.optional(v.string()),
    sessionId: v.optional(id),
    taskId: v.optional(id),
  });
