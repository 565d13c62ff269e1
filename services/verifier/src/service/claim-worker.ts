import type { Worker } from "bullmq";
import { startClaimWorker } from "../claims/submissions.ts";
import type { ClaimsDeps } from "./claims.ts";

/** The claim-submission worker of this process, its results counted and logged. */
export function startSubmissionWorker(
  deps: ClaimsDeps & { log: ((event: string, fields: Record<string, unknown>) => void) | undefined },
): Worker {
  const { config, metrics, logger, log } = deps;
  return startClaimWorker({
    connection: deps.clients.worker,
    store: deps.clients.redis,
    failureTtlSeconds: Math.max(config.submissions.dedupeSeconds, 30),
    keys: deps.keys,
    registryUrl: config.registryUrl,
    identity: deps.identity,
    apiKeyFor: deps.apiKeyFor,
    timeoutMs: config.claims.feedTimeoutMs,
    onResult(claim, result) {
      const fields = { connection: claim.service, namespace: claim.namespace, subject: claim.subject };
      if ("error" in result) {
        metrics.claimSubmissions.inc({ result: result.final ? "failed" : "retry" });
        if (result.final)
          logger.warn(
            { ...fields, error: result.error },
            "claim submission failed: no owner can approve this agent yet",
          );
        log?.("proxy_claim_submit", {
          ...fields,
          decision: "error",
          reason_code: "CLAIM_SUBMIT_FAILED",
          error: result.error,
          final: result.final,
        });
      } else {
        metrics.claimSubmissions.inc({ result: "recorded" });
        log?.("proxy_claim_submit", {
          ...fields,
          claim_id: result.claimId,
          claim_status: result.status,
          http_status: result.httpStatus,
          reason_code: result.code,
        });
      }
    },
  });
}
