import { describe, expect, it } from "vitest";
import { AppError, ErrorCode, isDatabaseUnavailable } from "./errors.ts";

describe("isDatabaseUnavailable", () => {
  it("recognises a lost or refused connection from pg, from Prisma's driver adapter and from the socket", () => {
    const pgKilled = Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" });
    const prismaKilled = Object.assign(new Error("Invalid `tx.serialLog.upsert()` invocation"), {
      code: "P2039",
      meta: { driverAdapterError: { name: "DriverAdapterError", cause: { kind: "postgres", originalCode: "57P01" } } },
    });
    const closed = Object.assign(new Error("x"), { meta: { driverAdapterError: { cause: { kind: "ConnectionClosed" } } } });
    const refused = new Error("connect failed", {
      cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }),
    });
    for (const err of [
      pgKilled,
      prismaKilled,
      closed,
      refused,
      Object.assign(new Error("connection failure"), { code: "08006" }),
      Object.assign(new Error("too many clients"), { code: "53300" }),
      Object.assign(new Error("Can't reach database server"), { code: "P1001" }),
      new Error("Connection terminated unexpectedly"),
      new Error("Client has encountered a connection error and is not queryable"),
      Object.assign(new Error(`database "hil" is not currently accepting connections`), { code: "55000" }),
    ]) {
      expect(isDatabaseUnavailable(err), err.message).toBe(true);
    }
  });

  it("leaves errors of the request or of our code alone", () => {
    for (const err of [
      Object.assign(new Error("duplicate key value violates unique constraint"), { code: "23505" }),
      Object.assign(new Error("Unique constraint failed"), { code: "P2002", meta: { target: ["id"] } }),
      Object.assign(new Error("syntax error at or near"), { code: "42601" }),
      new AppError(ErrorCode.NOT_FOUND, "run x does not exist"),
      new TypeError("Cannot read properties of undefined"),
      "a string",
      null,
    ]) {
      expect(isDatabaseUnavailable(err)).toBe(false);
    }
  });

  it("does not loop on an error that is its own cause", () => {
    const err = new Error("odd") as Error & { cause?: unknown };
    err.cause = err;
    expect(isDatabaseUnavailable(err)).toBe(false);
  });
});
