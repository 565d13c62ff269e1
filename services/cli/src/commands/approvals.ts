import { type Command, Option } from "commander";
import { z } from "zod";
import type { CliContext } from "../context.ts";
import { CliError } from "../errors.ts";
import { ApiCallError } from "../lib/http.ts";
import { explainApiError, type OwnerSession, openOwnerSession } from "../lib/owner-session.ts";
import { emit, keyValues, table } from "../output.ts";

/**
 * `sigilum approvals list | approve | deny | revoke`: the namespace owner's decisions on agents' access requests
 * (claims, spec §A.6). `deny` is the control plane's `reject`.
 */

const CLAIM_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
const STATUSES = ["pending", "approved", "rejected", "revoked", "expired"] as const;

const claimSchema = z
  .object({
    claim_id: z.string(),
    namespace: z.string(),
    service: z.string(),
    public_key: z.string(),
    agent_ip: z.string().nullable().optional(),
    subject: z.string().nullable().optional(),
    agent_id: z.string().nullable().optional(),
    agent_name: z.string().nullable().optional(),
    status: z.string(),
    created_at: z.string().nullable().optional(),
    approved_at: z.string().nullable().optional(),
    revoked_at: z.string().nullable().optional(),
  })
  .loose();

const listSchema = z.object({
  claims: z.array(claimSchema),
  pagination: z
    .object({ limit: z.number(), offset: z.number(), total: z.number(), has_more: z.boolean() })
    .loose(),
});

interface SessionFlags {
  namespace?: string;
  apiUrl?: string;
  token?: string;
  json?: boolean;
}

function withSessionOptions(command: Command): Command {
  return command
    .option("--namespace <namespace>", "owner namespace (default: $SIGILUM_NAMESPACE or the only identity)")
    .option("--api-url <url>", "control plane URL (default: the local stack)")
    .option("--token <jwt>", "namespace-owner token (default: the stored one)")
    .option("--json", "print JSON");
}

const shortKey = (key: string) => (key.length > 24 ? `${key.slice(0, 20)}...` : key);

async function list(
  ctx: CliContext,
  opts: SessionFlags & { status: string; all?: boolean; service?: string; limit: string; offset: string },
): Promise<void> {
  const limit = Number(opts.limit);
  const offset = Number(opts.offset);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new CliError("--limit must be 1-200");
  if (!Number.isInteger(offset) || offset < 0) throw new CliError("--offset must be 0 or more");
  const session = await openOwnerSession(ctx, opts);
  const query = new URLSearchParams({ limit: String(limit), offset: String(offset) });
  if (!opts.all) query.set("status", opts.status);
  if (opts.service) query.set("service", opts.service);
  const body = await session.api
    .call(
      { method: "GET", path: `/v1/namespaces/${encodeURIComponent(session.namespace)}/claims?${query}` },
      "Listing approvals",
    )
    .catch((e) => explainApiError(e, session));
  const parsed = listSchema.safeParse(body);
  if (!parsed.success) throw new CliError("The control plane answered an unexpected claim list");
  const { claims, pagination } = parsed.data;
  emit(
    ctx,
    opts.json,
    { command: "approvals list", namespace: session.namespace, claims, pagination },
    () => {
      if (claims.length === 0) {
        return [
          opts.all
            ? `No access requests for namespace "${session.namespace}".`
            : `No ${opts.status} access requests for namespace "${session.namespace}".`,
        ];
      }
      return [
        ...table(
          ["CLAIM", "STATUS", "SERVICE", "SUBJECT", "AGENT KEY", "CREATED"],
          claims.map((c) => [
            c.claim_id,
            c.status,
            c.service,
            c.subject ?? "-",
            shortKey(c.public_key),
            c.created_at ?? "-",
          ]),
        ),
        ...(pagination.has_more
          ? [`(${pagination.total} in all; next page: --offset ${offset + limit})`]
          : []),
        ...(claims.some((c) => c.status === "pending")
          ? ["", "Approve with: sigilum approvals approve <claim>"]
          : []),
      ];
    },
  );
}

type Decision = "approve" | "deny" | "revoke";

const DECISIONS: Record<Decision, { path: string; past: string; state: string }> = {
  approve: { path: "approve", past: "approved", state: "pending" },
  deny: { path: "reject", past: "denied", state: "pending" },
  revoke: { path: "revoke", past: "revoked", state: "approved" },
};

async function decide(
  ctx: CliContext,
  decision: Decision,
  claimId: string,
  opts: SessionFlags,
): Promise<void> {
  if (!CLAIM_ID_RE.test(claimId)) throw new CliError(`Invalid claim id ${JSON.stringify(claimId)}`);
  const session: OwnerSession = await openOwnerSession(ctx, opts);
  const what = DECISIONS[decision];
  let body: unknown;
  try {
    body = await session.api.call(
      { method: "POST", path: `/v1/claims/${encodeURIComponent(claimId)}/${what.path}`, accept: [200] },
      `${decision[0]?.toUpperCase()}${decision.slice(1)} ${claimId}`,
    );
  } catch (error) {
    if (error instanceof ApiCallError && error.status === 404) {
      throw new CliError(`${error.message}`, {
        hint: `Only ${what.state} requests can be ${what.past}. See them with \`sigilum approvals list${what.state === "approved" ? " --status approved" : ""}\`.`,
      });
    }
    explainApiError(error, session);
  }
  const result = z.object({ claim_id: z.string(), status: z.string() }).loose().safeParse(body);
  if (!result.success) throw new CliError("The control plane answered an unexpected document");
  emit(ctx, opts.json, { command: `approvals ${decision}`, ...result.data }, () => [
    `Access request ${result.data.claim_id} ${what.past}.`,
    ...keyValues([["status", result.data.status]]),
  ]);
}

export function registerApprovalCommands(program: Command, ctx: CliContext): void {
  const approvals = program
    .command("approvals")
    .description("agents' access requests: list, approve, deny, revoke");
  withSessionOptions(
    approvals
      .command("list")
      .description("list access requests (pending by default)")
      .addOption(new Option("--status <status>", "which requests").choices(STATUSES).default("pending"))
      .option("--all", "every status")
      .option("--service <slug>", "only this service")
      .option("--limit <n>", "page size (1-200)", "50")
      .option("--offset <n>", "skip this many", "0"),
  ).action((opts) => list(ctx, opts));
  for (const decision of ["approve", "deny", "revoke"] as const) {
    withSessionOptions(
      approvals
        .command(decision)
        .description(
          decision === "approve"
            ? "approve a pending request: the agent's key may use the service"
            : decision === "deny"
              ? "deny a pending request"
              : "revoke an approval: the agent's key loses access",
        )
        .argument("<claim>", "claim id (from `sigilum approvals list`)"),
    ).action((claimId: string, opts: SessionFlags) => decide(ctx, decision, claimId, opts));
  }
}
