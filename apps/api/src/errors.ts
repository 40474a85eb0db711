/**
 * Typed errors with stable codes. Services throw these; the one error handler in app.ts turns them into
 * `{ error: { code, message } }` with the status below. Anything else is a 500 whose message is hidden.
 */
export const ErrorCode = {
  VALIDATION: "VALIDATION",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  /** A log chunk does not continue the stored log; the response says which offset is expected. */
  LOG_GAP: "LOG_GAP",
  /** The attempt is no longer running (finished, cancelled or given up); the runner must stop it. */
  ATTEMPT_NOT_RUNNING: "ATTEMPT_NOT_RUNNING",
  /** Nothing can run what was asked: unknown suite, board type nobody has, firmware never uploaded. */
  UNSATISFIABLE: "UNSATISFIABLE",
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  NOT_READY: "NOT_READY",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const statusOf: Record<ErrorCode, number> = {
  VALIDATION: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  LOG_GAP: 409,
  ATTEMPT_NOT_RUNNING: 409,
  UNSATISFIABLE: 422,
  PAYLOAD_TOO_LARGE: 413,
  NOT_READY: 503,
};

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.statusCode = statusOf[code];
    this.details = details;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export const notFound = (what: string, id: string) => new AppError(ErrorCode.NOT_FOUND, `${what} ${id} does not exist`);
