/**
 * Projects: which GitHub repositories feed a project, the suites and boards its runs use, the path filters that
 * narrow a change to the suites it can affect, and its nightly schedule. Managed over REST or, for projects listed
 * in HIL_PROJECTS_FILE, from that committed file (which wins at every start).
 */
import { readFile } from "node:fs/promises";
import { CronExpressionParser } from "cron-parser";
import { z } from "zod";
import { Prisma } from "../db.ts";
import type { Db } from "../db.ts";
import { AppError, ErrorCode, notFound } from "../errors.ts";
import type { PathFilter } from "../github/paths.ts";
import type { SuiteCatalog } from "../suites.ts";

const Name = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "may contain only letters, digits, '.', '_' and '-'");
const Repository = z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'must be "owner/repo"');

export const PathFilterBody = z
  .object({
    paths: z.array(z.string().min(1)).min(1).describe("Globs over repository paths: ** any directories, * within one segment"),
    suites: z.array(Name).min(1).describe("Suites a change touching one of the paths runs"),
  })
  .strict();

export const NightlyBody = z
  .object({
    cron: z.string().min(1).describe("Cron pattern (5 fields, or 6 with seconds), e.g. '30 2 * * *'"),
    timezone: z.string().min(1).default("UTC").describe("IANA time zone of the pattern, e.g. Europe/Berlin"),
    branch: z.string().min(1).default("main").describe("Branch the nightly tests; skipped when it has not moved"),
  })
  .strict();

/** The settable fields; no defaults here so PATCH can tell "not given" from "set". */
const ProjectFields = z
  .object({
    repositories: z.array(Repository).describe('GitHub repositories ("owner/repo") whose events start runs'),
    suites: z.array(Name).describe("Suites of a run when nothing narrows it; empty: every suite"),
    boards: z.array(Name).describe("Board types runs are limited to; empty: whatever the suites need"),
    pathFilters: z.array(PathFilterBody).describe("Select suites from the files a push or pull request touches"),
    approvalLabel: z.string().min(1).max(50).describe("Label that lets a fork pull request run"),
    firmwareWorkflow: z
      .string()
      .min(1)
      .nullable()
      .describe("CI workflow that uploads the firmware; runs wait for it to complete for their commit"),
    issueRepository: Repository.nullable().describe("Where regression issues are opened; default: the first repository"),
    nightly: NightlyBody.nullable().describe("Nightly schedule; null: none"),
  })
  .strict();

export const CreateProjectBody = ProjectFields.partial().extend({ name: Name }).strict();
export type CreateProjectBody = z.infer<typeof CreateProjectBody>;
export const UpdateProjectBody = ProjectFields.partial().strict();
export type UpdateProjectBody = z.infer<typeof UpdateProjectBody>;

/** The committed file: `{ "projects": [ ...CreateProjectBody ] }`. */
export const ProjectsFile = z.object({ projects: z.array(CreateProjectBody) }).strict();

