import { Router } from "express";
import { requireOwner, requireOwnNamespace } from "../auth/owner-auth.ts";
import { requireServiceKey } from "../auth/service-key-auth.ts";
import { consumeNonce, requireSignature, verifySignature } from "../auth/signed-request.ts";
import {
  approvedClaimsFeed,
  feedQuerySchema,
  listNamespaceClaims,
  namespaceClaimsQuerySchema,
  verifyAuthorization,
  verifyQuerySchema,
} from "../claims/queries.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError } from "../http/errors.ts";
import { parseQuery } from "../http/validate.ts";
import { namespaceInfo } from "../owners/namespace-info.ts";
import { NAMESPACE_MIXED_RE } from "../owners/owners.ts";
import { usageQuerySchema, usageSummary } from "../usage/summary.ts";
import { timelineQuerySchema, usageTimeline } from "../usage/timeline.ts";

/** /v1/namespaces*, /v1/verify: the claims feed, the owner's claim and usage views, namespace lookups. */
export function namespacesRouter(deps: AppDeps): Router {
  const r = Router();
  const { db } = deps;

  // The approved-claims feed gateways poll: any signer, plus the service key. Before /:namespace.
  r.get("/v1/namespaces/claims", async (req, res) => {
    const signer = verifySignature(req, deps.signed);
    const key = await requireServiceKey(req, db, "feed");
    await consumeNonce(deps.signed, signer);
    const q = parseQuery(req, feedQuerySchema);
    res.json(await approvedClaimsFeed(db, key, q));
  });

  r.get("/v1/namespaces/:namespace/claims", async (req, res) => {
    const owner = await requireOwner(req, deps);
    requireOwnNamespace(owner, req.params.namespace);
    const q = parseQuery(req, namespaceClaimsQuerySchema);
    res.json(await listNamespaceClaims(db, owner.namespace, q));
  });

  r.get("/v1/namespaces/:namespace/usage", async (req, res) => {
    const owner = await requireOwner(req, deps);
    requireOwnNamespace(owner, req.params.namespace);
    const q = parseQuery(req, usageQuerySchema);
    res.json(await usageSummary(db, owner.namespace, q));
  });

  r.get("/v1/namespaces/:namespace/usage/timeline", async (req, res) => {
    const owner = await requireOwner(req, deps);
    requireOwnNamespace(owner, req.params.namespace);
    res.json(await usageTimeline(db, owner.namespace, parseQuery(req, timelineQuerySchema)));
  });

  r.get("/v1/namespaces/:namespace", async (req, res) => {
    const { namespace } = req.params;
    if (!NAMESPACE_MIXED_RE.test(namespace)) {
      throw new ApiError("VALIDATION_ERROR", "Invalid namespace format");
    }
    await requireSignature(req, deps.signed, { namespace });
    const info = await namespaceInfo(db, namespace);
    res.setHeader("Cache-Control", "private, max-age=300");
    res.json(info);
  });

  r.get("/v1/verify", async (req, res) => {
    const q = parseQuery(req, verifyQuerySchema);
    await requireSignature(req, deps.signed, { namespace: q.namespace });
    res.json(await verifyAuthorization(db, q));
  });

  return r;
}
