import { parsePublicKey } from "@sigilum-gw/shared/identity";
import type { NonceStore } from "@sigilum-gw/shared/replay";
import { z } from "zod";
import type { ServiceKeyIdentity } from "../auth/service-keys.ts";
import type { Db, Queryable } from "../db/db.ts";
import type { ClaimEvents } from "../events/publisher.ts";
import { ApiError, forbidden, notFound } from "../http/errors.ts";
import { parseWith } from "../http/validate.ts";
import { ipMatchesAny } from "../net/ip-ranges.ts";
import { claimPolicy } from "../owners/claim-policy.ts";
import type { ClaimLimits } from "./limits.ts";
import { type ClaimStatus, lockNamespace, namespaceCounts, newClaimId } from "./records.ts";

const optionalTrimmed = (max: number) => z.string().trim().min(1).max(max).optional();

export const submitClaimSchema = z.object({
  namespace: z.string().min(3).max(64),
  public_key: z
    .string()
    .max(256)
    .refine((k) => parsePublicKey(k) !== null, "public_key must be ed25519:<base64 of 32 bytes>"),
  service: z.string().min(1).max(128),
  agent_ip: z.string().min(1).max(128),
  nonce: z.string().min(8).max(256),
  subject: optionalTrimmed(256),
  agent_id: optionalTrimmed(128),
  agent_name: optionalTrimmed(128),
});
export type SubmitClaimInput = z.output<typeof submitClaimSchema>;

export interface SubmitDeps {
  db: Db;
  nonces: NonceStore;
  events: ClaimEvents;
  limits: ClaimLimits;
}

export interface SubmitResult {
  status: 200 | 201;
  body: { claim_id: string; status: ClaimStatus; service: string; message: string };
}

export type RejectReason = "service_limit_reached" | "agent_limit_reached" | "max_pending_reached";

interface Decision {
  status: ClaimStatus;
  message: string;
  reason?: RejectReason;
}

/**
 * POST /v1/claims after the signature and the service key have been checked: validates the body,
 * checks the claim nonce, then records a pending, auto-approved or auto-rejected authorization.
 */
export async function submitClaim(
  deps: SubmitDeps,
  key: ServiceKeyIdentity,
  rawBody: unknown,
  opts: { namespaceOnlyBinding: boolean },
): Promise<SubmitResult> {
  const body = parseWith(submitClaimSchema, rawBody);
  if (body.service !== key.slug) {
    throw forbidden(`API key belongs to service "${key.slug}" but request is for "${body.service}"`);
  }
  let fresh: boolean;
  try {
    fresh = await deps.nonces.checkAndRecord(
      `claim:${key.serviceId}`,
      body.nonce,
      deps.limits.claimNonceTtlSeconds,
    );
  } catch {
    throw new ApiError("NONCE_STORE_UNAVAILABLE", "Nonce store unavailable");
  }
  if (!fresh) throw new ApiError("NONCE_REPLAY", "Claim nonce has already been used");

  const result = await deps.db.transaction((tx) => decide(tx, deps.limits, key, body, opts));
  if (result.body.status === "approved" && result.status === 201) await deps.events.claimsChanged(key.slug);
  return result;
}

