/** The API process's logger: pino JSON, pretty only on a terminal, secrets redacted. */
import { pino } from "pino";
import type { Logger, LoggerOptions } from "pino";

export function loggerOptions(level: string, name: string): LoggerOptions {
  return {
    name,
    level,
    redact: {
      paths: ["req.headers.authorization", "*.token", "*.registrationToken", 'req.headers["x-hub-signature-256"]'],
      censor: "[redacted]",
    },
    ...(process.stdout.isTTY
      ? { transport: { target: "pino-pretty", options: { translateTime: "HH:MM:ss.l", ignore: "pid,hostname" } } }
      : {}),
  };
}

/**
 * JSON lines go to stdout asynchronously: a line is written at once when stdout is idle, and lines logged while a
 * write is in flight go out together in the next one. Under load (two log lines per job at a thousand jobs a
 * second) a synchronous write per line was several per cent of the API's CPU. pino flushes what is buffered when
 * the process exits (not on SIGKILL), so the shutdown and fatal lines are not lost.
 */
export function createLogger(level: string, name: string): Logger {
  const options = loggerOptions(level, name);
  if (options.transport) return pino(options);
  // Bounded: if whatever reads stdout stalls, lines beyond 16 MiB are dropped rather than held until memory runs out.
  return pino(options, pino.destination({ dest: 1, sync: false, maxLength: 16 * 1024 * 1024 }));
}
