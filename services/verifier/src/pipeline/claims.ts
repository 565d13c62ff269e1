import type { ClaimsCache } from "../claims/cache.ts";
import type { ClaimSubmission, ClaimSubmitter, SubmitOutcome } from "../claims/submissions.ts";

/**
 * Stage 4: is ⟨namespace, public key⟩ approved for this service? If not, ask for approval (rate-limited,
 * deduplicated, queued) and tell the caller what happens next.
 */
export type ClaimStageResult =
  | { kind: "approved" }
  | { kind: "claims_unavailable" }
  | { kind: "lookup_failed" }
  | { kind: "claim_required"; submission: Exclude<SubmitOutcome, { kind: "rate_limited" | "unavailable" }> }
  | { kind: "rate_limited"; retryAfterSeconds: number }
  | { kind: "store_unavailable" };

export async function checkClaim(
  cache: ClaimsCache,
  submitter: ClaimSubmitter,
  claim: ClaimSubmission,
): Promise<ClaimStageResult> {
  if (cache.approvedFromMemory(claim.service, claim.namespace, claim.publicKey)) return { kind: "approved" };
  const decision = await cache.lookup(claim.service, claim.namespace, claim.publicKey);
  if (decision === "approved") return { kind: "approved" };
  if (decision === "unavailable") return { kind: "claims_unavailable" };
  if (decision === "lookup_failed") return { kind: "lookup_failed" };
  const submission = await submitter.submit(claim);
  if (submission.kind === "rate_limited")
    return { kind: "rate_limited", retryAfterSeconds: submission.retryAfterSeconds };
  if (submission.kind === "unavailable") return { kind: "store_unavailable" };
  return { kind: "claim_required", submission };
}
