import { deny, ok, type Result } from "@sigilum-gw/shared/stage";
import type { CheckContext, CheckDetail, CheckStage, Signed } from "./check.ts";

/**
 * Stage 5, claims: is ⟨namespace, public key⟩ approved for this service? The common case (an approved agent,
 * fresh snapshot) answers synchronously from memory. Otherwise: an unknown connection is a 404 (before any claims
 * lookup), then the shared snapshot is asked, and an agent without approval gets an access request filed
 * (rate-limited, deduplicated, queued) and told what happens next.
 */
export const claims: CheckStage<Signed, Signed> = (signed, ctx) => {
  const { identity } = signed;
  if (ctx.claims.approvedFromMemory(signed.service, identity.namespace, identity.publicKey))
    return ok(signed);
  return lookUp(signed, ctx);
};

async function lookUp(signed: Signed, ctx: CheckContext): Promise<Result<Signed, CheckDetail>> {
  const { service, identity, clientIp } = signed;
  const detail = { service, identity };
  if (!(await ctx.connectionKnown(service))) {
    return deny("connection_lookup", "CONNECTION_NOT_FOUND", {
      detail,
      message: `connection "${service}" not found on this gateway`,
    });
  }
  const decision = await ctx.claims.lookup(service, identity.namespace, identity.publicKey);
  if (decision === "approved") return ok(signed);
  if (decision === "unavailable") return deny("claims_cache", "AUTH_CLAIMS_UNAVAILABLE", { detail });
  if (decision === "lookup_failed") return deny("claims_lookup", "AUTH_CLAIMS_LOOKUP_FAILED", { detail });
  const submission = await ctx.submitter.submit({
    service,
    namespace: identity.namespace,
    publicKey: identity.publicKey,
    subject: identity.subject,
    ...(identity.agentId ? { agentId: identity.agentId } : {}),
    agentIp: clientIp,
  });
  if (submission.kind === "rate_limited") {
    return deny("claims_authorization", "AUTH_CLAIM_SUBMIT_RATE_LIMITED", {
      detail,
      headers: { "retry-after": String(submission.retryAfterSeconds) },
    });
  }
  if (submission.kind === "unavailable") return deny("claims_authorization", "REDIS_UNAVAILABLE", { detail });
  return deny("claims_authorization", "AUTH_CLAIM_REQUIRED", {
    detail: {
      ...detail,
      claim: {
        namespace: identity.namespace,
        subject: identity.subject,
        service,
        publicKey: identity.publicKey,
        remoteIp: clientIp,
        submission,
      },
    },
  });
}