async function decide(
  tx: Queryable,
  limits: ClaimLimits,
  key: ServiceKeyIdentity,
  body: SubmitClaimInput,
  opts: { namespaceOnlyBinding: boolean },
): Promise<SubmitResult> {
  const owner = await lockNamespace(tx, body.namespace);
  if (!owner) throw notFound(`Namespace "${body.namespace}" not found`);

  const existing = await tx.query<{ claim_id: string; status: ClaimStatus }>(
    "SELECT claim_id, status FROM authorizations WHERE namespace = $1 AND service_id = $2 AND public_key = $3",
    [body.namespace, key.serviceId, body.public_key],
  );
  const prior = existing.rows[0];
  if (prior?.status === "approved") {
    return reply(200, prior.claim_id, "approved", key.slug, "Authorization already approved for this key.");
  }
  if (prior?.status === "pending") {
    return reply(
      200,
      prior.claim_id,
      "pending",
      key.slug,
      "Authorization request already pending for this key.",
    );
  }

  // A decided claim (revoked, rejected, expired) is replaced by the new request: keep it in the history first.
  if (prior) {
    await tx.query(
      "INSERT INTO authorization_history SELECT * FROM authorizations WHERE claim_id = $1 ON CONFLICT DO NOTHING",
      [prior.claim_id],
    );
  }

  let subject = body.subject ?? null;
  let agentName = body.agent_name ?? null;
  // Backward compatibility: older gateways sent the caller's subject as agent_name.
  if (subject === null && opts.namespaceOnlyBinding && agentName !== null) {
    subject = agentName;
    agentName = null;
  }

  const policy = claimPolicy(owner.settings);
  const counts = await namespaceCounts(tx, body.namespace, key.serviceId);
  const decision = decideStatus(limits, counts, policy, key.slug, body.agent_ip);
  const claimId = newClaimId();
  await tx.query(
    `INSERT INTO authorizations
       (namespace, service_id, service, public_key, claim_id, agent_ip, status, subject, agent_id, agent_name,
        created_at, approved_at, revoked_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), CASE WHEN $7 = 'approved' THEN now() END, NULL)
     ON CONFLICT (namespace, service_id, public_key) DO UPDATE SET
       claim_id = EXCLUDED.claim_id, agent_ip = EXCLUDED.agent_ip, status = EXCLUDED.status,
       subject = EXCLUDED.subject, agent_id = EXCLUDED.agent_id, agent_name = EXCLUDED.agent_name,
       created_at = EXCLUDED.created_at, approved_at = EXCLUDED.approved_at, revoked_at = NULL`,
    [
      body.namespace,
      key.serviceId,
      key.slug,
      body.public_key,
      claimId,
      body.agent_ip,
      decision.status,
      subject,
      body.agent_id ?? null,
      agentName,
    ],
  );
  return reply(201, claimId, decision.status, key.slug, decision.message);
}

export function decideStatus(
  limits: ClaimLimits,
  counts: { approvedForService: number; connectedServices: number; pending: number },
  policy: ReturnType<typeof claimPolicy>,
  serviceSlug: string,
  agentIp: string,
): Decision {
  const newService = counts.approvedForService === 0;
  const serviceLimitHit = newService && counts.connectedServices >= limits.maxConnectedServicesPerNamespace;
  if (serviceLimitHit) {
    return {
      status: "rejected",
      reason: "service_limit_reached",
      message: `Auto-rejected: namespace owner allows up to ${limits.maxConnectedServicesPerNamespace} service connections (${counts.connectedServices} currently connected).`,
    };
  }
  if (counts.approvedForService >= limits.maxApprovedAgentsPerService) {
    return {
      status: "rejected",
      reason: "agent_limit_reached",
      message: `Auto-rejected: namespace owner allows up to ${limits.maxApprovedAgentsPerService} agents per service (${counts.approvedForService} currently approved).`,
    };
  }
  if (policy.maxPendingLimit && counts.pending >= limits.maxPendingAuthorizations) {
    return {
      status: "rejected",
      reason: "max_pending_reached",
      message: `Auto-rejected: namespace owner has reached the maximum of ${limits.maxPendingAuthorizations} pending requests. Existing requests must be reviewed first.`,
    };
  }
  const trusted =
    (policy.autoApproveTrusted && policy.trustedServices.includes(serviceSlug)) ||
    (policy.autoApproveIP && ipMatchesAny(agentIp, policy.trustedIPRanges));
  if (trusted) return { status: "approved", message: "Auto-approved by namespace owner's policy rules." };
  return { status: "pending", message: "Access request submitted. Awaiting namespace owner approval." };
}

function reply(
  status: 200 | 201,
  claimId: string,
  claimStatus: ClaimStatus,
  service: string,
  message: string,
) {
  return { status, body: { claim_id: claimId, status: claimStatus, service, message } };
}
