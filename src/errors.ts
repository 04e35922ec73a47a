/**
 * Every error code an API route can answer, with its status: the OpenAPI document
 * lists them per route (RouteDef.errors plus the pipeline's own).
 */
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  INVALID_JSON: 400,
  BAD_REQUEST: 400,
  PROJECT_HAS_DEPENDENCIES: 400,
  TEMPLATE_IS_DEFAULT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  PROJECT_NOT_FOUND: 404,
  TASK_NOT_FOUND: 404,
  SESSION_NOT_FOUND: 404,
  SUBTASK_NOT_FOUND: 404,
  SKILL_NOT_FOUND: 404,
  TEMPLATE_NOT_FOUND: 404,
  NO_READY_TASK: 404,
  REQUEST_TIMEOUT: 408,
  SESSION_ENDED: 409,
  TASK_CLAIMED: 409,
  TASK_CLOSED: 409,
  TASK_NOT_READY: 409,
  VERSION_CONFLICT: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  SESSION_LIMIT: 429,
  INTERNAL_ERROR: 500,
  BUSY: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** An error that becomes an HTTP error body: `{error:true, message, code, details?}`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  readonly headers: Record<string, string> | undefined;

  constructor(status: number, code: string, message: string, details?: unknown, headers?: Record<string, string>) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
}

export const validationError = (message: string, details?: unknown) =>
  new ApiError(400, 'VALIDATION_ERROR', message, details);

const notFound = (code: string, what: string, id: string) =>
  new ApiError(404, code, `${what} not found: ${id}`, { id });

export const projectNotFound = (id: string) => notFound('PROJECT_NOT_FOUND', 'Project', id);
export const taskNotFound = (id: string) => notFound('TASK_NOT_FOUND', 'Task', id);
export const sessionNotFound = (id: string) => notFound('SESSION_NOT_FOUND', 'Session', id);
export const subtaskNotFound = (id: string) => notFound('SUBTASK_NOT_FOUND', 'Subtask', id);
export const skillNotFound = (id: string) => notFound('SKILL_NOT_FOUND', 'Skill', id);
export const templateNotFound = (id: string) => notFound('TEMPLATE_NOT_FOUND', 'Template', id);
