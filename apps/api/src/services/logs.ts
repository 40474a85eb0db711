/**
 * Serial logs of a job's boards merged into one stream. Runners stamp nothing, so the one clock all boards share
 * is the API's: each chunk records when it was stored (SerialChunk.receivedAt), and lines are ordered by the
 * arrival of the chunk that completed them (then by role and offset). Runners upload every ~few hundred ms,
 * so lines of different boards within one upload interval may appear in either order; lines of one board are
 * always in order. The cursor is the byte offset reached on each role, always at a line boundary, so a partial
 * line is sent only once it is complete (or the attempt has ended).
 */
import type { LogLine, MergedLog } from "@tock-hil/protocol";
import type { Db } from "../db.ts";
import { AppError, ErrorCode, notFound } from "../errors.ts";

/** Bytes read per role and request: bounds the response of a long log; the cursor continues from there. */
const MAX_BYTES_PER_ROLE = 256 * 1024;

type Cursor = Record<string, number>;

export function decodeLogCursor(cursor: string | undefined): Cursor {
  if (!cursor) return {};
  try {
    const parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (parsed && typeof parsed === "object" && Object.values(parsed).every((v) => Number.isInteger(v) && (v as number) >= 0)) {
      return parsed as Cursor;
    }
  } catch {
    // fall through to the 400 below
  }
  throw new AppError(ErrorCode.VALIDATION, "cursor is not valid; pass the cursor of a previous response unchanged");
}
const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString("base64url");

/** The attempt a job's log view shows: the given number, or the newest one. */
export async function jobAttempt(db: Db, jobId: string, number?: number) {
  const job = await db.job.findUnique({
    where: { id: jobId },
    select: { id: true, attempts: { orderBy: { number: "desc" }, select: { id: true, number: true, status: true } } },
  });
  if (!job) throw notFound("job", jobId);
  if (number === undefined) return job.attempts[0] ?? null;
  const attempt = job.attempts.find((a) => a.number === number);
  if (!attempt) {
    throw new AppError(
      ErrorCode.NOT_FOUND,
      `job ${jobId} has no attempt ${number}; it has ${job.attempts.map((a) => a.number).join(", ") || "none yet"}`,
    );
  }
  return attempt;
}

type Chunk = { offset: number; data: Uint8Array; receivedAt: Date };

export async function readMergedLog(db: Db, jobId: string, options: { attempt?: number | undefined; cursor?: string }): Promise<MergedLog> {
  const cursor = decodeLogCursor(options.cursor);
  const attempt = await jobAttempt(db, jobId, options.attempt);
  if (!attempt) return { attemptId: null, attempt: 0, running: false, lines: [], cursor: encodeCursor(cursor) };
  const running = attempt.status === "running";
  const logs = await db.serialLog.findMany({
    where: { attemptId: attempt.id },
    orderBy: { role: "asc" },
    select: { id: true, role: true, size: true, board: { select: { name: true } } },
  });
  const lines: (LogLine & { at: number })[] = [];
  const next: Cursor = { ...cursor };
  for (const log of logs) {
    const from = cursor[log.role] ?? 0;
    if (from >= log.size) continue;
    // Chunks overlapping [from, from + MAX): the one containing `from` starts at the greatest offset <= from.
    const chunks = await db.$queryRaw<Chunk[]>`
      SELECT "offset", data, "receivedAt" FROM "SerialChunk"
      WHERE "logId" = ${log.id}::uuid
        AND "offset" >= COALESCE((SELECT max("offset") FROM "SerialChunk" WHERE "logId" = ${log.id}::uuid AND "offset" <= ${from}), 0)
        AND "offset" < ${from + MAX_BYTES_PER_ROLE}
      ORDER BY "offset"`;
    if (chunks.length === 0) continue;
    const base = chunks[0]!.offset;
    const bytes = Buffer.concat(chunks.map((c) => Buffer.from(c.data))).subarray(from - base);
    // Arrival time of the byte at a log offset: that of the chunk holding it. Offsets asked for only grow.
    let ci = 0;
    const timeAt = (offset: number) => {
      while (ci + 1 < chunks.length && chunks[ci + 1]!.offset <= offset) ci++;
      return chunks[ci]!.receivedAt;
    };
    let start = 0;
    const board = log.board?.name ?? log.role;
    for (;;) {
      const nl = bytes.indexOf(0x0a, start);
      // An unterminated tail is held back while the board may still complete it.
      const end = nl === -1 ? (running ? -1 : bytes.length) : nl + 1;
      if (end === -1 || end <= start) break;
      const offset = from + start;
      const t = timeAt(from + end - 1);
      lines.push({
        t: t.toISOString(),
        at: t.getTime(),
        role: log.role,
        board,
        offset,
        text: bytes
          .subarray(start, end)
          .toString("utf8")
          .replace(/\r?\n$/, ""),
      });
      start = end;
    }
    next[log.role] = from + start;
  }
  lines.sort((a, b) => a.at - b.at || a.role.localeCompare(b.role) || a.offset - b.offset);
  return {
    attemptId: attempt.id,
    attempt: attempt.number,
    running,
    lines: lines.map(({ at: _at, ...l }) => l),
    cursor: encodeCursor(next),
  };
}

/** Whether an attempt is still running (a tail ends once it is not and everything was sent). */
export async function attemptRunning(db: Db, attemptId: string): Promise<boolean> {
  const a = await db.attempt.findUnique({ where: { id: attemptId }, select: { status: true } });
  if (!a) throw notFound("attempt", attemptId);
  return a.status === "running";
}

/** Size of one role's log of an attempt (0 before its first chunk). */
export async function logSize(db: Db, attemptId: string, role: string): Promise<number> {
  const log = await db.serialLog.findUnique({ where: { attemptId_role: { attemptId, role } }, select: { size: true } });
  return log?.size ?? 0;
}
