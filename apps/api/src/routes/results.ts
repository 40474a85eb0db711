/** Reading results: JUnit export, test history, regressions, flaky tests, quarantine and the nightly matrix. */
import { ErrorBody, FlakyList, Matrix, QuarantineBody, QuarantineView, RegressionList, RunTrigger, TestHistory } from "@tock-hil/protocol";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { AppError, ErrorCode } from "../errors.ts";
import { listFlaky } from "../services/flaky.ts";
import { testHistory } from "../services/history.ts";
import { runJunit } from "../services/junit.ts";
import { nightlyMatrix } from "../services/matrix.ts";
import { listQuarantines, quarantineTest, releaseTest } from "../services/quarantine.ts";
import { listRegressions } from "../services/regressions.ts";

const Name = z.string().min(1).max(200);
const TestParams = z.object({ suite: Name, test: Name });

/** Which runs a view looks at. `trigger=any` spans every trigger. */
const windowQuery = (defaultRuns: number, defaultTrigger: "nightly" | "any") =>
  z.object({
    project: Name.optional().describe("Only runs of this project"),
    trigger: z
      .union([RunTrigger, z.literal("any")])
      .default(defaultTrigger)
      .describe("Only runs of this trigger; `any` for all"),
    runs: z.coerce.number().int().min(1).max(400).default(defaultRuns).describe("How many of the newest matching runs to examine"),
  });

const toWindow = (q: { project?: string | undefined; trigger: string; runs: number }) => ({
  project: q.project,
  trigger: q.trigger === "any" ? undefined : q.trigger,
  runs: q.runs,
});

export const resultRoutes: FastifyPluginAsyncZod = async (fastify) => {
  const { prisma, suites } = fastify.deps;

  fastify.get(
    "/runs/:id/junit.xml",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["results"],
        summary: "The run's results as JUnit XML (a testsuite per suite and board set)",
        params: z.object({ id: z.uuid({ message: "run id must be a UUID" }) }),
        response: { 200: z.string().describe("JUnit XML"), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const xml = await runJunit(prisma, suites, request.params.id);
      return reply
        .type("application/xml; charset=utf-8")
        .header("content-disposition", `attachment; filename="run-${request.params.id}.junit.xml"`)
        .serializer((s: string) => s)
        .send(xml);
    },
  );

  fastify.get(
    "/tests/:suite/:test/history",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["results"],
        summary: "A test's results per run and board, newest first, with pass rate and flake score per board",
        params: TestParams,
        querystring: windowQuery(60, "any").extend({
          board: Name.optional().describe("Only this board"),
          before: z.iso.datetime({ message: "before must be an ISO date-time (use nextBefore of a previous page)" }).optional(),
        }),
        response: { 200: TestHistory, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const q = request.query;
      return testHistory(prisma, suites, request.params.suite, request.params.test, {
        ...toWindow(q),
        board: q.board,
        before: q.before ? new Date(q.before) : undefined,
      });
    },
  );

  fastify.get(
    "/regressions",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["results"],
        summary: "Tests that passed and then failed on a board: first failing run (suspect commit), last passing, fixed or not",
        querystring: windowQuery(60, "nightly").extend({ state: z.enum(["active", "fixed", "all"]).default("all") }),
        response: { 200: RegressionList, 400: ErrorBody },
      },
    },
    async (request) => ({
      regressions: await listRegressions(prisma, suites, toWindow(request.query), request.query.state),
      window: request.query.runs,
    }),
  );

  fastify.get(
    "/flaky",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["results"],
        summary: "Flake score per test and board over a window of runs, highest first",
        querystring: windowQuery(30, "any").extend({
          minScore: z.coerce.number().min(0).max(1).default(0.2).describe("Leave out series scoring below this"),
        }),
        response: { 200: FlakyList, 400: ErrorBody },
      },
    },
    async (request) => ({
      flaky: await listFlaky(prisma, suites, toWindow(request.query), request.query.minScore),
      window: request.query.runs,
    }),
  );

  fastify.get(
    "/matrix",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["results"],
        summary: "The nightly matrix: (suite, test, board) rows over the last N runs, one status letter per run",
        querystring: windowQuery(30, "nightly"),
        response: { 200: Matrix, 400: ErrorBody },
      },
    },
    async (request) => nightlyMatrix(prisma, suites, toWindow(request.query)),
  );

  fastify.get(
    "/quarantine",
    {
      preHandler: fastify.requireRead,
      schema: {
        tags: ["results"],
        summary: "Quarantined tests in force",
        response: { 200: z.object({ quarantine: z.array(QuarantineView) }) },
      },
    },
    async () => ({ quarantine: await listQuarantines(prisma) }),
  );

  fastify.put(
    "/quarantine/:suite/:test",
    {
      preHandler: fastify.requireScope("trigger"),
      schema: {
        tags: ["results"],
        summary: "Quarantine a test: it keeps running and reporting, but its failures no longer fail runs",
        params: TestParams,
        body: QuarantineBody,
        response: { 200: QuarantineView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const { suite, test } = request.params;
      const known = suites.get(suite);
      if (!known || !known.tests.some((t) => t.name === test)) {
        throw unknownTest(
          suite,
          test,
          known?.tests.map((t) => t.name),
          [...suites.keys()],
        );
      }
      return quarantineTest(prisma, { suite, test, ...request.body, createdBy: request.principal?.name ?? "anonymous" });
    },
  );

  fastify.delete(
    "/quarantine/:suite/:test",
    {
      preHandler: fastify.requireScope("trigger"),
      schema: {
        tags: ["results"],
        summary: "Release a test from quarantine",
        params: TestParams,
        response: { 204: z.null(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await releaseTest(prisma, request.params.suite, request.params.test);
      return reply.status(204).send(null);
    },
  );
};

function unknownTest(suite: string, test: string, tests: string[] | undefined, known: string[]) {
  return new AppError(
    ErrorCode.NOT_FOUND,
    tests
      ? `suite ${suite} has no test ${test}; its tests: ${tests.join(", ")}`
      : `unknown suite ${suite}; known suites: ${known.join(", ")}`,
  );
}
