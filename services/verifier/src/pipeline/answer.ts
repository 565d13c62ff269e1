import type { ServerResponse } from "node:http";
import { ALLOW_HEADERS } from "@sigilum-gw/shared/ext-authz";
import { SIGNING_HEADERS } from "@sigilum-gw/shared/http-signatures";
import type { SubmitOutcome } from "../claims/submissions.ts";

/**
 * The allow answer Envoy (or the proxy in inline mode) acts on: 200, with identity headers that Envoy copies
 * upstream (`allowed_upstream_headers`) and the signing headers it must strip. Denials are written by errors.ts;
 * the claim-required Markdown is built here.
 */

export const HEADERS_TO_REMOVE_HEADER = "x-envoy-auth-headers-to-remove";

export interface AllowIdentity {
  namespace: string;
  subject: string;
  keyId: string;
  publicKey: string;
  agentId?: string;
}

/** headers-to-remove values keyed by which identity headers are missing (bit i = ALLOW_HEADERS[i]), ≤ 128. */
const removeValues = new Map<number, string>();

function headersToRemove(missing: number): string {
  let value = removeValues.get(missing);
  if (value === undefined) {
    value = [...SIGNING_HEADERS, ...ALLOW_HEADERS.filter((_, i) => missing & (1 << i))].join(", ");
    removeValues.set(missing, value);
  }
  return value;
}

/**
 * Allow: 200, empty body. Identity headers that do not apply (bypass, no agent id) are named in
 * headers-to-remove so a value the agent sent itself can never reach the proxy.
 */
export function writeAllow(
  res: ServerResponse,
  identity: AllowIdentity | null,
  requestId: string,
  authzToken: string,
): void {
  // In ALLOW_HEADERS order.
  const values = [
    identity?.namespace,
    identity?.subject,
    identity?.keyId,
    identity?.publicKey,
    identity?.agentId,
    requestId,
    authzToken,
  ];
  // One writeHead with a flat list: the hot path's cheapest way to emit ~10 headers.
  const headers: string[] = [];
  let missing = 0;
  for (let i = 0; i < ALLOW_HEADERS.length; i++) {
    const value = values[i];
    if (value) headers.push(ALLOW_HEADERS[i] as string, value);
    else missing |= 1 << i;
  }
  headers.push(
    HEADERS_TO_REMOVE_HEADER,
    headersToRemove(missing),
    "x-request-id",
    requestId,
    "content-length",
    "0",
  );
  res.writeHead(200, headers);
  res.end();
}

export interface ClaimRequiredContext {
  namespace: string;
  subject: string;
  service: string;
  publicKey: string;
  remoteIp: string;
  submission: Exclude<SubmitOutcome, { kind: "rate_limited" | "unavailable" }>;
}

function inline(value: string, max?: number): string {
  let text = value
    .trim()
    .replaceAll("`", "'")
    .replace(/[\r\n]+/g, " ");
  if (max !== undefined && text.length > max) text = `${text.slice(0, max)}...`;
  return text || "(unknown)";
}

const NEXT_STEP_PENDING =
  "Namespace owner approval is required now. Ask the user to approve/re-approve this agent key for the service, then retry.";
const NEXT_STEP_DISABLED =
  "Review access policy and ask the user to approve/re-approve the claim before retrying.";

/** The Sigilum gateway's AUTH_CLAIM_REQUIRED Markdown (spec/gateway.md §4.4); the claim is queued, not awaited. */
export function claimRequiredMarkdown(ctx: ClaimRequiredContext): string {
  const submission = ctx.submission;
  const registration =
    submission.kind === "queued"
      ? [
          "- Auto-registration mode: `enabled` (gateway)",
          "- Claim submit result: `queued`",
          `- Claim request: \`${inline(submission.jobId)}\``,
          "- Claim state: `pending`",
        ].join("\n")
      : submission.kind === "failed"
        ? [
            "- Auto-registration mode: `enabled` (gateway)",
            `- Claim submit result: \`failed\` (control plane answered HTTP ${submission.httpStatus} \`${inline(submission.code)}\`)`,
            "- Claim state: `not registered`",
          ].join("\n")
        : "- Auto-registration mode: `disabled`";
  const nextStep =
    submission.kind === "queued"
      ? NEXT_STEP_PENDING
      : submission.kind === "failed"
        ? `The gateway could not file the access request (${inline(submission.code)}), so no owner can approve it yet. ` +
          "Tell the gateway operator: the gateway's logs name the cause (e.g. SIGNATURE_NAMESPACE_MISMATCH: the agent " +
          "and the gateway are in different namespaces)."
        : NEXT_STEP_DISABLED;
  return `# HTTP 403 AUTH_CLAIM_REQUIRED: Sigilum Authorization Required

~~~text
+--------------------------------------------------------------------------+
|  /!\\  SECURE ACCESS BLOCKED                                              |
|                                                                          |
|  Sigilum verified your signature, but this key is not approved for       |
|  the target service yet. This block protects service credentials and      |
|  prevents unauthorized tool or API execution.                            |
|                                                                          |
|  IMPORTANT: this can happen for first-time access OR when a previous     |
|  approval was revoked/expired. Treat as "authorization required now".    |
+--------------------------------------------------------------------------+
~~~

## Request Context
- Namespace: ${inline(ctx.namespace)}
- Subject: ${inline(ctx.subject)}
- Service: ${inline(ctx.service)}
- Agent key: ${inline(ctx.publicKey, 96)}
- Remote IP: ${inline(ctx.remoteIp)}

## Authorization Registration
${registration}

## Why this matters
Sigilum is intentionally fail-closed here. Only approved keys can use service credentials.

## Authorization Interpretation
- Gateway returned HTTP 403 AUTH_CLAIM_REQUIRED.
- This means this key currently has **no active approval** for this service.
- Prior approval might have been revoked/expired, so re-approval can be required.

## Agent Instruction
- Do **not** report this as a gateway restart bug.
- Tell the user authorization is required now and ask them to approve/re-approve this agent key.
- After user approval, retry the same request.

## Next Step
${nextStep}`;
}
