import { Router } from "express";
import { requireOwner } from "../auth/owner-auth.ts";
import { requireServiceKey } from "../auth/service-key-auth.ts";
import { consumeNonce, verifySignature } from "../auth/signed-request.ts";
import { approveClaim, getClaim, rejectClaim, revokeClaim } from "../claims/moderate.ts";
import { submitClaim } from "../claims/submit.ts";
import type { AppDeps } from "../deps.ts";
import { isPlainObject, jsonBody, tryJsonBody } from "../http/validate.ts";

const stringField = (body: unknown, key: string): string | undefined => {
  const v = isPlainObject(body) ? body[key] : undefined;
  return typeof v === "string" ? v : undefined;
};

/** /v1/claims*: submit (signed + service key) and the owner's moderation routes (owner JWT). */
export function claimsRouter(deps: AppDeps): Router {
  const r = Router();
  const { db } = deps;

  r.post("/v1/claims", async (req, res) => {
    const parsed = tryJsonBody(req);
    const body = parsed.ok ? parsed.value : undefined;
    const namespaceOnly =
      String(req.headers["x-sigilum-claim-binding"] ?? "")
        .trim()
        .toLowerCase() === "namespace-only";
    const signer = verifySignature(req, deps.signed, {
      namespace: stringField(body, "namespace"),
      publicKey: namespaceOnly ? undefined : stringField(body, "public_key"),
    });
    const key = await requireServiceKey(req, db, "submit");
    await consumeNonce(deps.signed, signer);
    const result = await submitClaim(deps, key, jsonBody(req), { namespaceOnlyBinding: namespaceOnly });
    if (result.status === 201) {
      const { claim_id, status } = result.body;
      if (status === "pending") await deps.webhookEvents.claim("request.submitted", claim_id);
      if (status === "approved")
        await deps.webhookEvents.claim("request.approved", claim_id, { auto_approved: true });
      if (status === "rejected")
        await deps.webhookEvents.claim("request.rejected", claim_id, { auto_rejected: true });
    }
    res.status(result.status).json(result.body);
  });

  r.get("/v1/claims/:claimId", async (req, res) => {
    const owner = await requireOwner(req, deps);
    res.json(await getClaim(db, owner, req.params.claimId));
  });

  r.post("/v1/claims/:claimId/approve", async (req, res) => {
    const owner = await requireOwner(req, deps);
    const approved = await approveClaim(deps, owner, req.params.claimId);
    await deps.webhookEvents.claim("request.approved", approved.claim_id);
    res.json(approved);
  });

  r.post("/v1/claims/:claimId/reject", async (req, res) => {
    const owner = await requireOwner(req, deps);
    const rejected = await rejectClaim(deps, owner, req.params.claimId);
    await deps.webhookEvents.claim("request.rejected", rejected.claim_id);
    res.json(rejected);
  });

  r.post("/v1/claims/:claimId/revoke", async (req, res) => {
    const owner = await requireOwner(req, deps);
    const revoked = await revokeClaim(deps, owner, req.params.claimId);
    await deps.webhookEvents.claim("request.revoked", revoked.claim_id);
    res.json(revoked);
  });

  return r;
}
