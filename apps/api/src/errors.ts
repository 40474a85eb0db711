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
  /** Postgres could not be reached or dropped the connection mid-request; nothing of the request was kept. */
  DATABASE_UNAVAILABLE: "DATABASE_UNAVAILABLE",
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
  DATABASE_UNAVAILABLE: 503,
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

/** SQLSTATEs of a lost or refused connection: class 08 and the server shutting down, starting up or full. */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[1-3]|53300)$/;
/** Prisma's driver-adapter kinds and engine codes for the same, and the socket errors underneath. */
const UNAVAILABLE_KINDS = new Set(["ConnectionClosed", "DatabaseNotReachable", "SocketTimeout", "TooManyConnections"]);
const UNAVAILABLE_PRISMA = new Set(["P1001", "P1002", "P1017", "P2024"]);
const UNAVAILABLE_SOCKET = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"]);
/**
 * What pg says of a connection that died under a query (it has no SQLSTATE then), and what Postgres says of a
 * database locked for maintenance (ALLOW_CONNECTIONS false, SQLSTATE 55000, a class shared with other errors).
 */
const UNAVAILABLE_MESSAGE =
  /Connection terminated|not queryable|Client was closed|Connection ended|is not currently accepting connections/i;

/**
 * Whether `err` (a pg error, a Prisma error or one wrapping either) means Postgres was unreachable or dropped the
 * connection, rather than that the request or our code was wrong. Such a request failed as a whole (its
 * transaction rolled back with the connection) and can be sent again as it was: the error handler answers 503
 * so runners and scripts retry, instead of a 500 that reads as a bug.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0) {
    const e = queue.shift();
    if (typeof e !== "object" || e === null || seen.has(e)) continue;
    seen.add(e);
    const o = e as { code?: unknown; originalCode?: unknown; kind?: unknown; message?: unknown; cause?: unknown; meta?: unknown };
    for (const code of [o.code, o.originalCode]) {
      if (typeof code !== "string") continue;
      if (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_PRISMA.has(code) || UNAVAILABLE_SOCKET.has(code)) return true;
    }
    if (typeof o.kind === "string" && UNAVAILABLE_KINDS.has(o.kind)) return true;
    if (typeof o.message === "string" && UNAVAILABLE_MESSAGE.test(o.message)) return true;
    queue.push(o.cause, (o.meta as { driverAdapterError?: unknown } | undefined)?.driverAdapterError);
  }
  return false;
}
