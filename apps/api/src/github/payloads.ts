/**
 * The parts of GitHub webhook payloads the integration reads, as zod schemas. Unknown fields are ignored (GitHub
 * adds fields over time); a missing field we need is a 400 naming it.
 * @see https://docs.github.com/en/webhooks/webhook-events-and-payloads
 */
import { z } from "zod";

const Repository = z.object({ full_name: z.string(), default_branch: z.string().optional() });
const Installation = z.object({ id: z.number().int() }).optional();
const User = z.object({ login: z.string() });

export const PushEvent = z.object({
  ref: z.string(),
  before: z.string(),
  after: z.string(),
  created: z.boolean().default(false),
  deleted: z.boolean().default(false),
  repository: Repository,
  installation: Installation,
  commits: z
    .array(
      z.object({
        id: z.string(),
        added: z.array(z.string()).default([]),
        removed: z.array(z.string()).default([]),
        modified: z.array(z.string()).default([]),
      }),
    )
    .default([]),
});
export type PushEvent = z.infer<typeof PushEvent>;

export const PullRequestEvent = z.object({
  action: z.string(),
  number: z.number().int(),
  // On synchronize: the head the push replaced (GitHub's own order, whatever the clocks say).
  before: z.string().optional(),
  pull_request: z.object({
    head: z.object({ sha: z.string(), ref: z.string(), repo: Repository.nullable() }),
    base: z.object({ sha: z.string(), ref: z.string(), repo: Repository }),
    labels: z.array(z.object({ name: z.string() })).default([]),
    // When GitHub last changed the pull request: orders deliveries that arrive late or are redelivered.
    updated_at: z.string().optional(),
    merged: z.boolean().nullable().optional(),
  }),
  label: z.object({ name: z.string() }).optional(),
  repository: Repository,
  installation: Installation,
  sender: User,
});
export type PullRequestEvent = z.infer<typeof PullRequestEvent>;

export const MergeGroupEvent = z.object({
  action: z.string(),
  merge_group: z.object({ head_sha: z.string(), head_ref: z.string(), base_sha: z.string(), base_ref: z.string() }),
  repository: Repository,
  installation: Installation,
});
export type MergeGroupEvent = z.infer<typeof MergeGroupEvent>;

export const IssueCommentEvent = z.object({
  action: z.string(),
  issue: z.object({ number: z.number().int(), pull_request: z.object({}).passthrough().optional() }),
  comment: z.object({ body: z.string(), user: User, author_association: z.string().optional() }),
  repository: Repository,
  installation: Installation,
});
export type IssueCommentEvent = z.infer<typeof IssueCommentEvent>;

export const WorkflowRunEvent = z.object({
  action: z.string(),
  workflow_run: z.object({
    id: z.number().int(),
    name: z.string(),
    head_sha: z.string(),
    head_branch: z.string().nullable().optional(),
    conclusion: z.string().nullable(),
  }),
  repository: Repository,
  installation: Installation,
});
export type WorkflowRunEvent = z.infer<typeof WorkflowRunEvent>;

export const PingEvent = z.object({ zen: z.string().optional(), hook_id: z.number().optional() });

/** Events the receiver acts on; any other event is acknowledged and ignored. */
export const eventSchemas = {
  ping: PingEvent,
  push: PushEvent,
  pull_request: PullRequestEvent,
  merge_group: MergeGroupEvent,
  issue_comment: IssueCommentEvent,
  workflow_run: WorkflowRunEvent,
} as const;
export type HandledEvent = keyof typeof eventSchemas;
export const isHandledEvent = (e: string): e is HandledEvent => Object.hasOwn(eventSchemas, e);