export const ProjectView = z.object({
  name: z.string(),
  repositories: z.array(z.string()),
  suites: z.array(z.string()),
  boards: z.array(z.string()),
  pathFilters: z.array(z.object({ paths: z.array(z.string()), suites: z.array(z.string()) })),
  approvalLabel: z.string(),
  firmwareWorkflow: z.string().nullable(),
  issueRepository: z.string().nullable(),
  nightly: z
    .object({
      cron: z.string(),
      timezone: z.string(),
      branch: z.string(),
      lastSha: z.string().nullable().describe("Commit the last nightly run tested"),
      lastAt: z.string().nullable().describe("When the schedule last fired (ran or skipped)"),
    })
    .nullable(),
  managedBy: z.enum(["api", "file"]),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ProjectView = z.infer<typeof ProjectView>;

export type ProjectRow = Prisma.ProjectGetPayload<object>;

export const pathFiltersOf = (p: ProjectRow): PathFilter[] => (p.pathFilters as PathFilter[] | null) ?? [];

export function projectView(p: ProjectRow): ProjectView {
  return {
    name: p.name,
    repositories: p.repositories,
    suites: p.suites,
    boards: p.boards,
    pathFilters: pathFiltersOf(p),
    approvalLabel: p.approvalLabel,
    firmwareWorkflow: p.firmwareWorkflow,
    issueRepository: p.issueRepository,
    nightly: p.nightlyCron
      ? {
          cron: p.nightlyCron,
          timezone: p.nightlyTimezone,
          branch: p.nightlyBranch,
          lastSha: p.lastNightlySha,
          lastAt: p.lastNightlyAt?.toISOString() ?? null,
        }
      : null,
    managedBy: p.managedBy === "file" ? "file" : "api",
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}

/** Checks names against the catalog and the schedule against cron-parser; throws a 400 saying what to fix. */
function validate(catalog: SuiteCatalog, name: string, fields: UpdateProjectBody): void {
  const known = [...catalog.keys()];
  const named = [...(fields.suites ?? []), ...(fields.pathFilters ?? []).flatMap((f) => f.suites)];
  const unknown = [...new Set(named.filter((s) => !catalog.has(s)))];
  if (unknown.length > 0) {
    throw new AppError(ErrorCode.VALIDATION, `project ${name}: unknown suite(s) ${unknown.join(", ")}; known suites: ${known.join(", ")}`);
  }
  if (fields.nightly) {
    try {
      new Intl.DateTimeFormat("en", { timeZone: fields.nightly.timezone });
    } catch {
      throw new AppError(
        ErrorCode.VALIDATION,
        `project ${name}: nightly.timezone ${fields.nightly.timezone} is not an IANA time zone (e.g. UTC, Europe/Berlin)`,
      );
    }
    try {
      CronExpressionParser.parse(fields.nightly.cron, { tz: fields.nightly.timezone }).next();
    } catch (err) {
      throw new AppError(
        ErrorCode.VALIDATION,
        `project ${name}: nightly.cron '${fields.nightly.cron}' is not a cron pattern (${(err as Error).message}); e.g. '30 2 * * *'`,
      );
    }
  }
}

function toData(fields: UpdateProjectBody): Prisma.ProjectUpdateInput {
  const data: Prisma.ProjectUpdateInput = {};
  if (fields.repositories !== undefined) data.repositories = [...new Set(fields.repositories)];
  if (fields.suites !== undefined) data.suites = fields.suites;
  if (fields.boards !== undefined) data.boards = fields.boards;
  if (fields.pathFilters !== undefined) data.pathFilters = fields.pathFilters.length > 0 ? fields.pathFilters : Prisma.DbNull;
  if (fields.approvalLabel !== undefined) data.approvalLabel = fields.approvalLabel;
  if (fields.firmwareWorkflow !== undefined) data.firmwareWorkflow = fields.firmwareWorkflow;
  if (fields.issueRepository !== undefined) data.issueRepository = fields.issueRepository;
  if (fields.nightly !== undefined) {
    data.nightlyCron = fields.nightly?.cron ?? null;
    if (fields.nightly) {
      data.nightlyTimezone = fields.nightly.timezone;
      data.nightlyBranch = fields.nightly.branch;
    }
  }
  return data;
}

export async function listProjects(db: Db): Promise<ProjectRow[]> {
  return db.project.findMany({ orderBy: { name: "asc" } });
}

export async function getProject(db: Db, name: string): Promise<ProjectRow> {
  const p = await db.project.findUnique({ where: { name } });
  if (!p) throw notFound("project", name);
  return p;
}

export async function createProject(db: Db, catalog: SuiteCatalog, body: CreateProjectBody): Promise<ProjectRow> {
  validate(catalog, body.name, body);
  const { name, ...fields } = body;
  try {
    return await db.project.create({ data: { ...(toData(fields) as Omit<Prisma.ProjectCreateInput, "name">), name } });
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
      throw new AppError(ErrorCode.CONFLICT, `project ${name} already exists; change it with PATCH /api/v1/projects/${name}`);
    }
    throw err;
  }
}

function assertApiManaged(p: ProjectRow): void {
  if (p.managedBy === "file") {
    throw new AppError(
      ErrorCode.CONFLICT,
      `project ${p.name} comes from HIL_PROJECTS_FILE, which wins at every start; edit the file and restart instead`,
    );
  }
}

export async function updateProject(db: Db, catalog: SuiteCatalog, name: string, body: UpdateProjectBody): Promise<ProjectRow> {
  assertApiManaged(await getProject(db, name));
  validate(catalog, name, body);
  return db.project.update({ where: { name }, data: toData(body) });
}

/** Deleting a project deletes its runs (and their results), so a project with runs needs `deleteRuns`. */
export async function deleteProject(db: Db, name: string, deleteRuns: boolean): Promise<void> {
  const p = await getProject(db, name);
  assertApiManaged(p);
  const runs = await db.run.count({ where: { projectId: p.id } });
  if (runs > 0 && !deleteRuns) {
    throw new AppError(
      ErrorCode.CONFLICT,
      `project ${name} has ${runs} run(s) whose results would be deleted with it; pass ?deleteRuns=true, or PATCH it to remove its repositories and schedule`,
    );
  }
  await db.project.delete({ where: { id: p.id } });
}

/** Projects listing `repo` (GitHub names are case-insensitive). */
export async function projectsForRepository(db: Db, repo: string): Promise<ProjectRow[]> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT id FROM "Project" WHERE EXISTS (SELECT 1 FROM unnest(repositories) r WHERE lower(r) = lower(${repo}))`;
  if (rows.length === 0) return [];
  return db.project.findMany({ where: { id: { in: rows.map((r) => r.id) } }, orderBy: { name: "asc" } });
}

/**
 * Creates or updates the projects of the committed file and marks them file-managed. Projects that left the file
 * go back to being managed over REST (nothing is deleted: their runs stay).
 */
export async function loadProjectsFile(db: Db, catalog: SuiteCatalog, path: string): Promise<string[]> {
  let parsed: z.infer<typeof ProjectsFile>;
  try {
    const result = ProjectsFile.safeParse(JSON.parse(await readFile(path, "utf8")));
    if (!result.success) {
      throw new Error(result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    }
    parsed = result.data;
  } catch (err) {
    throw new Error(`HIL_PROJECTS_FILE ${path} is not valid: ${(err as Error).message}`, { cause: err });
  }
  const names: string[] = [];
  for (const entry of parsed.projects) {
    const { name, ...fields } = entry;
    try {
      validate(catalog, name, fields);
    } catch (err) {
      throw new Error(`HIL_PROJECTS_FILE ${path}: ${(err as Error).message}`, { cause: err });
    }
    // Fields the file leaves out go back to their defaults, so the file alone describes the project.
    const full: UpdateProjectBody = {
      repositories: [],
      suites: [],
      boards: [],
      pathFilters: [],
      approvalLabel: "hil-approved",
      firmwareWorkflow: null,
      issueRepository: null,
      nightly: null,
      ...fields,
    };
    const data = { ...toData(full), managedBy: "file" };
    await db.project.upsert({ where: { name }, update: data, create: { ...(data as Omit<Prisma.ProjectCreateInput, "name">), name } });
    names.push(name);
  }
  await db.project.updateMany({ where: { managedBy: "file", name: { notIn: names } }, data: { managedBy: "api" } });
  return names;
}
