/** pino options shared by the API processes: JSON, pretty only on a terminal, secrets redacted. */
import type { LoggerOptions } from "pino";

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
