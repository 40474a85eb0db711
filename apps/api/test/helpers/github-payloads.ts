/**
 * Webhook payloads shaped like GitHub's (trimmed to a realistic subset of fields, unknown ones included), for the
 * receiver tests. @see https://docs.github.com/en/webhooks/webhook-events-and-payloads
 */
import { createHash } from "node:crypto";

export const sha = (seed: string) => createHash("sha1").update(seed).digest("hex");

const repository = (fullName: string) => {
  const [owner, name] = fullName.split("/");
  return {
    id: 40_000_000 + fullName.length,
    node_id: "MDEwOlJlcG9zaXRvcnkx",
    name,
    full_name: fullName,
    private: false,
    owner: { login: owner, id: 1, type: "Organization" },
    html_url: `https://github.com/${fullName}`,
    fork: fullName !== "tock/tock",
    default_branch: "master",
  };
};
const installation = { id: 4242, node_id: "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI0Mg==" };
const user = (login: string) => ({ login, id: login.length * 1000, type: "User", site_admin: false });

export function pushPayload(options: { ref?: string; before?: string; after: string; files: string[]; repo?: string }) {
  const repo = options.repo ?? "tock/tock";
  return {
    ref: options.ref ?? "refs/heads/master",
    before: options.before ?? sha("before"),
    after: options.after,
    repository: repository(repo),
    pusher: { name: "bradjc", email: "brad@example.org" },
    sender: user("bradjc"),
    installation,
    created: false,
    deleted: false,
    forced: false,
    base_ref: null,
    compare: `https://github.com/${repo}/compare/abc...def`,
    commits: [
      {
        id: options.after,
        tree_id: sha(`tree-${options.after}`),
        distinct: true,
        message: "capsules: ieee802154: fix ack handling",
        timestamp: "2026-11-24T21:03:00+01:00",
        author: { name: "Brad", email: "brad@example.org", username: "bradjc" },
        added: [],
        removed: [],
        modified: options.files,
      },
    ],
    head_commit: { id: options.after, message: "capsules: ieee802154: fix ack handling" },
  };
}

export function pullRequestPayload(options: {
  action: "opened" | "synchronize" | "reopened" | "labeled" | "closed";
  number: number;
  headSha: string;
  baseSha: string;
  fork: boolean;
  label?: string;
  sender?: string;
  /** When GitHub changed the pull request (default: now). */
  updatedAt?: string;
  merged?: boolean;
  /** synchronize: the head the push replaced. */
  before?: string;
}) {
  const headRepo = options.fork ? "contributor/tock" : "tock/tock";
  return {
    action: options.action,
    number: options.number,
    ...(options.before ? { before: options.before, after: options.headSha } : {}),
    pull_request: {
      url: `https://api.github.com/repos/tock/tock/pulls/${options.number}`,
      id: 2_000_000 + options.number,
      number: options.number,
      state: "open",
      title: "nrf52: radio driver improvements",
      user: user(options.fork ? "contributor" : "bradjc"),
      draft: false,
      head: {
        label: `${headRepo.split("/")[0]}:radio`,
        ref: "radio",
        sha: options.headSha,
        user: user("contributor"),
        repo: repository(headRepo),
      },
      base: { label: "tock:master", ref: "master", sha: options.baseSha, user: user("tock"), repo: repository("tock/tock") },
      labels: options.label ? [{ id: 7, name: options.label, color: "0e8a16" }] : [],
      author_association: options.fork ? "CONTRIBUTOR" : "MEMBER",
      updated_at: options.updatedAt ?? new Date().toISOString(),
      merged: options.merged ?? false,
    },
    ...(options.label ? { label: { id: 7, name: options.label, color: "0e8a16" } } : {}),
    repository: repository("tock/tock"),
    sender: user(options.sender ?? (options.fork ? "contributor" : "bradjc")),
    installation,
  };
}

export function issueCommentPayload(options: { number: number; body: string; login: string; association: string }) {
  return {
    action: "created",
    issue: {
      number: options.number,
      title: "nrf52: radio driver improvements",
      state: "open",
      pull_request: { url: `https://api.github.com/repos/tock/tock/pulls/${options.number}` },
    },
    comment: { id: 99, body: options.body, user: user(options.login), author_association: options.association },
    repository: repository("tock/tock"),
    sender: user(options.login),
    installation,
  };
}

export function mergeGroupPayload(options: { headSha: string; baseSha: string }) {
  return {
    action: "checks_requested",
    merge_group: {
      head_sha: options.headSha,
      head_ref: `refs/heads/gh-readonly-queue/master/pr-4321-${options.baseSha}`,
      base_sha: options.baseSha,
      base_ref: "refs/heads/master",
      head_commit: { id: options.headSha, message: "Merge pull request #4321" },
    },
    repository: repository("tock/tock"),
    sender: user("github-merge-queue[bot]"),
    installation,
  };
}

export function workflowRunPayload(options: { name: string; headSha: string; conclusion: "success" | "failure" }) {
  return {
    action: "completed",
    workflow_run: {
      id: 123456789,
      name: options.name,
      head_branch: "master",
      head_sha: options.headSha,
      event: "push",
      status: "completed",
      conclusion: options.conclusion,
      run_number: 77,
      html_url: "https://github.com/tock/tock/actions/runs/123456789",
    },
    workflow: { id: 5, name: options.name, path: ".github/workflows/hil-firmware.yml" },
    repository: repository("tock/tock"),
    sender: user("bradjc"),
    installation,
  };
}

export const pingPayload = {
  zen: "Design for failure.",
  hook_id: 12345,
  hook: {
    type: "App",
    id: 12345,
    events: ["push", "pull_request"],
    active: true,
    config: { content_type: "json", url: "https://hil.example.org" },
  },
};
